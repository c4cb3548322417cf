"""The service catalogue of the Citizen Service Center: what a citizen can ask for at the CSC.

`processes/services.json` lists every service named in the sources (catalogue §5.8 and the
Additional List annex, §2.10) with its provider, whether it is paid, its standard term in
working days (printed on the talon, AMB-C10), how the CSC handles it (AMB-C16) and the
documents an applicant brings. Pure module: no Flask, no SQLAlchemy, no SpiffWorkflow.

Diagrams reach the catalogue through `sandbox_helpers`, whose functions take and return
JSON-able values only, so their results can live in task data.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "CSC_MODES",
    "DEFAULT_CATALOGUE_PATH",
    "GROUPS",
    "LANGS",
    "PROVIDER_KINDS",
    "Catalogue",
    "CatalogueError",
    "Document",
    "Provider",
    "Service",
    "load_catalogue",
    "sandbox_helpers",
]

DEFAULT_CATALOGUE_PATH = Path(__file__).resolve().parents[2] / "processes" / "services.json"

LANGS = ("ky", "ru", "en")
# In the order the catalogue presents them (§5.8 a, b, c, then the Additional List annex).
GROUPS = ("municipal", "additional", "state", "additional_list")
PROVIDER_KINDS = ("municipal", "state", "outsourced")
CSC_MODES = ("intake_and_forward", "consult_only")
MAX_TERM_DAYS = 3660
MAX_FILE_BYTES = 2 * 1024 * 1024

_SERVICE_KEYS = frozenset(
    {
        "code",
        "group",
        "names",
        "provider",
        "paid",
        "standard_term_days",
        "csc_mode",
        "interdepartmental",
        "required_documents",
        "source",
        "to_confirm",
    }
)
_REQUIRED_KEYS = _SERVICE_KEYS - {"to_confirm"}
# Fields whose value may be a proposed default awaiting the municipality's confirmation.
_CONFIRMABLE = frozenset(_SERVICE_KEYS - {"code", "group", "names", "source", "to_confirm"})
_TOP_KEYS = frozenset({"format", "note", "services"})
_FORMAT = "kyzmat-services/1"


class CatalogueError(ValueError):
    """The catalogue file is malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class Provider:
    kind: str
    names: dict[str, str]


@dataclass(frozen=True)
class Document:
    code: str
    label: dict[str, str]


@dataclass
class Service:
    """One service of the catalogue. Helpers read it live and hand out copies (see to_dict)."""

    code: str
    group: str
    names: dict[str, str]
    provider: Provider
    paid: bool
    standard_term_days: int
    csc_mode: str
    interdepartmental: bool
    required_documents: tuple[Document, ...]
    source: str
    to_confirm: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """The entry as plain JSON-able data (a fresh copy each call)."""
        return {
            "code": self.code,
            "group": self.group,
            "names": dict(self.names),
            "provider": {"kind": self.provider.kind, "names": dict(self.provider.names)},
            "paid": self.paid,
            "standard_term_days": self.standard_term_days,
            "csc_mode": self.csc_mode,
            "interdepartmental": self.interdepartmental,
            "required_documents": [{"code": d.code, "label": dict(d.label)} for d in self.required_documents],
            "source": self.source,
            "to_confirm": list(self.to_confirm),
        }


class Catalogue:
    """The services in file order, looked up by code."""

    def __init__(self, services: list[Service], path: Path | None = None) -> None:
        self.path = path
        self._services: dict[str, Service] = {}
        for service in services:
            if service.code in self._services:
                raise CatalogueError(f"{_where(path)}: service code {service.code!r} appears twice")
            self._services[service.code] = service

    def __repr__(self) -> str:
        return f"Catalogue({len(self._services)} services from {self.path})"

    def __len__(self) -> int:
        return len(self._services)

    def __iter__(self) -> Iterator[Service]:
        return iter(self._services.values())

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and code in self._services

    def codes(self) -> list[str]:
        return list(self._services)

    def get(self, code: str) -> Service:
        """The service with this code; ValueError naming the known codes when there is none."""
        if not isinstance(code, str):
            raise ValueError(f"a service code must be a string, got {_show(code)}")
        service = self._services.get(code)
        if service is None:
            raise ValueError(f"unknown service code {_show(code)}; known codes: {', '.join(self._services)}")
        return service

    def all(self, group: str | None = None) -> list[Service]:
        """Every service in file order, or only those of one group."""
        if group is None:
            return list(self._services.values())
        _check_group(group)
        return [s for s in self._services.values() if s.group == group]


# --------------------------------------------------------------------------- loading


def load_catalogue(path: Path = DEFAULT_CATALOGUE_PATH) -> Catalogue:
    """Read and check a catalogue file; CatalogueError names the file and the entry at fault."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise CatalogueError(f"{path}: cannot read the service catalogue ({err.strerror})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise CatalogueError(f"{path}: the service catalogue is larger than {MAX_FILE_BYTES} bytes")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CatalogueError(f"{path}: not valid UTF-8 JSON ({err})") from None
    return parse_catalogue(data, path)


def parse_catalogue(data: Any, path: Path | None = None) -> Catalogue:
    """Check the parsed JSON of a catalogue and build it."""
    where = _where(path)
    if not isinstance(data, dict):
        raise CatalogueError(f"{where}: the catalogue must be a JSON object with a 'services' list")
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise CatalogueError(f"{where}: unknown top-level key(s) {', '.join(unknown)}")
    if data.get("format", _FORMAT) != _FORMAT:
        raise CatalogueError(f"{where}: format must be {_FORMAT!r}, got {_show(data.get('format'))}")
    entries = data.get("services")
    if not isinstance(entries, list) or not entries:
        raise CatalogueError(f"{where}: 'services' must be a non-empty list")
    services = []
    for index, entry in enumerate(entries, start=1):
        services.append(_parse_service(entry, f"{where}: service #{index}"))
    return Catalogue(services, path)


def _parse_service(entry: Any, where: str) -> Service:
    if not isinstance(entry, dict):
        raise CatalogueError(f"{where}: must be an object")
    code = entry.get("code")
    if not isinstance(code, str) or not code.strip() or len(code) > 32 or code != code.strip():
        raise CatalogueError(f"{where}: 'code' must be a short non-empty string, got {_show(code)}")
    where = f"{where} ({code})"
    missing = sorted(_REQUIRED_KEYS - set(entry))
    if missing:
        raise CatalogueError(f"{where}: missing {', '.join(missing)}")
    unknown = sorted(set(entry) - _SERVICE_KEYS)
    if unknown:
        raise CatalogueError(f"{where}: unknown key(s) {', '.join(unknown)}")
    group = _one_of(entry["group"], GROUPS, f"{where}: group")
    names = _texts(entry["names"], f"{where}: names")
    provider = entry["provider"]
    if not isinstance(provider, dict) or set(provider) != {"kind", "names"}:
        raise CatalogueError(f"{where}: provider must be an object with exactly 'kind' and 'names'")
    provider_obj = Provider(
        kind=_one_of(provider["kind"], PROVIDER_KINDS, f"{where}: provider.kind"),
        names=_texts(provider["names"], f"{where}: provider.names"),
    )
    paid = _bool(entry["paid"], f"{where}: paid")
    term = entry["standard_term_days"]
    if isinstance(term, bool) or not isinstance(term, int) or not 1 <= term <= MAX_TERM_DAYS:
        raise CatalogueError(
            f"{where}: standard_term_days must be a whole number of working days from 1 to {MAX_TERM_DAYS}, "
            f"got {_show(term)}"
        )
    mode = _one_of(entry["csc_mode"], CSC_MODES, f"{where}: csc_mode")
    interdepartmental = _bool(entry["interdepartmental"], f"{where}: interdepartmental")
    documents = _documents(entry["required_documents"], f"{where}: required_documents")
    source = entry["source"]
    if not isinstance(source, str) or not source.strip():
        raise CatalogueError(f"{where}: source must name the catalogue reference")
    to_confirm = entry.get("to_confirm", [])
    if not isinstance(to_confirm, list) or not all(isinstance(k, str) for k in to_confirm):
        raise CatalogueError(f"{where}: to_confirm must be a list of field names")
    bad = sorted(set(to_confirm) - _CONFIRMABLE)
    if bad:
        raise CatalogueError(
            f"{where}: to_confirm names {', '.join(bad)}; only {', '.join(sorted(_CONFIRMABLE))} can be defaults"
        )
    return Service(
        code=code,
        group=group,
        names=names,
        provider=provider_obj,
        paid=paid,
        standard_term_days=term,
        csc_mode=mode,
        interdepartmental=interdepartmental,
        required_documents=documents,
        source=source,
        to_confirm=tuple(to_confirm),
    )


def _documents(value: Any, where: str) -> tuple[Document, ...]:
    if not isinstance(value, list):
        raise CatalogueError(f"{where}: must be a list of {{code, label}}")
    out: list[Document] = []
    seen: set[str] = set()
    for index, item in enumerate(value, start=1):
        here = f"{where} #{index}"
        if not isinstance(item, dict) or set(item) != {"code", "label"}:
            raise CatalogueError(f"{here}: must be an object with exactly 'code' and 'label'")
        code = item["code"]
        if not isinstance(code, str) or not code.strip():
            raise CatalogueError(f"{here}: code must be a non-empty string")
        if code in seen:
            raise CatalogueError(f"{here}: document code {code!r} appears twice")
        seen.add(code)
        out.append(Document(code=code, label=_texts(item["label"], f"{here} ({code}): label")))
    return tuple(out)


def _texts(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise CatalogueError(f"{where}: must be an object with 'ky', 'ru' and 'en' texts")
    missing = [lang for lang in LANGS if not isinstance(value.get(lang), str) or not value[lang].strip()]
    if missing:
        raise CatalogueError(f"{where}: no {', '.join(missing)} text")
    unknown = sorted(set(value) - set(LANGS))
    if unknown:
        raise CatalogueError(f"{where}: unknown language(s) {', '.join(unknown)}")
    return {lang: value[lang] for lang in LANGS}


def _one_of(value: Any, allowed: tuple[str, ...], where: str) -> str:
    if value not in allowed or not isinstance(value, str):
        raise CatalogueError(f"{where} must be one of {', '.join(allowed)}, got {_show(value)}")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise CatalogueError(f"{where} must be true or false, got {_show(value)}")
    return value


def _check_group(group: Any) -> str:
    if not isinstance(group, str) or group not in GROUPS:
        raise ValueError(f"unknown service group {_show(group)}; known groups: {', '.join(GROUPS)}")
    return group


def _where(path: Path | None) -> str:
    return str(path) if path is not None else "service catalogue"


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --------------------------------------------------------------------------- sandbox helpers


def sandbox_helpers(catalogue: Catalogue) -> dict[str, Callable[..., Any]]:
    """Catalogue functions for BPMN expressions; each returns fresh JSON-able values.

    An unknown code or group raises ValueError whose message starts with the helper's name.
    """

    def service_info(code: str) -> dict[str, Any]:
        """The catalogue entry of a service as a dict (see Service.to_dict)."""
        return catalogue.get(code).to_dict()

    def service_term(code: str) -> int:
        """The service's standard term in working days (the talon's result date, AMB-C10)."""
        return catalogue.get(code).standard_term_days

    def service_mode(code: str) -> str:
        """'consult_only' or 'intake_and_forward' (AMB-C16)."""
        return catalogue.get(code).csc_mode

    def service_choices(group: str | None = None) -> list[dict[str, Any]]:
        """Options for a form's x-enum-from: [{'value': code, 'label': {ky, ru, en}}]."""
        return [{"value": s.code, "label": dict(s.names)} for s in catalogue.all(group)]

    def service_documents(code: str) -> list[dict[str, Any]]:
        """The documents an applicant brings, as x-enum-from options."""
        return [{"value": d.code, "label": dict(d.label)} for d in catalogue.get(code).required_documents]

    helpers = {
        "service_info": service_info,
        "service_term": service_term,
        "service_mode": service_mode,
        "service_choices": service_choices,
        "service_documents": service_documents,
    }
    return {name: _named_errors(name, function) for name, function in helpers.items()}


def _named_errors(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap function so its ValueErrors start with the helper's name (the modeller sees that)."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return copy.deepcopy(function(*args, **kwargs))
        except TypeError as exc:
            raise ValueError(f"{name}: {exc}") from None
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None

    wrapper.__name__ = name
    wrapper.__doc__ = function.__doc__
    return wrapper
