"""A case's diagram for the viewer: the version's BPMN in the reader's language, and where the case stands."""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.accounts import access
from engine.bpmn.loader import NS, parse_xml
from engine.platform.errors import NotFound
from engine.platform.models import HumanTask, ProcessInstance, ProcessVersion, User

BPMN = NS["bpmn"]
# What a reader of the picture does not need: scripts, notes, engine properties (after reading them).
_DROP = (
    "extensionElements",
    "documentation",
    "script",
    "conditionExpression",
    "timeDate",
    "timeDuration",
    "timeCycle",
)


@dataclass
class CaseDiagram:
    xml: str
    open_steps: list[str]
    done_steps: list[str]


def case_steps(session: Session, instance_id: int) -> list[HumanTask]:
    """The case's human steps in the order they were reached (the text form of the diagram)."""
    return list(
        session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id).order_by(HumanTask.id))
    )


def case_diagram(session: Session, actor: User, instance_id: int, lang: str) -> CaseDiagram:
    """The diagram of a case the actor may see, names in `lang`, with its open and finished steps."""
    instance = session.get(ProcessInstance, instance_id)
    if instance is None:
        raise NotFound(f"No case {instance_id}")
    access.require_read_case(session, actor, instance)
    version = session.get(ProcessVersion, instance.version_id)
    if version is None:
        raise NotFound(f"No version {instance.version_id}")
    steps = case_steps(session, instance_id)
    open_steps = [t.step_id for t in steps if t.status == "open"]
    done = [t.step_id for t in steps if t.status == "completed" and t.step_id not in open_steps]
    return CaseDiagram(
        xml=localize_bpmn(version.bpmn_xml, lang), open_steps=open_steps, done_steps=list(dict.fromkeys(done))
    )


def localize_bpmn(xml: str, lang: str) -> str:
    """Put each element's name in `lang` (from its name_<lang> property), lanes as role names, drop internals."""
    root = parse_xml(xml, "diagram.bpmn")
    process_names: dict[str, str] = {}
    for el in root.iter(f"{{{BPMN}}}*"):
        local = etree.QName(el).localname
        if local == "lane" and el.get("name"):
            names = access.role_names(el.get("name", ""))
            el.set("name", names.get(lang) or names.get("ky") or el.get("name", ""))
            continue
        if lang != "ky" and el.get("name"):
            prop = el.find(
                f"./{{{BPMN}}}extensionElements//{{{NS['spiffworkflow']}}}property[@name='name_{lang}']"
            )
            if prop is not None and prop.get("value"):
                el.set("name", prop.get("value", ""))
        if local == "process" and el.get("id"):
            process_names[el.get("id", "")] = el.get("name", "")
    for participant in root.iter(f"{{{BPMN}}}participant"):
        if participant.get("processRef") in process_names:
            participant.set("name", process_names[participant.get("processRef", "")])
    for local in _DROP:
        for el in list(root.iter(f"{{{BPMN}}}{local}")):
            parent = el.getparent()
            if parent is not None:
                parent.remove(el)
    return etree.tostring(root, encoding="unicode")
