"""Safe loading and deploy-time checking of BPMN diagrams (design.md, engine decision 2).

BPMN and DMN bytes never reach lxml's default parser: ``parse_xml`` uses an explicit,
hardened parser, rejects any DOCTYPE or entity, and caps the size. The tree is then
XSD-validated and parsed by SpiffWorkflow's ``SpiffBpmnParser``. Every error becomes a
``Problem`` that names the file, the element id and the line.

``load_diagram`` returns what the runtime needs (the parsed specs plus a plain
``DiagramInfo`` read from the XML); ``check_diagram`` adds the modelling conventions of
docs/modelling.md (lanes are roles, every user task has a lane and a form, every
expression compiles in the sandbox, ...) and reports every problem it finds.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import re
import threading
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.exceptions import SpiffWorkflowException, WorkflowException
from SpiffWorkflow.spiff.parser import VALIDATOR, SpiffBpmnParser

from engine.bpmn.sandbox import check_source

__all__ = [
    "MAX_BYTES",
    "DiagramError",
    "DiagramInfo",
    "ElementInfo",
    "LoadedDiagram",
    "Problem",
    "check_diagram",
    "check_files",
    "content_hash",
    "load_diagram",
    "parse_xml",
]

MAX_BYTES = 2 * 1024 * 1024

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN_NS, "spiffworkflow": SPIFF_NS}
DMN_NAMESPACES = (
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
    "http://www.omg.org/spec/DMN/20180521/MODEL/",
    "https://www.omg.org/spec/DMN/20191111/MODEL/",
)
# Prefixes used to shorten the {namespace}name that libxml2 puts in XSD messages.
_SHORT_NS = {
    BPMN_NS: "bpmn",
    SPIFF_NS: "spiffworkflow",
    "http://www.omg.org/spec/BPMN/20100524/DI": "bpmndi",
    "http://www.omg.org/spec/DD/20100524/DC": "dc",
    "http://www.omg.org/spec/DD/20100524/DI": "di",
    **{ns: "dmn" for ns in DMN_NAMESPACES},
}

SCOPES = ("municipal", "national")

FLOW_NODE_KINDS = frozenset(
    {
        "startEvent",
        "endEvent",
        "intermediateCatchEvent",
        "intermediateThrowEvent",
        "boundaryEvent",
        "task",
        "userTask",
        "manualTask",
        "scriptTask",
        "serviceTask",
        "businessRuleTask",
        "sendTask",
        "receiveTask",
        "callActivity",
        "subProcess",
        "transaction",
        "adHocSubProcess",
        "exclusiveGateway",
        "inclusiveGateway",
        "parallelGateway",
        "eventBasedGateway",
        "complexGateway",
    }
)
_CONTAINER_KINDS = frozenset({"subProcess", "transaction", "adHocSubProcess"})
_TIMER_KINDS = ("timeDate", "timeDuration", "timeCycle")

# The hardened parser. resolve_entities=False and load_dtd=False are belt and braces:
# any DOCTYPE is refused before and after parsing anyway.
_XML_PARSER_OPTIONS = dict(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_pis=True,
)

# SpiffWorkflow's VALIDATOR is one module-level XMLSchema whose error_log is overwritten by
# each validation; serialize its use so that concurrent loads report their own errors.
_VALIDATOR_LOCK = threading.Lock()
_MAX_XSD_PROBLEMS = 20


# --------------------------------------------------------------------------- problems


@dataclass(frozen=True)
class Problem:
    file: str
    message: str
    element_id: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where = f"{where}:{self.line}" if where else f"line {self.line}"
        parts = [f"{where}:"] if where else []
        if self.element_id:
            parts.append(f"[{self.element_id}]")
        parts.append(self.message)
        return " ".join(parts)


class DiagramError(Exception):
    """A diagram (or one of its DMN tables) cannot be loaded. ``problems`` says why."""

    def __init__(self, problems: Problem | Iterable[Problem]):
        if isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def __reduce__(self):
        return (type(self), (self.problems,))


# --------------------------------------------------------------------------- safe XML


def _xml_parser() -> etree.XMLParser:
    # A new parser per call: lxml parsers are not safe to share between threads.
    return etree.XMLParser(**_XML_PARSER_OPTIONS)


def _as_text_for_scan(data: bytes) -> str:
    """Decode enough of ``data`` to look at markup, whatever its (declared) encoding."""
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        encoding = "utf-32"
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif data.startswith(b"<\x00\x00\x00"):
        encoding = "utf-32-le"
    elif data.startswith(b"\x00\x00\x00<"):
        encoding = "utf-32-be"
    elif data.startswith(b"<\x00"):
        encoding = "utf-16-le"
    elif data.startswith(b"\x00<"):
        encoding = "utf-16-be"
    else:
        encoding = "latin-1"  # every ASCII-compatible encoding: markup bytes are ASCII
    return data.decode(encoding, errors="replace")


def _prolog_has_doctype(text: str) -> bool:
    """True when the prolog (before the root element) holds a <!DOCTYPE ...>."""
    i, n = 0, len(text)
    while i < n:
        while i < n and (text[i].isspace() or text[i] == "\ufeff"):
            i += 1
        if text.startswith("<?", i):
            end = text.find("?>", i + 2)
            if end < 0:
                return False
            i = end + 2
        elif text.startswith("<!--", i):
            end = text.find("-->", i + 4)
            if end < 0:
                return False
            i = end + 3
        else:
            return text[i : i + 9].upper() == "<!DOCTYPE"
    return False


_DOCTYPE_MESSAGE = "DOCTYPE declarations are not allowed (no DTDs, no entities)"
_LINE_COLUMN_RE = re.compile(r",? line (\d+), column (\d+)\s*$")


def _syntax_problem(exc: etree.XMLSyntaxError, filename: str) -> Problem:
    message = (getattr(exc, "msg", None) or str(exc) or "not well-formed").strip()
    column = None
    m = _LINE_COLUMN_RE.search(message)
    if m:
        column = m.group(2)
        message = message[: m.start()]
    line = exc.lineno if isinstance(exc.lineno, int) and exc.lineno > 0 else None
    suffix = f" (column {column})" if column else ""
    return Problem(filename, f"malformed XML: {message}{suffix}", None, line)


def parse_xml(data: bytes | str, filename: str) -> etree._Element:
    """Parse untrusted BPMN/DMN bytes with a hardened parser and return the root element.

    Refuses (with ``DiagramError``) files over ``MAX_BYTES``, any DOCTYPE (so no DTD, no
    entity of any kind) and malformed XML (naming the line).
    """
    data = _to_bytes(data)
    if len(data) > MAX_BYTES:
        raise DiagramError(
            Problem(
                filename,
                f"file is too large ({len(data):,} bytes); the limit is {MAX_BYTES:,} bytes (2 MB)",
            )
        )
    if not data.strip():
        raise DiagramError(Problem(filename, "file is empty"))
    scan = _as_text_for_scan(data)
    if _prolog_has_doctype(scan):
        raise DiagramError(Problem(filename, _DOCTYPE_MESSAGE, None, _line_of(scan, "<!DOCTYPE")))
    try:
        root = etree.fromstring(data, _xml_parser())
    except etree.XMLSyntaxError as exc:
        # The prolog scan catches every DOCTYPE we can decode; should libxml2 still trip over
        # a DTD or an entity declaration, say so rather than quote its message.
        if re.search(r"entit|DTD|DOCTYPE", str(exc), re.IGNORECASE) and re.search(
            r"<!(DOCTYPE|ENTITY)", scan, re.IGNORECASE
        ):
            raise DiagramError(Problem(filename, _DOCTYPE_MESSAGE, None, _line_of(scan, "<!"))) from None
        raise DiagramError(_syntax_problem(exc, filename)) from None
    except (etree.LxmlError, ValueError) as exc:
        raise DiagramError(Problem(filename, f"malformed XML: {exc}")) from None
    if root is None:
        raise DiagramError(Problem(filename, "file is empty"))
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise DiagramError(Problem(filename, _DOCTYPE_MESSAGE))
    for entity in root.iter(etree.Entity):
        raise DiagramError(Problem(filename, "entity references are not allowed", None, entity.sourceline))
    return root


def _to_bytes(data: bytes | str) -> bytes:
    if isinstance(data, str):
        # Encode as UTF-8 and make a declared encoding say so (lxml refuses str with one).
        data = re.sub(
            r"""^(\s*<\?xml[^>]*?encoding\s*=\s*)(["'])[^"']*\2""", r"\1\2UTF-8\2", data, count=1
        ).encode("utf-8")
    return bytes(data)


def _line_of(text: str, needle: str) -> int | None:
    pos = text.upper().find(needle.upper())
    return text.count("\n", 0, pos) + 1 if pos >= 0 else None


# --------------------------------------------------------------------------- diagram info


@dataclass
class ElementInfo:
    id: str
    kind: str
    names: dict[str, str] = field(default_factory=dict)
    line: int | None = None
    lane: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    catalogue_ref: str | None = None
    form: str | None = None
    attached_to: str | None = None
    cancel_activity: bool | None = None
    timer: tuple[str, str] | None = None


@dataclass
class DiagramInfo:
    process_id: str
    file: str
    names: dict[str, str]
    properties: dict[str, str]
    scope: str
    starter_roles: list[str]
    elements: dict[str, ElementInfo]
    lanes: list[str]
    expressions: list[tuple[str, int | None, str, str]]

    def user_tasks(self) -> list[ElementInfo]:
        return [e for e in self.elements.values() if e.kind == "userTask"]

    def timers(self) -> list[ElementInfo]:
        return [e for e in self.elements.values() if e.timer is not None]

    def due_timer_for(self, task_id: str) -> ElementInfo | None:
        for e in self.elements.values():
            if e.kind == "boundaryEvent" and e.attached_to == task_id and e.timer is not None:
                return e
        return None


@dataclass
class LoadedDiagram:
    info: DiagramInfo
    spec: BpmnProcessSpec
    subprocess_specs: dict
    bpmn: bytes
    dmn: dict[str, bytes]


@dataclass(frozen=True)
class _Expr:
    """An expression found in a diagram or DMN table, with where it came from."""

    file: str
    element_id: str
    line: int | None
    source: str
    mode: str  # 'eval' | 'exec'
    what: str  # human label: 'condition', 'script', 'timer (timeDate)', ...


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _xp(el: etree._Element, path: str) -> list:
    return el.xpath(path, namespaces=NS)


def _properties(el: etree._Element) -> dict[str, str]:
    props: dict[str, str] = {}
    for p in _xp(el, "./bpmn:extensionElements/spiffworkflow:properties//spiffworkflow:property"):
        name = p.get("name")
        if name:
            props[name] = p.get("value", "")
    return props


def _names(el: etree._Element, props: dict[str, str]) -> dict[str, str]:
    names = {}
    if el.get("name"):
        names["ky"] = el.get("name")
    for lang in ("ru", "en"):
        if props.get(f"name_{lang}"):
            names[lang] = props[f"name_{lang}"]
    return names


def _executable_processes(root: etree._Element) -> list[etree._Element]:
    # Same rule as SpiffWorkflow's ProcessParser: isExecutable defaults to true.
    return [p for p in _xp(root, "./bpmn:process") if p.get("isExecutable", "true") == "true"]


def _lane_index(process: etree._Element) -> dict[str, str | None]:
    """flow node id -> name of the innermost lane listing it (as SpiffWorkflow does)."""
    lanes: dict[str, str | None] = {}
    for ref in _xp(process, ".//bpmn:lane/bpmn:flowNodeRef"):
        if ref.text and ref.text.strip():
            lanes[ref.text.strip()] = ref.getparent().get("name")
    return lanes


def _lane_of(el: etree._Element, process: etree._Element, lanes: dict[str, str | None]) -> str | None:
    # SpiffWorkflow gives everything inside an embedded subprocess the subprocess's lane
    # (outermost wins); otherwise the element's own lane.
    chain = []
    node = el.getparent()
    while node is not None and node is not process:
        chain.append(node)
        node = node.getparent()
    for ancestor in reversed(chain):
        if _local(ancestor) in _CONTAINER_KINDS and lanes.get(ancestor.get("id")):
            return lanes[ancestor.get("id")]
    return lanes.get(el.get("id"))


def _timer(el: etree._Element) -> tuple[str, str, int | None] | None:
    definition = next(iter(_xp(el, "./bpmn:timerEventDefinition")), None)
    if definition is None:
        return None
    for kind in _TIMER_KINDS:
        expr = next(iter(_xp(definition, f"./bpmn:{kind}")), None)
        if expr is not None:
            return kind, (expr.text or "").strip(), expr.sourceline
    return "", "", definition.sourceline


def _text(el: etree._Element | None) -> str | None:
    if el is None or el.text is None or not el.text.strip():
        return None
    return el.text


def _bpmn_expressions(process: etree._Element, filename: str) -> list[_Expr]:
    out: list[_Expr] = []

    def add(element_id, node, source, mode, what):
        if source is not None and source.strip():
            out.append(_Expr(filename, element_id or "", node.sourceline, source, mode, what))

    for el in process.iter():
        kind = _local(el)
        eid = el.get("id")
        if kind == "sequenceFlow":
            for cond in _xp(el, "./bpmn:conditionExpression"):
                add(eid, cond, cond.text, "eval", "condition")
            continue
        if kind not in FLOW_NODE_KINDS:
            continue
        if kind == "scriptTask":
            for script in _xp(el, "./bpmn:script"):
                add(eid, script, script.text, "exec", "script")
        for tag in ("preScript", "postScript"):
            for script in _xp(el, f"./bpmn:extensionElements/spiffworkflow:{tag}"):
                add(eid, script, script.text, "exec", tag)
        for kind_name in _TIMER_KINDS:
            for expr in _xp(el, f"./bpmn:timerEventDefinition/bpmn:{kind_name}"):
                add(eid, expr, expr.text, "eval", f"timer ({kind_name})")
        for cond in _xp(el, "./bpmn:conditionalEventDefinition/bpmn:condition"):
            add(eid, cond, cond.text, "eval", "event condition")
        for tag, what in (
            ("loopCardinality", "loop cardinality"),
            ("completionCondition", "completion condition"),
        ):
            for expr in _xp(el, f"./bpmn:multiInstanceLoopCharacteristics/bpmn:{tag}"):
                add(eid, expr, expr.text, "eval", what)
        for expr in _xp(el, "./bpmn:standardLoopCharacteristics/bpmn:loopCondition"):
            add(eid, expr, expr.text, "eval", "loop condition")
        if kind == "adHocSubProcess":
            for expr in _xp(el, "./bpmn:completionCondition"):
                add(eid, expr, expr.text, "eval", "completion condition")
        for param in _xp(
            el, "./bpmn:extensionElements/spiffworkflow:serviceTaskOperator//spiffworkflow:parameter"
        ):
            if "value" in param.attrib:
                add(eid, param, param.get("value"), "eval", f"service parameter {param.get('id')!r}")
        for expr in _xp(el, ".//bpmn:messageEventDefinition/spiffworkflow:messagePayload"):
            add(eid, expr, expr.text, "eval", "message payload")

    # Payloads and correlation expressions defined at document level.
    root = process.getroottree().getroot()
    for msg in _xp(root, "./bpmn:message"):
        for expr in _xp(msg, ".//spiffworkflow:messagePayload"):
            add(msg.get("id"), expr, expr.text, "eval", "message payload")
    for definition in _xp(root, "./bpmn:signal | ./bpmn:error | ./bpmn:escalation"):
        for expr in _xp(definition, "./bpmn:extensionElements/spiffworkflow:payloadExpression"):
            add(definition.get("id"), expr, expr.text, "eval", "payload expression")
    for prop in _xp(root, "./bpmn:correlationProperty"):
        for expr in _xp(prop, "./bpmn:correlationPropertyRetrievalExpression/*"):
            add(prop.get("id"), expr, expr.text, "eval", "correlation expression")
    return out


# The '?' of a DMN cell outside quotes is replaced by the input value (DMNEngine.evaluate).
_DMN_QUESTION_RE = re.compile(r"""(\?)(?=(?:[^'"]|['"][^'"]*['"])*$)""")


def _dmn_ns(root: etree._Element) -> str | None:
    return etree.QName(root).namespace


def _dmn_expressions(root: etree._Element, filename: str) -> tuple[list[_Expr], list[Problem]]:
    """The Python that SpiffWorkflow's DMNEngine will evaluate for each cell of each table."""
    import ast

    ns = {"dmn": _dmn_ns(root) or ""}
    out: list[_Expr] = []
    problems: list[Problem] = []
    for table in root.xpath(".//dmn:decisionTable", namespaces=ns):
        inputs = []
        for inp in table.xpath("./dmn:input", namespaces=ns):
            text_el = next(iter(inp.xpath("./dmn:inputExpression/dmn:text", namespaces=ns)), None)
            source = _text(text_el)
            if source is None:
                problems.append(
                    Problem(
                        filename, "DMN input column has no input expression", inp.get("id"), inp.sourceline
                    )
                )
            else:
                out.append(
                    _Expr(
                        filename,
                        inp.get("id") or "",
                        text_el.sourceline,
                        source,
                        "eval",
                        "DMN input expression",
                    )
                )
            inputs.append(source)
        for rule in table.xpath("./dmn:rule", namespaces=ns):
            for idx, entry in enumerate(rule.xpath("./dmn:inputEntry", namespaces=ns)):
                text_el = next(iter(entry.xpath("./dmn:text", namespaces=ns)), None)
                cell = _text(text_el)
                if cell is None or cell.strip() == "-":
                    continue
                input_expr = inputs[idx] if idx < len(inputs) else None
                if input_expr is None:
                    continue
                if "?" in cell and _DMN_QUESTION_RE.search(cell):
                    source = _DMN_QUESTION_RE.sub("dmninputexpr", cell)
                else:
                    try:
                        ast.parse(cell)
                        source = f"({input_expr}) == ({cell})"
                    except SyntaxError:
                        source = input_expr + cell
                out.append(
                    _Expr(
                        filename,
                        entry.get("id") or rule.get("id") or "",
                        text_el.sourceline,
                        source,
                        "eval",
                        "DMN input entry",
                    )
                )
            for entry in rule.xpath("./dmn:outputEntry", namespaces=ns):
                text_el = next(iter(entry.xpath("./dmn:text", namespaces=ns)), None)
                cell = _text(text_el)
                if cell is not None:
                    out.append(
                        _Expr(
                            filename,
                            entry.get("id") or rule.get("id") or "",
                            text_el.sourceline,
                            cell,
                            "eval",
                            "DMN output entry",
                        )
                    )
    return out, problems


def _build_info(process: etree._Element, filename: str, dmn_roots: dict[str, etree._Element]) -> DiagramInfo:
    process_id = process.get("id") or ""
    props = _properties(process)
    lanes_by_node = _lane_index(process)
    elements: dict[str, ElementInfo] = {}
    for el in process.iter():
        kind = _local(el)
        eid = el.get("id")
        if kind not in FLOW_NODE_KINDS or not eid:
            continue
        eprops = _properties(el)
        timer = _timer(el)
        cancel = el.get("cancelActivity")
        form = None
        if kind == "userTask":
            form = eprops.get("formJsonSchemaFilename") or f"{process_id}/{eid}.json"
        elements[eid] = ElementInfo(
            id=eid,
            kind=kind,
            names=_names(el, eprops),
            line=el.sourceline,
            lane=_lane_of(el, process, lanes_by_node),
            properties=eprops,
            catalogue_ref=eprops.get("catalogue_ref"),
            form=form,
            attached_to=el.get("attachedToRef") if kind == "boundaryEvent" else None,
            cancel_activity=(cancel != "false") if kind == "boundaryEvent" else None,
            timer=(timer[0], timer[1]) if timer and timer[0] else None,
        )
    lanes = []
    for lane in _xp(process, ".//bpmn:lane"):
        name = lane.get("name")
        if name and name not in lanes:
            lanes.append(name)
    expressions = _bpmn_expressions(process, filename)
    for dmn_file, dmn_root in dmn_roots.items():
        expressions += _dmn_expressions(dmn_root, dmn_file)[0]
    return DiagramInfo(
        process_id=process_id,
        file=filename,
        names=_names(process, props),
        properties=props,
        scope=props.get("scope", "municipal"),
        starter_roles=_split_roles(props.get("starter_roles", "")),
        elements=elements,
        lanes=lanes,
        expressions=[(e.element_id, e.line, e.source, e.mode) for e in expressions],
    )


def _split_roles(value: str) -> list[str]:
    return [r.strip() for r in value.split(",") if r.strip()]


# --------------------------------------------------------------------------- SpiffWorkflow


def _shorten_ns(message: str) -> str:
    def repl(m: re.Match) -> str:
        prefix = _SHORT_NS.get(m.group(1))
        return f"{prefix}:" if prefix else m.group(0)

    return re.sub(r"\{([^{}\s]+)\}", repl, message)


def _find_by_id(roots: Iterable[etree._Element], element_id: str) -> etree._Element | None:
    for root in roots:
        found = root.xpath("//*[@id=$id]", id=element_id)
        if found:
            return found[0]
    return None


def _element_at_line(root: etree._Element, line: int, local_name: str | None = None) -> etree._Element | None:
    candidates = [el for el in root.iter() if isinstance(el.tag, str) and el.sourceline == line]
    if local_name:
        named = [el for el in candidates if _local(el) == local_name]
        candidates = named or candidates
    return candidates[0] if candidates else None


def _nearest_id(el: etree._Element | None) -> str | None:
    while el is not None:
        if isinstance(el.tag, str) and el.get("id"):
            return el.get("id")
        el = el.getparent()
    return None


def _xsd_problem(filename: str, root: etree._Element, message: str, line: int | None) -> Problem:
    element_id = None
    if line:
        m = re.match(r"Element '(?:\{[^}]*\})?([\w.-]+)'", message)
        element_id = _nearest_id(_element_at_line(root, line, m.group(1) if m else None))
    return Problem(filename, f"XSD: {_shorten_ns(message)}", element_id, line)


def _int_line(value) -> int | None:
    try:
        line = int(value)
    except (TypeError, ValueError):
        return None
    return line if line > 0 else None


def _exception_message(exc: BaseException) -> str:
    message = str(exc.args[0]) if exc.args else type(exc).__name__
    notes = [str(n) for n in getattr(exc, "notes", None) or []]
    notes += [str(n) for n in getattr(exc, "__notes__", None) or []]
    return ". ".join([message.strip().rstrip(".")] + notes) if notes else message.strip()


def _spiff_problem(exc: Exception, filename: str, trees: dict[str, etree._Element]) -> Problem:
    """Turn an exception raised by SpiffWorkflow's parser into a Problem with id and line."""
    if isinstance(exc, ValidationException):
        file = exc.file_name if exc.file_name in trees else filename
        element_id = getattr(exc, "id", None) or None
        line = _int_line(getattr(exc, "line_number", None))
        missing = re.match(r"The process '([^']*)' was not found", _exception_message(exc))
        if element_id is None and missing:
            # get_subprocess_specs names the called process but not the callActivity.
            calls = trees[file].xpath(
                "//*[local-name()='callActivity'][@calledElement=$p]", p=missing.group(1)
            )
            element_id = calls[0].get("id") if calls else None
        if element_id and line is None:
            # SpiffWorkflow looks for node.line_number; lxml calls it sourceline.
            ordered = [trees[file]] + [t for f, t in trees.items() if f != file]
            el = _find_by_id(ordered, element_id)
            line = el.sourceline if el is not None else None
        return Problem(file, _shorten_ns(_exception_message(exc)), element_id, line)
    if isinstance(exc, WorkflowException):
        task_spec = getattr(exc, "task_spec", None)
        element_id = getattr(task_spec, "bpmn_id", None) or getattr(task_spec, "name", None)
        el = _find_by_id(trees.values(), element_id) if element_id else None
        return Problem(
            filename, _exception_message(exc), element_id, el.sourceline if el is not None else None
        )
    if isinstance(exc, SpiffWorkflowException):
        return Problem(filename, _exception_message(exc))
    return Problem(filename, f"SpiffWorkflow could not parse the diagram: {type(exc).__name__}: {exc}")


def _parse_dmn_trees(dmn: dict[str, bytes]) -> tuple[dict[str, etree._Element], list[Problem]]:
    roots: dict[str, etree._Element] = {}
    problems: list[Problem] = []
    decisions: dict[str, str] = {}
    for name in sorted(dmn):
        try:
            root = parse_xml(dmn[name], name)
        except DiagramError as exc:
            problems += exc.problems
            continue
        if _dmn_ns(root) not in DMN_NAMESPACES:
            problems.append(
                Problem(
                    name,
                    f"not a DMN 1.1/1.2/1.3 document (root element {_shorten_ns(root.tag)}); "
                    f"supported namespaces: {', '.join(DMN_NAMESPACES)}",
                    None,
                    root.sourceline,
                )
            )
            continue
        for decision in root.xpath("./dmn:decision", namespaces={"dmn": _dmn_ns(root)}):
            did = decision.get("id")
            if did in decisions:
                problems.append(
                    Problem(
                        name,
                        f"decision id {did!r} is also defined in {decisions[did]}",
                        did,
                        decision.sourceline,
                    )
                )
            elif did:
                decisions[did] = name
        roots[name] = root
    return roots, problems


def _spiff_load(
    root: etree._Element, filename: str, dmn_roots: dict[str, etree._Element]
) -> tuple[str, BpmnProcessSpec, dict]:
    """XSD-validate and parse with SpiffBpmnParser; raise DiagramError with located problems."""
    trees = {filename: root, **dmn_roots}
    parser = SpiffBpmnParser(validator=VALIDATOR)
    for name, dmn_root in dmn_roots.items():
        try:
            parser.add_dmn_xml(dmn_root, filename=name)
        except Exception as exc:
            problem = _spiff_problem(exc, name, trees)
            if isinstance(exc, ValidationException) and not problem.element_id and problem.line:
                # A DMN XSD error: libxml2 gives the line only.
                problem = _xsd_problem(
                    problem.file, trees[problem.file], _exception_message(exc), problem.line
                )
            raise DiagramError(problem) from None

    with _VALIDATOR_LOCK:
        try:
            parser.add_bpmn_xml(root, filename=filename)
            xsd_errors = None
        except ValidationException as exc:
            # XSD errors come without an element id; the validator's log has all of them.
            xsd_errors = (
                []
                if getattr(exc, "id", None)
                else [(e.message, e.line) for e in VALIDATOR.validator.error_log]
            )
            if not xsd_errors:
                raise DiagramError(_spiff_problem(exc, filename, trees)) from None
        except Exception as exc:
            raise DiagramError(_spiff_problem(exc, filename, trees)) from None
    if xsd_errors is not None:
        problems = [_xsd_problem(filename, root, msg, line) for msg, line in xsd_errors[:_MAX_XSD_PROBLEMS]]
        if len(xsd_errors) > _MAX_XSD_PROBLEMS:
            problems.append(Problem(filename, f"XSD: {len(xsd_errors) - _MAX_XSD_PROBLEMS} more errors"))
        raise DiagramError(problems)

    process_ids = parser.get_process_ids()
    if len(process_ids) != 1:
        processes = _executable_processes(root)
        if not process_ids:
            raise DiagramError(Problem(filename, "the file has no executable bpmn:process"))
        extra = processes[1] if len(processes) > 1 else None
        raise DiagramError(
            Problem(
                filename,
                f"a file must hold exactly one executable process; found {len(process_ids)}: "
                f"{', '.join(process_ids)}",
                extra.get("id") if extra is not None else None,
                extra.sourceline if extra is not None else None,
            )
        )
    process_id = process_ids[0]
    try:
        spec = parser.get_spec(process_id)
        subprocess_specs = parser.get_subprocess_specs(process_id)
    except Exception as exc:
        raise DiagramError(_spiff_problem(exc, filename, trees)) from None
    return process_id, spec, subprocess_specs


def load_diagram(bpmn: bytes, filename: str, dmn: dict[str, bytes] | None = None) -> LoadedDiagram:
    """Parse, validate and load one diagram (with the DMN tables it may call).

    Raises ``DiagramError`` (never a raw lxml or SpiffWorkflow error) when it cannot.
    """
    dmn = {name: _to_bytes(content) for name, content in (dmn or {}).items()}
    bpmn = _to_bytes(bpmn)
    root = parse_xml(bpmn, filename)
    dmn_roots, dmn_problems = _parse_dmn_trees(dmn)
    if dmn_problems:
        raise DiagramError(dmn_problems)
    process_id, spec, subprocess_specs = _spiff_load(root, filename, dmn_roots)
    process = next(p for p in _executable_processes(root) if p.get("id") == process_id)
    info = _build_info(process, filename, dmn_roots)
    return LoadedDiagram(info=info, spec=spec, subprocess_specs=subprocess_specs, bpmn=bpmn, dmn=dmn)


# --------------------------------------------------------------------------- conventions


def _no_problems(_value: Any) -> list[str]:
    return []


@dataclass(frozen=True)
class Conventions:
    """The domain's rules a diagram is checked against, handed in by `engine.definitions.checks`:
    this package knows no roles, forms or reminder policies of its own."""

    known_roles: Collection[str] = ()
    check_form: Callable[[dict[str, Any]], list[str]] = _no_problems
    check_step_properties: Callable[[dict[str, str]], list[str]] = _no_problems


def _check_form(task: ElementInfo, filename: str, forms_dir: Path, conventions: Conventions) -> list[Problem]:
    def problem(message: str) -> list[Problem]:
        return [Problem(filename, message, task.id, task.line)]

    rel = task.form or ""
    if not rel.endswith(".json"):
        return problem(f"form {rel!r} must be a .json file under forms/")
    base = Path(forms_dir).resolve()
    path = (base / rel).resolve()
    if Path(rel).is_absolute() or not path.is_relative_to(base):
        return problem(f"form {rel!r} must be a path inside the forms directory")
    if not path.is_file():
        return problem(f"user task has no form: forms/{rel} does not exist")
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        return problem(f"form forms/{rel} cannot be read: {exc.strerror}")
    if len(raw) > MAX_BYTES:
        return problem(f"form forms/{rel} is larger than {MAX_BYTES:,} bytes")
    try:
        schema = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return problem(f"form forms/{rel} is not UTF-8")
    except json.JSONDecodeError as exc:
        return problem(
            f"form forms/{rel} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        )
    if not isinstance(schema, dict):
        return problem(f"form forms/{rel} must be a JSON object (a JSON Schema)")
    try:
        errors = conventions.check_form(schema)
    except Exception as exc:  # a checker bug must not hide the rest of the report
        errors = [f"{type(exc).__name__}: {exc}"]
    return [Problem(filename, f"form forms/{rel}: {err}", task.id, task.line) for err in errors]


def _check_process(
    process: etree._Element,
    filename: str,
    forms_dir: Path,
    conventions: Conventions,
    dmn_roots: dict[str, etree._Element],
) -> list[Problem]:
    known_roles = conventions.known_roles
    info = _build_info(process, filename, dmn_roots)
    problems: list[Problem] = []

    def add(message: str, element_id: str | None = None, line: int | None = None, file: str = filename):
        problems.append(Problem(file, message, element_id, line))

    pid, pline = info.process_id, process.sourceline
    # Process properties.
    if info.scope not in SCOPES:
        add(f"process property scope is {info.scope!r}; it must be one of {', '.join(SCOPES)}", pid, pline)
    for role in info.starter_roles:
        if role not in known_roles:
            add(f"starter_roles names {role!r}, which is not a known role", pid, pline)
    for prop in _xp(process, "./bpmn:extensionElements/spiffworkflow:properties//spiffworkflow:property"):
        if not prop.get("name") or prop.get("value") is None:
            add("spiffworkflow:property needs both name and value", pid, prop.sourceline)

    # Lanes are roles.
    for lane in _xp(process, ".//bpmn:lane"):
        name = lane.get("name")
        if not name:
            add(
                "lane has no name; a lane's name is the role code of who does its tasks",
                lane.get("id"),
                lane.sourceline,
            )
        elif name not in known_roles:
            add(
                f"lane {name!r} is not a known role (known: {', '.join(sorted(known_roles))})",
                lane.get("id"),
                lane.sourceline,
            )

    # Every user task sits in a lane and has a form. Manual tasks are human tasks too: they
    # need a lane (a role) to show up in anybody's inbox.
    for task in info.elements.values():
        if task.kind in ("userTask", "manualTask") and not task.lane:
            add(
                f"{'user' if task.kind == 'userTask' else 'manual'} task is not in any lane; "
                "put it in the lane of the role that does it",
                task.id,
                task.line,
            )
    for task in info.user_tasks():
        problems.extend(_check_form(task, filename, forms_dir, conventions))
        for message in conventions.check_step_properties(task.properties):
            add(message, task.id, task.line)

    # Every timer event has an expression.
    for el in process.iter():
        if _local(el) not in FLOW_NODE_KINDS:
            continue
        timer = _timer(el)
        if timer is not None and not timer[1]:
            what = f"bpmn:{timer[0]}" if timer[0] else "timeDate, timeDuration or timeCycle"
            add(f"timer event has no expression: give its {what} an expression", el.get("id"), timer[2])

    # Conditional gateways: every outgoing flow but the default needs a condition.
    flows_by_source: dict[str, list[etree._Element]] = {}
    for flow in _xp(process, ".//bpmn:sequenceFlow"):
        flows_by_source.setdefault(flow.get("sourceRef"), []).append(flow)
    for gateway in _xp(process, ".//bpmn:exclusiveGateway | .//bpmn:inclusiveGateway"):
        outgoing = flows_by_source.get(gateway.get("id"), [])
        if len(outgoing) < 2:  # a single outgoing flow is the default (as in SpiffWorkflow)
            continue
        for flow in outgoing:
            if flow.get("id") == gateway.get("default"):
                continue
            if _text(next(iter(_xp(flow, "./bpmn:conditionExpression")), None)) is None:
                add(
                    f"flow leaves {_local(gateway)} {gateway.get('id')!r} without a condition and is not "
                    "its default flow",
                    flow.get("id"),
                    flow.sourceline,
                )

    # Every expression compiles in the sandbox.
    expressions = _bpmn_expressions(process, filename)
    for dmn_file, dmn_root in dmn_roots.items():
        dmn_exprs, dmn_problems = _dmn_expressions(dmn_root, dmn_file)
        expressions += dmn_exprs
        problems += dmn_problems
    for expr in expressions:
        try:
            errors = check_source(expr.source, expr.mode)
        except Exception as exc:  # a checker bug must not hide the rest of the report
            errors = [f"{type(exc).__name__}: {exc}"]
        for err in errors:
            message, line = _locate_sandbox_error(err, expr)
            add(message, expr.element_id or None, line, expr.file)
    return problems


_SANDBOX_LINE_RE = re.compile(r"^Line (\d+): (.*)$", re.DOTALL)


def _locate_sandbox_error(error: str, expr: _Expr) -> tuple[str, int | None]:
    """The sandbox says 'Line N: ...' counting from the start of the element's text; turn
    that into a line of the file (the text starts on the line of the element's start tag)."""
    m = _SANDBOX_LINE_RE.match(error)
    if not m:
        return f"{expr.what}: {error}", expr.line
    n, rest = int(m.group(1)), m.group(2)
    line = expr.line + n - 1 if expr.line is not None else None
    if "\n" in expr.source.strip():
        return f"{expr.what} (its line {n}): {rest}", line
    return f"{expr.what}: {rest}", line


def check_diagram(
    bpmn: bytes,
    filename: str,
    *,
    forms_dir: Path,
    dmn: dict[str, bytes] | None = None,
    conventions: Conventions = Conventions(),
) -> list[Problem]:
    """Every problem of one diagram: what load_diagram refuses plus the modelling conventions.

    Returns [] when the diagram is clean. Never raises for a bad diagram.
    """
    dmn = dict(dmn or {})
    try:
        root = parse_xml(bpmn, filename)
    except DiagramError as exc:
        return list(exc.problems)
    dmn_roots, problems = _parse_dmn_trees(dmn)

    if not problems:
        try:
            _spiff_load(root, filename, dmn_roots)
        except DiagramError as exc:
            problems += exc.problems

    static: list[Problem] = []
    for process in _executable_processes(root):
        try:
            static += _check_process(process, filename, Path(forms_dir), conventions, dmn_roots)
        except Exception as exc:  # keep the contract: report, never raise, for a bad diagram
            static.append(
                Problem(
                    filename,
                    f"could not check the conventions: {type(exc).__name__}: {exc}",
                    process.get("id"),
                    process.sourceline,
                )
            )
    # SpiffWorkflow stops at the first semantic error; our own gateway check reports them all.
    ours = {(p.file, p.element_id) for p in static}
    problems = [
        p
        for p in problems
        if not (
            p.message.startswith("Non-default exclusive outgoing sequence flow without condition")
            and (p.file, p.element_id) in ours
        )
    ]
    return _dedupe(problems + static)


def _dedupe(problems: Iterable[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))


def check_files(
    paths: list[Path], *, forms_dir: Path, conventions: Conventions = Conventions()
) -> list[Problem]:
    """``kyzmat processes check``: each .bpmn (directories are searched for *.bpmn) with the
    .dmn files found in its directory, plus the file naming conventions."""
    bpmn_paths: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            bpmn_paths += sorted(p.glob("*.bpmn"))
        elif p.suffix.lower() == ".bpmn":
            bpmn_paths.append(p)
    problems: list[Problem] = []
    dmn_cache: dict[Path, dict[str, bytes] | list[Problem]] = {}
    for path in dict.fromkeys(bpmn_paths):
        data = _read_capped(path)
        if isinstance(data, Problem):
            problems.append(data)
            continue
        directory = path.parent
        if directory not in dmn_cache:
            dmn_cache[directory] = _read_dmn_dir(directory)
        dmn = dmn_cache[directory]
        if isinstance(dmn, list):
            problems += dmn
            dmn = {}
        found = check_diagram(data, str(path), forms_dir=forms_dir, dmn=dmn, conventions=conventions)
        problems += found
        problems += _naming_problems(path, data, dmn)
    return _dedupe(problems)


def _read_capped(path: Path) -> bytes | Problem:
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        return Problem(str(path), f"cannot read: {exc.strerror}")
    if len(data) > MAX_BYTES:
        return Problem(str(path), f"file is too large; the limit is {MAX_BYTES:,} bytes (2 MB)")
    return data


def _read_dmn_dir(directory: Path) -> dict[str, bytes] | list[Problem]:
    dmn: dict[str, bytes] = {}
    problems: list[Problem] = []
    for p in sorted(directory.glob("*.dmn")):
        data = _read_capped(p)
        if isinstance(data, Problem):
            problems.append(data)
        else:
            dmn[str(p)] = data
    if problems:
        return problems
    return dmn


def _naming_problems(path: Path, data: bytes, dmn: dict[str, bytes]) -> list[Problem]:
    """<process_id>.bpmn and <decision_id>.dmn (docs/modelling.md)."""
    problems = []
    try:
        root = parse_xml(data, str(path))
    except DiagramError:
        return []
    processes = _executable_processes(root)
    if len(processes) == 1 and processes[0].get("id") != path.stem:
        problems.append(
            Problem(
                str(path),
                f"the file of process {processes[0].get('id')!r} must be named {processes[0].get('id')}.bpmn",
                processes[0].get("id"),
                processes[0].sourceline,
            )
        )
    for name, content in dmn.items():
        try:
            droot = parse_xml(content, name)
        except DiagramError:
            continue
        ns = _dmn_ns(droot) or ""
        decisions = droot.xpath("./dmn:decision", namespaces={"dmn": ns})
        if len(decisions) == 1 and decisions[0].get("id") != Path(name).stem:
            problems.append(
                Problem(
                    name,
                    f"the file of decision {decisions[0].get('id')!r} must be named "
                    f"{decisions[0].get('id')}.dmn",
                    decisions[0].get("id"),
                    decisions[0].sourceline,
                )
            )
    return problems


# --------------------------------------------------------------------------- versions


def content_hash(bpmn: bytes, dmn: dict[str, bytes]) -> str:
    """sha256 (hex) over the diagram and its DMN tables, in a canonical, unambiguous order."""
    h = hashlib.sha256()

    def part(tag: bytes, data: bytes) -> None:
        h.update(tag)
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)

    part(b"bpmn", bytes(bpmn))
    for name in sorted(dmn or {}):
        part(b"dmn-name", name.encode("utf-8"))
        part(b"dmn", bytes(dmn[name]))
    return h.hexdigest()
