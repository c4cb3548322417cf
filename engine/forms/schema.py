"""Task forms: JSON Schema (draft 2020-12) documents with Kyzmat's ``x-`` conventions.

See docs/modelling.md, section "Forms". This module loads and checks form schemas,
flattens them into :class:`Field` objects for the renderer, turns an HTML form post into
typed data and validates it, with error messages in Kyrgyz, Russian or English.

Framework-free: the web app passes a werkzeug ``MultiDict`` (or a plain dict of lists).

Typical request cycle::

    schema = load_form(forms_dir, relpath)
    view = fields(schema, lang, task_data)                        # GET: render
    typed = coerce_form(schema, request.form, context=task_data)  # POST
    clean, errors = validate(schema, typed, lang, context=task_data)
    if errors: re-render with form_values(schema, typed) and errors
    else:      merge clean into the task data
"""

from __future__ import annotations

import copy
import json
import math
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import ValidationError, best_match

__all__ = [
    "LANGS",
    "KNOWN_WIDGETS",
    "FormNotFound",
    "Field",
    "load_form",
    "check_form_schema",
    "label",
    "help_text",
    "enum_label",
    "field_kind",
    "html_value",
    "resolve_enum_from",
    "fields",
    "coerce_form",
    "form_values",
    "visible_data",
    "validate",
]

LANGS = ("ky", "ru", "en")

# x-widget values the renderer understands, and the field kinds each one may go on.
_WIDGET_KINDS: dict[str, frozenset[str]] = {
    "textarea": frozenset({"textarea"}),
    "radio": frozenset({"choice", "boolean"}),
    "select": frozenset({"choice"}),
    "checkboxes": frozenset({"multichoice"}),
    "checkbox": frozenset({"boolean"}),
    "file": frozenset({"file", "files"}),
}
KNOWN_WIDGETS = frozenset(_WIDGET_KINDS)

# Widget used when the schema names none.
_DEFAULT_WIDGET = {"choice": "select", "multichoice": "checkboxes", "boolean": "radio"}

_KNOWN_X_KEYS = frozenset(
    {"x-label", "x-help", "x-widget", "x-enum-labels", "x-enum-from", "x-show-if", "x-date-not-before"}
)

_TRUE = frozenset({"yes", "true", "on", "1"})
_FALSE = frozenset({"no", "false", "off", "0"})

_BOOL_LABELS = {
    True: {"ky": "Ооба", "ru": "Да", "en": "Yes"},
    False: {"ky": "Жок", "ru": "Нет", "en": "No"},
}

_JSON_TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object", "null"})

_FORMAT_CHECKER = FormatChecker(formats=("date",))


class FormNotFound(Exception):
    """The form file does not exist or its path leaves the forms directory."""


# --------------------------------------------------------------------------- loading

_cache: dict[Path, tuple[int, int, dict]] = {}
_cache_lock = threading.Lock()


def load_form(forms_dir: Path, relpath: str) -> dict:
    """Read and parse ``forms_dir/relpath``.

    Raises :class:`FormNotFound` for a missing file or a path that is absolute, contains
    ``..`` or resolves (through symlinks) outside ``forms_dir``; ``ValueError`` (including
    ``json.JSONDecodeError``) when the file is not a JSON object. Parsed files are cached
    by (path, mtime, size); each call returns a fresh deep copy, so callers may mutate it.
    """
    rel = str(relpath or "")
    parts = re.split(r"[\\/]", rel)
    if (
        not rel.strip()
        or "\x00" in rel
        or rel.startswith(("/", "\\"))
        or Path(rel).is_absolute()
        or re.match(r"^[A-Za-z]:", rel)
        or ".." in parts
    ):
        raise FormNotFound(relpath)
    base = Path(forms_dir).resolve()
    path = (base / rel).resolve()
    if not path.is_relative_to(base) or path == base:
        raise FormNotFound(relpath)
    try:
        st = path.stat()
    except OSError as exc:
        raise FormNotFound(relpath) from exc
    if not path.is_file():
        raise FormNotFound(relpath)
    with _cache_lock:
        hit = _cache.get(path)
    if hit is not None and hit[0] == st.st_mtime_ns and hit[1] == st.st_size:
        return copy.deepcopy(hit[2])
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise FormNotFound(relpath) from exc
    schema = json.loads(text)
    if not isinstance(schema, dict):
        raise ValueError(f"{relpath}: a form must be a JSON object")
    with _cache_lock:
        _cache[path] = (st.st_mtime_ns, st.st_size, schema)
    return copy.deepcopy(schema)


# --------------------------------------------------------------------------- labels


def _lang(lang: str) -> str:
    return lang if lang in LANGS else "ky"


def _pick(texts: Any, lang: str) -> str:
    """texts[lang] -> texts['ky'] (a plain string counts for every language)."""
    if isinstance(texts, str):
        return texts
    if isinstance(texts, Mapping):
        for key in (_lang(lang), "ky"):
            value = texts.get(key)
            if isinstance(value, str) and value:
                return value
    return ""


def label(node: dict, lang: str) -> str:
    """x-label[lang] -> x-label['ky'] -> title -> ''."""
    if not isinstance(node, Mapping):
        return ""
    return _pick(node.get("x-label"), lang) or (
        node.get("title") if isinstance(node.get("title"), str) else ""
    )


def help_text(node: dict, lang: str) -> str:
    """x-help[lang] -> x-help['ky'] -> description -> ''."""
    if not isinstance(node, Mapping):
        return ""
    desc = node.get("description")
    return _pick(node.get("x-help"), lang) or (desc if isinstance(desc, str) else "")


def _value_key(value: Any) -> str:
    """The x-enum-labels key of an enum value: strings as they are, others as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def enum_label(node: dict, value: Any, lang: str) -> str:
    """Label of one enum value: x-enum-labels on the node (or its items), else the value itself."""
    key = _value_key(value)
    for where in (node, node.get("items") if isinstance(node, Mapping) else None):
        if isinstance(where, Mapping) and isinstance(where.get("x-enum-labels"), Mapping):
            text = _pick(where["x-enum-labels"].get(key), lang)
            if text:
                return text
    if isinstance(value, bool):
        return _BOOL_LABELS[value][_lang(lang)]
    return "" if value is None else str(value)


# --------------------------------------------------------------------------- kinds


def _type_of(node: Mapping) -> str | None:
    t = node.get("type")
    if isinstance(t, list):
        non_null = [x for x in t if x != "null"]
        t = non_null[0] if len(non_null) == 1 else None
    return t if isinstance(t, str) else None


def field_kind(node: Any) -> str | None:
    """The field kind of a property schema, or None when the renderer cannot show it.

    One of 'text', 'textarea', 'number', 'integer', 'date', 'choice', 'multichoice',
    'boolean', 'rows', 'file', 'files'.
    """
    if not isinstance(node, Mapping):
        return None
    t = _type_of(node)
    widget = node.get("x-widget")
    if t == "array":
        items = node.get("items")
        items = items if isinstance(items, Mapping) else {}
        if _type_of(items) == "object" or "properties" in items:
            return "rows"
        if widget == "file" or items.get("x-widget") == "file":
            return "files"
        if "enum" in items or "x-enum-from" in node or "x-enum-from" in items:
            return "multichoice"
        return None
    if "enum" in node or "x-enum-from" in node:
        return "choice"
    if t == "boolean":
        return "boolean"
    if t in ("integer", "number"):
        return t
    if t == "string":
        if widget == "file":
            return "file"
        if node.get("format") == "date":
            return "date"
        if widget == "textarea":
            return "textarea"
        return "text"
    return None


def _choice_values(node: Mapping) -> list:
    """Enum values of a choice (on the node) or multichoice (on its items)."""
    if "enum" in node and isinstance(node["enum"], list):
        return node["enum"]
    items = node.get("items")
    if isinstance(items, Mapping) and isinstance(items.get("enum"), list):
        return items["enum"]
    return []


def html_value(value: Any) -> str:
    """How a typed value is written in HTML (option values, inputs, x-show-if in JS).

    Booleans are 'yes'/'no', None is '', strings are themselves, numbers are JSON.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value, ensure_ascii=False)


# --------------------------------------------------------------------------- x-enum-from


def _lookup(data: Mapping | None, name: str) -> Any:
    """data[name], with dotted paths (``registration.number``) allowed."""
    if not isinstance(data, Mapping):
        return None
    if name in data:
        return data[name]
    current: Any = data
    for part in name.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current


def _entries(raw: Any) -> list[tuple[Any, Any]]:
    """[(value, label-dict-or-str)] from [{'value', 'label'}] (plain scalars allowed)."""
    out = []
    if isinstance(raw, list):
        for entry in raw:
            if isinstance(entry, Mapping) and "value" in entry:
                out.append((entry["value"], entry.get("label")))
            elif isinstance(entry, str | int | float) and not isinstance(entry, bool):
                out.append((entry, str(entry)))
    return out


def _resolve_node(node: dict, context: Mapping | None) -> dict:
    kind = field_kind(node)
    if kind == "rows":
        items = node.get("items")
        if isinstance(items, Mapping) and isinstance(items.get("properties"), Mapping):
            node = dict(node)
            node["items"] = dict(items)
            node["items"]["properties"] = {
                k: _resolve_node(v, context) if isinstance(v, dict) else v
                for k, v in items["properties"].items()
            }
        return node
    if kind == "date":
        return _resolve_min_date(node, context)
    source = node.get("x-enum-from")
    if source is None and kind == "multichoice" and isinstance(node.get("items"), Mapping):
        source = node["items"].get("x-enum-from")
    if not isinstance(source, str):
        return node
    entries = _entries(_lookup(context, source))
    values = [v for v, _ in entries]
    labels = dict(node.get("x-enum-labels") or {})
    labels.update({_value_key(v): lab for v, lab in entries if lab is not None})
    node = dict(node)
    node["x-enum-labels"] = labels
    if kind == "multichoice":
        items = dict(node.get("items") or {})
        items["enum"] = values
        node["items"] = items
    else:
        node["enum"] = values
    return node


def _resolve_min_date(node: dict, context: Mapping | None) -> dict:
    """A date field with ``x-date-not-before`` (a task-data variable, e.g. the registration date)
    gets that date as ``x-min-date``: checked on the server, the input's ``min`` in the page.
    A missing or non-date variable sets no bound."""
    source = node.get("x-date-not-before")
    if not isinstance(source, str):
        return node
    bound = _lookup(context, source)
    if not isinstance(bound, str) or not _iso_date(bound[:10]):
        return node
    node = dict(node)
    node["x-min-date"] = bound[:10]
    return node


def _iso_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def resolve_enum_from(schema: dict, context: Mapping | None) -> dict:
    """A copy of the schema whose x-enum-from fields carry ``enum`` and ``x-enum-labels``
    built from the task data ``context`` (a missing variable gives no options), and whose
    x-date-not-before fields carry ``x-min-date``. The input schema is not modified."""
    props = schema.get("properties")
    if not isinstance(props, Mapping):
        return schema
    out = dict(schema)
    out["properties"] = {k: _resolve_node(v, context) if isinstance(v, dict) else v for k, v in props.items()}
    return out


# --------------------------------------------------------------------------- check


def _lang_dict_problems(where: str, key: str, value: Any) -> list[str]:
    if not isinstance(value, Mapping):
        return [f'{where}: {key} must be an object {{"ky", "ru", "en"}}']
    out = []
    for lang in LANGS:
        text = value.get(lang)
        if not isinstance(text, str) or not text.strip():
            out.append(f"{where}: {key} has no '{lang}' text")
    return out


def _blocks(obj: Mapping) -> list[Mapping]:
    """The object schema itself and its allOf members (where if/then/else live)."""
    members = obj.get("allOf")
    return [obj] + ([b for b in members if isinstance(b, Mapping)] if isinstance(members, list) else [])


def _json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON sees it: True is not 1, 1 is 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _check_properties(props: Mapping, required: Any, where: str, nested: bool) -> list[str]:
    problems: list[str] = []
    names = set(props)
    req = required if isinstance(required, list) else []
    for name in req:
        if name not in names:
            problems.append(f"{where}: required field {name!r} is not a property")
    for name, node in props.items():
        here = f"{where}/properties/{name}"
        if not (name.isidentifier() and name.isascii() and not name.startswith("_")):
            problems.append(
                f"{here}: a field name must be a Python identifier (ASCII letters, digits, _; "
                "not starting with _): it becomes a task-data variable"
            )
        if not isinstance(node, Mapping):
            problems.append(f"{here}: must be an object")
            continue
        for key in node:
            if isinstance(key, str) and key.startswith("x-") and key not in _KNOWN_X_KEYS:
                problems.append(f"{here}: unknown keyword {key!r}")
        if "x-label" not in node:
            problems.append(f"{here}: no x-label (with 'ky', 'ru' and 'en')")
        else:
            problems += _lang_dict_problems(here, "x-label", node["x-label"])
        if "x-help" in node:
            problems += _lang_dict_problems(here, "x-help", node["x-help"])
        kind = field_kind(node)
        if kind is None and not (isinstance(node.get("type"), str) and node["type"] not in _JSON_TYPES):
            # (an invalid "type" is already reported by the metaschema check)
            problems.append(f"{here}: not a supported field kind (see docs/modelling.md, Forms)")
        widget = node.get("x-widget")
        if widget is not None:
            if widget not in KNOWN_WIDGETS:
                problems.append(
                    f"{here}: unknown x-widget {widget!r} (known: {', '.join(sorted(KNOWN_WIDGETS))})"
                )
            elif kind is not None and kind not in _WIDGET_KINDS[widget]:
                problems.append(f"{here}: x-widget {widget!r} does not fit a {kind} field")
        fmt = node.get("format")
        if fmt is not None and fmt != "date":
            problems.append(f"{here}: format {fmt!r} is not supported (date fields use format 'date')")
        items = node.get("items")
        if isinstance(items, Mapping) and items.get("format") not in (None, "date"):
            problems.append(f"{here}/items: format {items['format']!r} is not supported")
        if kind == "text" and re.search(r"(^|_)dates?($|_)", name):
            problems.append(f'{here}: looks like a date; date fields use "format": "date"')
        if "x-date-not-before" in node:
            bound = node["x-date-not-before"]
            if kind != "date":
                problems.append(f"{here}: x-date-not-before is for date fields")
            elif not (isinstance(bound, str) and bound):
                problems.append(f"{here}: x-date-not-before must name a task-data variable")
        # enum labels
        if kind in ("choice", "multichoice"):
            values = _choice_values(node)
            labels = node.get("x-enum-labels")
            if labels is None and isinstance(items, Mapping):
                labels = items.get("x-enum-labels")
            has_from = "x-enum-from" in node or (isinstance(items, Mapping) and "x-enum-from" in items)
            src = node.get("x-enum-from", items.get("x-enum-from") if isinstance(items, Mapping) else None)
            if has_from and not (isinstance(src, str) and src):
                problems.append(f"{here}: x-enum-from must name a task-data variable")
            if values and not isinstance(labels, Mapping):
                problems.append(f"{here}: enum without x-enum-labels")
            elif isinstance(labels, Mapping):
                keys = {_value_key(v) for v in values}
                for v in values:
                    if _value_key(v) not in labels:
                        problems.append(f"{here}: enum value {v!r} has no label in x-enum-labels")
                    else:
                        problems += _lang_dict_problems(
                            f"{here}: x-enum-labels[{_value_key(v)!r}]", "label", labels[_value_key(v)]
                        )
                if not has_from:
                    for k in labels:
                        if k not in keys:
                            problems.append(f"{here}: x-enum-labels has {k!r}, which is not an enum value")
        elif "x-enum-labels" in node:
            problems.append(f"{here}: x-enum-labels on a field without enum")
        # x-show-if
        if "x-show-if" in node:
            alternatives = show_if_alternatives(node["x-show-if"])
            if alternatives is None:
                problems.append(
                    f'{here}: x-show-if must be an object {{"field": value}} '
                    "or a list of such objects (shown when any one holds)"
                )
            else:
                for target, value in (item for cond in alternatives for item in cond.items()):
                    if target == name:
                        problems.append(f"{here}: x-show-if refers to the field itself")
                    elif target not in names:
                        problems.append(
                            f"{here}: x-show-if refers to {target!r}, which is not a property here"
                        )
                    elif isinstance(props[target], Mapping):
                        try:
                            bad = not Draft202012Validator(props[target]).is_valid(value)
                        except Exception:  # the schema error itself is reported by the metaschema check
                            bad = False
                        if bad:
                            problems.append(f"{here}: x-show-if value {value!r} is not a valid {target!r}")
            if name in req:
                problems.append(
                    f'{here}: a field with x-show-if must not be in "required" '
                    "(make it required with if/then, it is dropped while hidden)"
                )
        if kind == "rows" and isinstance(items, Mapping):
            if nested:
                problems.append(f"{here}: rows inside rows are not supported")
            else:
                sub = items.get("properties")
                if not isinstance(sub, Mapping) or not sub:
                    problems.append(f"{here}: rows need items.properties")
                else:
                    problems += _check_properties(sub, items.get("required"), f"{here}/items", nested=True)
                    problems += _check_conditionals(items, set(sub), f"{here}/items")
    return problems


def show_if_alternatives(cond: Any) -> list[Mapping] | None:
    """An x-show-if as its alternatives: {"a": 1} -> [{"a": 1}]; a list is "any of" its objects.

    Inside one object every field must match; None when the condition is malformed.
    """
    alternatives = [cond] if isinstance(cond, Mapping) else cond
    if not isinstance(alternatives, list) or not alternatives:
        return None
    if not all(isinstance(c, Mapping) and c for c in alternatives):
        return None
    return alternatives


def _check_conditionals(obj: Mapping, names: set[str], where: str) -> list[str]:
    """if/then/else required lists refer to existing properties."""
    problems = []
    for i, block in enumerate(_blocks(obj)):
        for key in ("then", "else"):
            part = block.get(key)
            if isinstance(part, Mapping) and isinstance(part.get("required"), list):
                for name in part["required"]:
                    if name not in names:
                        loc = where if block is obj else f"{where}/allOf/{i - 1}"
                        problems.append(f"{loc}/{key}: required field {name!r} is not a property")
    return problems


def check_form_schema(schema: dict) -> list[str]:
    """Problems with a form schema (English, for authors and ``kyzmat processes check``); [] if OK."""
    if not isinstance(schema, Mapping):
        return ["the form must be a JSON object"]
    problems = []
    meta = Draft202012Validator(Draft202012Validator.META_SCHEMA)
    for err in sorted(meta.iter_errors(schema), key=lambda e: list(map(str, e.absolute_path))):
        loc = "/".join(map(str, err.absolute_path)) or "(root)"
        problems.append(f"invalid JSON Schema at {loc}: {err.message}")
    if schema.get("type") != "object":
        problems.append('(root): "type" must be "object"')
    props = schema.get("properties")
    if not isinstance(props, Mapping):
        problems.append('(root): no "properties"')
        return problems
    if "x-label" in schema:
        problems += _lang_dict_problems("(root)", "x-label", schema["x-label"])
    if "x-help" in schema:
        problems += _lang_dict_problems("(root)", "x-help", schema["x-help"])
    problems += _check_properties(props, schema.get("required"), "(root)", nested=False)
    problems += _check_conditionals(schema, set(props), "(root)")
    return problems


# --------------------------------------------------------------------------- fields


@dataclass
class Field:
    """One form field as the renderer sees it.

    ``name`` is the property name (for sub-fields of rows: the sub-property name; the
    HTML input is then ``<rows>-<i>-<name>``). ``options`` are (HTML value, label) pairs:
    enum values for choices, ('yes', ...)/('no', ...) for booleans. ``widget`` is the
    x-widget, defaulting to 'select' for choice, 'checkboxes' for multichoice and 'radio'
    for boolean. ``required`` is also True for fields that an if/then makes required
    (those carry ``show_if``); never put the HTML ``required`` attribute on them.
    """

    name: str
    kind: str
    label: str
    help: str
    required: bool
    options: list[tuple[str, str]] = field(default_factory=list)
    show_if: dict | list[dict] | None = None
    widget: str | None = None
    subfields: list[Field] = field(default_factory=list)
    schema: dict = field(default_factory=dict)


def _conditional_required(obj: Mapping) -> set[str]:
    out: set[str] = set()
    for block in _blocks(obj):
        for key in ("then", "else"):
            part = block.get(key)
            if isinstance(part, Mapping) and isinstance(part.get("required"), list):
                out.update(n for n in part["required"] if isinstance(n, str))
    return out


def _show_if(cond: Any) -> dict | list[dict] | None:
    """The x-show-if for the page's script: one object, or a list of alternatives (any one shows it)."""
    alternatives = show_if_alternatives(cond)
    if alternatives is None:
        return None
    return dict(cond) if isinstance(cond, Mapping) else [dict(c) for c in alternatives]


def _make_fields(obj: Mapping, lang: str) -> list[Field]:
    props = obj.get("properties") or {}
    required = set(obj.get("required") or []) | _conditional_required(obj)
    out = []
    for name, node in props.items():
        kind = field_kind(node)
        if kind is None:
            continue
        options: list[tuple[str, str]] = []
        if kind in ("choice", "multichoice"):
            options = [(html_value(v), enum_label(node, v, lang)) for v in _choice_values(node)]
        elif kind == "boolean":
            options = [("yes", _BOOL_LABELS[True][_lang(lang)]), ("no", _BOOL_LABELS[False][_lang(lang)])]
        subfields = _make_fields(node["items"], lang) if kind == "rows" else []
        out.append(
            Field(
                name=name,
                kind=kind,
                label=label(node, lang),
                help=help_text(node, lang),
                required=name in required,
                options=options,
                show_if=_show_if(node.get("x-show-if")),
                widget=node.get("x-widget") or _DEFAULT_WIDGET.get(kind),
                subfields=subfields,
                schema=node,
            )
        )
    return out


def fields(schema: dict, lang: str, data: dict | None = None) -> list[Field]:
    """The top-level fields in schema order; x-enum-from options come from ``data``
    (the task data). Properties of unsupported kinds are left out."""
    return _make_fields(resolve_enum_from(schema, data), lang)


# --------------------------------------------------------------------------- coerce

_NUMBER_RE = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_DMY_RE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")


def _getlist(form: Any, name: str) -> list[str]:
    if hasattr(form, "getlist"):
        values = form.getlist(name)
    else:
        values = form.get(name, [])
    if values is None:
        return []
    if isinstance(values, str):
        return [values]
    return [v for v in values if isinstance(v, str)]


def _parse_number(raw: str, integer: bool) -> Any:
    text = re.sub(r"[\s\u00a0\u202f]", "", raw).replace(",", ".")
    if not _NUMBER_RE.fullmatch(text):
        return raw
    try:
        value = float(text)
    except ValueError:  # pragma: no cover - the regex rules this out
        return raw
    if not math.isfinite(value):
        return raw
    if re.fullmatch(r"[+-]?\d+", text) or (integer and value.is_integer()):
        return int(text) if re.fullmatch(r"[+-]?\d+", text) else int(value)
    return value


def _coerce_single(node: Mapping, kind: str, raw: str) -> Any:
    if kind in ("integer", "number"):
        return _parse_number(raw, kind == "integer")
    if kind == "boolean":
        low = raw.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        return raw
    if kind == "date":
        m = _DMY_RE.fullmatch(raw)
        if m:
            return f"{m.group(3)}-{int(m.group(2)):02d}-{int(m.group(1)):02d}"
        return raw
    if kind == "choice":
        for v in _choice_values(node):
            if html_value(v) == raw:
                return v
        return raw
    if kind == "textarea":
        return raw.replace("\r\n", "\n").replace("\r", "\n")
    return raw


def _coerce_value(node: Mapping, kind: str, values: list[str]) -> Any:
    """The typed value of one field from its posted strings, or None for 'absent'."""
    values = [v.strip() if kind != "textarea" else v.strip(" \t\r\n") for v in values]
    values = [v for v in values if v != ""]
    if kind in ("multichoice", "files"):
        if not values:
            return None
        if kind == "files":
            return values
        by_html = {html_value(v): v for v in _choice_values(node)}
        return [by_html.get(v, v) for v in values]
    if not values:
        return None
    # the last value wins, so a hidden "no" before a "yes" checkbox works
    return _coerce_single(node, kind, values[-1])


def _coerce_object(obj: Mapping, form: Any, prefix: str, keys: list[str], defaults: bool = True) -> dict:
    """Coerce the properties of ``obj`` from inputs named ``prefix + name``. With
    ``defaults``, an absent ``x-widget: checkbox`` boolean becomes False."""
    out: dict[str, Any] = {}
    for name, node in (obj.get("properties") or {}).items():
        kind = field_kind(node)
        if kind is None:
            continue
        if kind == "rows":
            rows = _coerce_rows(prefix + name, node["items"], form, keys)
            if rows:
                out[name] = rows
            continue
        value = _coerce_value(node, kind, _getlist(form, prefix + name))
        if value is None and defaults and kind == "boolean" and node.get("x-widget") == "checkbox":
            value = False
        if value is not None:
            out[name] = value
    return out


def _form_keys(form: Any) -> list[str]:
    try:
        return [k for k in form.keys() if isinstance(k, str)]
    except AttributeError:
        return []


def _coerce_rows(name: str, items: Mapping, form: Any, keys: list[str]) -> list[dict]:
    sub = items.get("properties") or {}
    flat = {"properties": {k: v for k, v in sub.items() if field_kind(v) not in (None, "rows")}}
    pattern = re.compile(re.escape(name) + r"-(\d{1,6})-(.+)")
    indices = set()
    for key in keys:
        m = pattern.fullmatch(key)
        if m and m.group(2) in flat["properties"]:
            indices.add(int(m.group(1)))
    rows = []
    for i in sorted(indices):
        prefix = f"{name}-{i}-"
        if _coerce_object(flat, form, prefix, keys, defaults=False):  # skip fully empty rows
            rows.append(_coerce_object(flat, form, prefix, keys))
    return rows


def coerce_form(schema: dict, form: Mapping[str, list[str]], context: Mapping | None = None) -> dict:
    """Typed data from an HTML form post (MultiDict or dict name -> list[str] / str).

    - empty or blank strings: the field is absent;
    - integer/number: ``12``, ``-3``, ``12,5``, ``1 000`` parse; anything else is kept as
      the raw string so validation reports it and the form shows it again;
    - boolean: yes/true/on/1 -> True, no/false/off/0 -> False, nothing -> absent
      (an ``x-widget: checkbox`` boolean that is absent is False);
    - date: kept as a string; ``DD.MM.YYYY`` is turned into ``YYYY-MM-DD``;
    - choice: the posted string mapped back to the typed enum value;
    - multichoice/files: every posted value (getlist);
    - rows: ``name-<i>-<sub>`` inputs, in index order, fully empty rows skipped;
    - textarea: CRLF -> LF. Unknown inputs (csrf_token, ...) are ignored.

    Pass ``context`` (task data) so x-enum-from choices map back to typed values.
    """
    if context is not None:
        schema = resolve_enum_from(schema, context)
    return _coerce_object(schema, form, "", _form_keys(form))


def form_values(schema: dict, data: Mapping | None) -> dict[str, list[str]]:
    """The inverse of coerce_form: HTML input values for prefilling a form from task data
    or re-showing a rejected post (rows as ``name-<i>-<sub>``)."""
    out: dict[str, list[str]] = {}
    if not isinstance(data, Mapping):
        return out

    def put(obj: Mapping, values: Mapping, prefix: str) -> None:
        for name, node in (obj.get("properties") or {}).items():
            if name not in values or values[name] is None:
                continue
            kind = field_kind(node)
            value = values[name]
            if kind == "rows":
                if isinstance(value, list):
                    for i, row in enumerate(value):
                        if isinstance(row, Mapping):
                            put(node["items"], row, f"{prefix}{name}-{i}-")
            elif kind in ("multichoice", "files"):
                out[prefix + name] = [html_value(v) for v in (value if isinstance(value, list) else [value])]
            elif kind == "date" and isinstance(value, str) and re.match(r"\d{4}-\d\d-\d\dT", value):
                out[prefix + name] = [value[:10]]
            elif kind is not None:
                out[prefix + name] = [html_value(value)]

    put(schema, data, "")
    return out


# --------------------------------------------------------------------------- validate


def _shown(node: Mapping, values: Mapping) -> bool:
    if "x-show-if" not in node:
        return True
    alternatives = show_if_alternatives(node["x-show-if"]) or []
    return any(
        all(k in values and _json_equal(values[k], v) for k, v in cond.items()) for cond in alternatives
    )


def _empty(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, list) and not value)


def _prune(obj: Mapping, data: Mapping) -> dict:
    props = obj.get("properties") or {}
    out: dict[str, Any] = {}
    for name, value in data.items():
        if name not in props or _empty(value):
            continue
        node = props[name]
        if field_kind(node) == "rows" and isinstance(value, list):
            value = [_prune(node["items"], row) if isinstance(row, Mapping) else row for row in value]
        out[name] = value
    # hide until nothing changes, so a field shown only by a hidden field goes too
    changed = True
    while changed:
        changed = False
        for name in list(out):
            if not _shown(props[name], out):
                del out[name]
                changed = True
    return out


def visible_data(schema: dict, data: Mapping) -> dict:
    """The data with unknown fields, empty values and fields hidden by x-show-if removed."""
    return _prune(schema, data if isinstance(data, Mapping) else {})


_MSG: dict[str, dict[str, str]] = {
    "required": {
        "ky": "Бул талааны толтуруу милдеттүү.",
        "ru": "Обязательное поле.",
        "en": "This field is required.",
    },
    "number": {"ky": "Сан жазыңыз.", "ru": "Введите число.", "en": "Enter a number."},
    "integer": {"ky": "Бүтүн сан жазыңыз.", "ru": "Введите целое число.", "en": "Enter a whole number."},
    "string": {"ky": "Текст жазыңыз.", "ru": "Введите текст.", "en": "Enter text."},
    "boolean": {
        "ky": "«Ооба» же «Жок» тандаңыз.",
        "ru": "Выберите «Да» или «Нет».",
        "en": "Choose “Yes” or “No”.",
    },
    "date": {
        "ky": "Күндү ЖЖЖЖ-АА-КК форматында жазыңыз.",
        "ru": "Введите дату в формате ГГГГ-ММ-ДД.",
        "en": "Enter the date as YYYY-MM-DD.",
    },
    "enum": {
        "ky": "Тизмедеги варианттардын бирин тандаңыз.",
        "ru": "Выберите один из вариантов списка.",
        "en": "Choose one of the options in the list.",
    },
    "minimum": {
        "ky": "{n} же андан көп болушу керек.",
        "ru": "Значение должно быть не меньше {n}.",
        "en": "Must be {n} or more.",
    },
    "maximum": {
        "ky": "{n} же андан аз болушу керек.",
        "ru": "Значение должно быть не больше {n}.",
        "en": "Must be {n} or less.",
    },
    "exclusiveMinimum": {
        "ky": "{n} санынан көп болушу керек.",
        "ru": "Значение должно быть больше {n}.",
        "en": "Must be more than {n}.",
    },
    "exclusiveMaximum": {
        "ky": "{n} санынан аз болушу керек.",
        "ru": "Значение должно быть меньше {n}.",
        "en": "Must be less than {n}.",
    },
    "multipleOf": {
        "ky": "{n} санына калдыксыз бөлүнүшү керек.",
        "ru": "Значение должно быть кратно {n}.",
        "en": "Must be a multiple of {n}.",
    },
    "minLength": {"ky": "Эң аз {n} белги.", "ru": "Не менее {n} {w}.", "en": "At least {n} {w}."},
    "maxLength": {"ky": "Эң көп {n} белги.", "ru": "Не более {n} {w}.", "en": "At most {n} {w}."},
    "minItems:rows": {
        "ky": "Эң аз {n} сап кошуңуз.",
        "ru": "Добавьте не менее {n} {w}.",
        "en": "Add at least {n} {w}.",
    },
    "maxItems:rows": {
        "ky": "Эң көп {n} сап кошууга болот.",
        "ru": "Не более {n} {w}.",
        "en": "At most {n} {w}.",
    },
    "minItems:multichoice": {
        "ky": "Эң аз {n} вариант тандаңыз.",
        "ru": "Выберите не менее {n} {w}.",
        "en": "Choose at least {n} {w}.",
    },
    "maxItems:multichoice": {
        "ky": "Эң көп {n} вариант тандоого болот.",
        "ru": "Выберите не более {n} {w}.",
        "en": "Choose at most {n} {w}.",
    },
    "minItems:files": {
        "ky": "Эң аз {n} файл тиркеңиз.",
        "ru": "Приложите не менее {n} {w}.",
        "en": "Attach at least {n} {w}.",
    },
    "maxItems:files": {
        "ky": "Эң көп {n} файл тиркөөгө болот.",
        "ru": "Не более {n} {w}.",
        "en": "At most {n} {w}.",
    },
    "pattern": {
        "ky": "Маани талап кылынган форматка туура келбейт.",
        "ru": "Значение не соответствует требуемому формату.",
        "en": "The value does not match the required format.",
    },
    "const_true": {
        "ky": "Бул жерге белги коюу милдеттүү.",
        "ru": "Необходимо отметить это поле.",
        "en": "This box must be ticked.",
    },
    "uniqueItems": {
        "ky": "Маанилер кайталанбашы керек.",
        "ru": "Значения не должны повторяться.",
        "en": "Values must not repeat.",
    },
    "x-min-date": {
        "ky": "Бул күн {d} күнүнөн эрте боло албайт.",
        "ru": "Дата не может быть раньше {d}.",
        "en": "The date cannot be before {d}.",
    },
    "invalid": {"ky": "Маани туура эмес.", "ru": "Недопустимое значение.", "en": "Invalid value."},
}

# Counted nouns: Russian genitive after "не менее/не более" (singular for 1, 21, ...),
# English singular/plural. Kyrgyz nouns after numerals do not change.
_WORDS = {
    "chars": {"ru": ("символа", "символов"), "en": ("character", "characters")},
    "rows": {"ru": ("строки", "строк"), "en": ("row", "rows")},
    "multichoice": {"ru": ("варианта", "вариантов"), "en": ("option", "options")},
    "files": {"ru": ("файла", "файлов"), "en": ("file", "files")},
}

_PRIORITY = {"required": 0, "dependentRequired": 0, "type": 1, "format": 2, "enum": 3, "const": 4}


def _min_date(_validator: Any, bound: Any, instance: Any, _schema: Any) -> Iterator[ValidationError]:
    """``x-min-date`` (set by `_resolve_min_date`): a date field's value is not before it."""
    if isinstance(instance, str) and isinstance(bound, str) and _iso_date(instance) and instance < bound:
        yield ValidationError(f"{instance} is before {bound}")


_Validator = validators.extend(Draft202012Validator, {"x-min-date": _min_date})


def _num(value: Any, lang: str) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    return text.replace(".", ",") if lang in ("ky", "ru") else text


def _counted(n: Any, what: str, lang: str) -> str:
    forms = _WORDS[what].get(lang)
    if not forms or not isinstance(n, int):
        return ""
    if lang == "ru":
        return forms[0] if n % 10 == 1 and n % 100 != 11 else forms[1]
    return forms[0] if n == 1 else forms[1]


def _message(err: ValidationError, lang: str) -> str:
    v = err.validator
    value = err.validator_value
    if v in ("required", "dependentRequired"):
        key = "required"
    elif v == "type":
        types = value if isinstance(value, list) else [value]
        types = [t for t in types if t != "null"]
        key = (
            types[0]
            if len(types) == 1 and types[0] in ("number", "integer", "string", "boolean")
            else "invalid"
        )
    elif v == "format":
        key = "date" if value == "date" else "invalid"
    elif v == "const":
        key = "const_true" if value is True else "invalid"
    elif v in ("minItems", "maxItems"):
        kind = field_kind(err.schema) or "rows"
        kind = kind if kind in ("rows", "multichoice", "files") else "rows"
        key = f"{v}:{kind}"
        return _MSG[key][lang].format(n=_num(value, lang), w=_counted(value, kind, lang))
    elif v in ("minLength", "maxLength"):
        return _MSG[v][lang].format(n=_num(value, lang), w=_counted(value, "chars", lang))
    elif v == "x-min-date":
        day = date.fromisoformat(value)
        return _MSG[v][lang].format(d=day.strftime("%d.%m.%Y") if lang in ("ky", "ru") else day.isoformat())
    elif v in _MSG:
        key = v
    else:
        key = "invalid"
    return _MSG[key][lang].format(n=_num(value, lang))


def _field_key(schema: Mapping, parts: list) -> str:
    """'name', 'rows-1-amount' (or 'rows-1' / '' for row- and form-level errors)."""
    if not parts:
        return ""
    name = str(parts[0])
    node = (schema.get("properties") or {}).get(name)
    if field_kind(node) == "rows" and len(parts) >= 2 and isinstance(parts[1], int):
        return "-".join(str(p) for p in parts[:3])
    return name


def _leaf_errors(errors: Iterable[ValidationError]) -> Iterable[ValidationError]:
    """Replace anyOf/oneOf-style errors by their most relevant sub-error."""
    for err in errors:
        if err.context and err.validator in ("anyOf", "oneOf"):
            best = best_match(err.context)
            yield best if best is not None else err
        else:
            yield err


def validate(
    schema: dict, data: dict, lang: str, context: Mapping | None = None
) -> tuple[dict, dict[str, str]]:
    """Validate typed form data (from coerce_form).

    Unknown fields, empty values and fields hidden by x-show-if are dropped first. Returns
    ``(clean_data, errors)``; errors maps a field key ('refusal_reason', 'rows-1-amount';
    '' for a form-level problem) to one message in ``lang`` (ky/ru/en, unknown -> ky),
    ordered as the fields are. With ``context`` (task data) x-enum-from choices are
    checked against the options the user was offered; without it they are not.
    """
    lang = _lang(lang)
    if context is not None:
        schema = resolve_enum_from(schema, context)
    clean = _prune(schema, data if isinstance(data, Mapping) else {})
    validator = _Validator(schema, format_checker=_FORMAT_CHECKER)
    found: dict[str, tuple[int, str, tuple]] = {}
    order = {name: i for i, name in enumerate(schema.get("properties") or {})}
    for err in _leaf_errors(validator.iter_errors(clean)):
        base = list(err.absolute_path)
        if err.validator == "required":
            missing = [
                n for n in err.validator_value if isinstance(err.instance, Mapping) and n not in err.instance
            ]
            paths = [base + [n] for n in missing]
        elif err.validator == "dependentRequired":
            missing = [
                n
                for prop, needs in err.validator_value.items()
                if isinstance(err.instance, Mapping) and prop in err.instance
                for n in needs
                if n not in err.instance
            ]
            paths = [base + [n] for n in missing]
        else:
            paths = [base]
        rank = _PRIORITY.get(err.validator, 9)
        for path in paths:
            key = _field_key(schema, path)
            if key not in found or rank < found[key][0]:
                where = (
                    order.get(path[0], len(order)) if path else -1,
                    path[1] if len(path) > 1 and isinstance(path[1], int) else -1,
                    key,
                )
                found[key] = (rank, _message(err, lang), where)
    errors = {key: found[key][1] for key in sorted(found, key=lambda k: found[k][2])}
    return clean, errors
