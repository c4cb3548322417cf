"""Published versions: history, a readable difference, rollback, export and import of .bpmn files."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.bpmn.loader import NS, DiagramError, parse_xml
from engine.definitions import drafts
from engine.platform.errors import KyzmatError, NotFound
from engine.platform.models import AuditEvent, ProcessDraft, ProcessVersion, User


def history(session: Session, process_id: str | None = None) -> list[ProcessVersion]:
    """Every published version, newest first (of one process, or of all)."""
    query = select(ProcessVersion)
    if process_id:
        query = query.where(ProcessVersion.process_id == process_id)
    return list(session.scalars(query.order_by(ProcessVersion.process_id, ProcessVersion.number.desc())))


def get_version(session: Session, process_id: str, number: int) -> ProcessVersion:
    row = session.scalar(
        select(ProcessVersion).where(ProcessVersion.process_id == process_id, ProcessVersion.number == number)
    )
    if row is None:
        raise NotFound(f"No version {number} of {process_id!r}")
    return row


def publications(session: Session, process_id: str) -> list[AuditEvent]:
    """The audit trail of a process's diagram: publications, saved and discarded drafts, cases moved."""
    diagram = AuditEvent.instance_id.is_(None) & AuditEvent.action.in_(
        ("version_published", "process_draft_saved", "process_draft_discarded")
    )
    return list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.process_id == process_id, diagram | (AuditEvent.action == "case_migrated"))
            .order_by(AuditEvent.id.desc())
            .limit(200)
        )
    )


# --- difference ------------------------------------------------------------------------------------------

_TRACKED = (
    "kind",
    "name",
    "name_ru",
    "name_en",
    "lane",
    "form",
    "timer",
    "condition",
    "script",
    "attached_to",
    "properties",
)


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _describe(xml: str) -> dict[str, dict[str, Any]]:
    """Element id -> the facts an owner cares about (names, lane, form, deadline, condition, script)."""
    root = parse_xml(xml, "version.bpmn")
    out: dict[str, dict[str, Any]] = {}
    for process in root.xpath("./bpmn:process", namespaces=NS):
        lanes = {}
        for ref in process.xpath(".//bpmn:lane/bpmn:flowNodeRef", namespaces=NS):
            lanes[(ref.text or "").strip()] = ref.getparent().get("name")
        for el in process.iter():
            eid = el.get("id") if isinstance(el.tag, str) else None
            kind = _local(el)
            if not eid or kind in ("process", "laneSet", "timerEventDefinition", "extensionElements"):
                continue
            props = {
                p.get("name"): p.get("value", "")
                for p in el.xpath(
                    "./bpmn:extensionElements/spiffworkflow:properties//spiffworkflow:property", namespaces=NS
                )
                if p.get("name")
            }
            timer = el.xpath("./bpmn:timerEventDefinition/*", namespaces=NS)
            facts: dict[str, Any] = {
                "kind": kind,
                "name": el.get("name") or "",
                "name_ru": props.pop("name_ru", ""),
                "name_en": props.pop("name_en", ""),
                "lane": lanes.get(eid) if kind != "lane" else None,
                "form": props.pop("formJsonSchemaFilename", "") if kind == "userTask" else "",
                "timer": f"{_local(timer[0])}: {(timer[0].text or '').strip()}" if timer else "",
                "condition": " ".join(
                    (c.text or "").strip() for c in el.xpath("./bpmn:conditionExpression", namespaces=NS)
                ),
                "script": " ".join((s.text or "").strip() for s in el.xpath("./bpmn:script", namespaces=NS)),
                "attached_to": el.get("attachedToRef") or "",
                "properties": props,
            }
            if kind == "sequenceFlow":
                facts["flow"] = f"{el.get('sourceRef')} → {el.get('targetRef')}"
            out[eid] = facts
    return out


@dataclass
class Change:
    what: str
    before: Any
    after: Any


@dataclass
class ElementDiff:
    element_id: str
    kind: str
    name: str
    changes: list[Change] = field(default_factory=list)
    deadline: bool = False  # a timer expression was added, removed or changed


@dataclass
class VersionDiff:
    old: ProcessVersion
    new: ProcessVersion
    added: list[ElementDiff]
    removed: list[ElementDiff]
    changed: list[ElementDiff]
    forms_changed: list[str]

    @property
    def deadlines(self) -> list[ElementDiff]:
        return [e for e in self.added + self.removed + self.changed if e.deadline]


def diff_xml(old_xml: str, new_xml: str) -> tuple[list[ElementDiff], list[ElementDiff], list[ElementDiff]]:
    old, new = _describe(old_xml), _describe(new_xml)
    added = [
        ElementDiff(i, new[i]["kind"], new[i]["name"], deadline=bool(new[i]["timer"]))
        for i in new
        if i not in old
    ]
    removed = [
        ElementDiff(i, old[i]["kind"], old[i]["name"], deadline=bool(old[i]["timer"]))
        for i in old
        if i not in new
    ]
    changed = []
    for i in new:
        if i not in old:
            continue
        changes = [
            Change(k, old[i].get(k), new[i].get(k))
            for k in _TRACKED + ("flow",)
            if old[i].get(k) != new[i].get(k)
        ]
        if changes:
            changed.append(
                ElementDiff(
                    i,
                    new[i]["kind"],
                    new[i]["name"] or old[i]["name"],
                    changes,
                    deadline=any(c.what == "timer" for c in changes),
                )
            )
    return added, removed, changed


def diff(session: Session, process_id: str, old_number: int, new_number: int) -> VersionDiff:
    old, new = get_version(session, process_id, old_number), get_version(session, process_id, new_number)
    added, removed, changed = diff_xml(old.bpmn_xml, new.bpmn_xml)
    forms_changed = sorted(k for k in set(old.forms) | set(new.forms) if old.forms.get(k) != new.forms.get(k))
    return VersionDiff(old, new, added, removed, changed, forms_changed)


# --- rollback, export, import --------------------------------------------------------------------------


def rollback(
    kz: Any,
    session: Session,
    actor: User,
    process_id: str,
    number: int,
    note: str,
    *,
    municipality_id: int | None = None,
) -> ProcessVersion:
    """Publish an earlier version's diagram and forms again, as the next version (with its own note): the
    national version, or with ``municipality_id`` that municipality's variant."""
    drafts.require_edit(actor, process_id, municipality_id)
    old = get_version(session, process_id, number)
    with drafts.forms_directory(kz.settings.forms_dir, old.forms) as tmp:
        version, created = drafts.publish_content(
            kz,
            session,
            old.bpmn_xml.encode("utf-8"),
            f"{process_id}.bpmn",
            note,
            forms_dir=tmp,
            actor_id=actor.id,
            process_id=process_id,
            dmn={k: v.encode("utf-8") for k, v in (old.dmn_xml or {}).items()},
            municipality_id=municipality_id,
        )
    if not created:
        raise KyzmatError(f"Version {number} is already the newest content of {process_id}.")
    return version


def export_bpmn(session: Session, process_id: str, number: int | None = None) -> tuple[str, bytes]:
    """A published version as a .bpmn file (the newest when no number is given)."""
    row = get_version(session, process_id, number) if number else drafts.base_version(session, process_id)
    if row is None:
        raise NotFound(f"No published process {process_id!r}")
    return f"{process_id}-v{row.number}.bpmn", row.bpmn_xml.encode("utf-8")


def import_bpmn(
    session: Session,
    actor: User,
    process_id: str,
    data: bytes,
    *,
    now: datetime,
    municipality_id: int | None = None,
) -> ProcessDraft:
    """Make a .bpmn file from any bpmn.io-based modeler the draft of `process_id`.

    The file is parsed with the hardened parser (no DOCTYPE, no entities, size cap). Its one
    process is given this process's id (and made executable); everything else is kept as drawn.
    What it still lacks (lanes as roles, forms, Kyrgyz names) the validation lists.
    """
    drafts.require_edit(actor, process_id, municipality_id)
    try:
        root = parse_xml(data, f"{process_id}.bpmn")
    except DiagramError as err:
        raise drafts.DraftRefused(err.problems) from None
    if etree.QName(root).localname != "definitions" or etree.QName(root).namespace != NS["bpmn"]:
        raise KyzmatError("The file is not a BPMN 2.0 diagram (bpmn:definitions).")
    found = root.xpath("./bpmn:process", namespaces=NS)
    executable = [p for p in found if p.get("isExecutable", "true") == "true"] or found
    if len(executable) != 1:
        raise KyzmatError(f"The file must hold exactly one process; it holds {len(executable)}.")
    process = executable[0]
    old_id = process.get("id")
    if old_id != process_id:
        process.set("id", process_id)
        for ref in root.xpath(".//*[@processRef=$old] | .//*[@bpmnElement=$old]", old=old_id):
            if ref.get("processRef") == old_id:
                ref.set("processRef", process_id)
            if ref.get("bpmnElement") == old_id:
                ref.set("bpmnElement", process_id)
    process.set("isExecutable", "true")
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode("utf-8")
    draft = drafts.get_draft(session, process_id, municipality_id)
    return drafts.save_draft(
        session,
        actor,
        process_id,
        xml,
        draft.forms if draft else {},
        now=now,
        municipality_id=municipality_id,
    )
