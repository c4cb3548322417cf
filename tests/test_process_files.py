"""Every shipped diagram, present and future: names in three languages, timers with their rule in each.

The per-process model tests check what each process must contain; this one walks every file in
processes/ so that a new diagram cannot slip through without its Kyrgyz and Russian texts.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy.orm import Session

from engine.deadlines.register import deadline_register

ROOT = Path(__file__).resolve().parent.parent
DIAGRAMS = sorted((ROOT / "processes").glob("*.bpmn"))
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
NS = {"bpmn": BPMN, "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core"}
# Every flow element a diagram can hold (BPMN 2.0 tFlowNode subtypes), at any depth.
FLOW_NODES = {
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
    "sendTask",
    "receiveTask",
    "businessRuleTask",
    "callActivity",
    "subProcess",
    "transaction",
    "adHocSubProcess",
    "exclusiveGateway",
    "parallelGateway",
    "inclusiveGateway",
    "eventBasedGateway",
    "complexGateway",
}
CYRILLIC = re.compile(r"[А-Яа-яЁёӨөҮүҢң]")
KYRGYZ_LETTER = re.compile(r"[ӨөҮүҢң]")


def load(path: Path) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.fromstring(path.read_bytes(), parser)


def props(element: etree._Element) -> dict[str, str]:
    return {
        p.get("name"): p.get("value")
        for p in element.findall("bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS)
    }


def test_the_shipped_diagrams_are_all_found() -> None:
    assert {p.stem for p in DIAGRAMS} >= {
        "additional_list",
        "list_dispute",
        "csc_establishment",
        "citizen_service",
        "quality_monitoring",
        "csc_monitoring",
    }


@pytest.mark.parametrize("path", DIAGRAMS, ids=lambda p: p.stem)
def test_every_element_is_named_in_kyrgyz_russian_and_english(path: Path) -> None:
    root = load(path)
    processes = root.findall("bpmn:process", NS)
    assert processes
    for process in processes:
        p = props(process)
        assert CYRILLIC.search(process.get("name") or "") and p.get("name_ru") and p.get("name_en"), (
            process.get("id")
        )
        elements = [
            el
            for el in process.iter()
            if isinstance(el.tag, str)
            and etree.QName(el).namespace == BPMN
            and etree.QName(el).localname in FLOW_NODES
        ]
        assert elements
        for el in elements:
            p = props(el)
            assert CYRILLIC.search(el.get("name") or ""), f"{path.name}: {el.get('id')} has no Kyrgyz name"
            assert CYRILLIC.search(p.get("name_ru") or ""), f"{path.name}: {el.get('id')} has no name_ru"
            assert p.get("name_en"), f"{path.name}: {el.get('id')} has no name_en"
        for flow in process.iter(f"{{{BPMN}}}sequenceFlow"):
            if flow.get("name"):
                p = props(flow)
                assert CYRILLIC.search(flow.get("name")), f"{path.name}: {flow.get('id')}"
                assert p.get("name_ru") and p.get("name_en"), f"{path.name}: {flow.get('id')}"


@pytest.mark.parametrize("path", DIAGRAMS, ids=lambda p: p.stem)
def test_every_timer_has_its_reference_and_its_rule_in_three_languages(path: Path) -> None:
    for definition in load(path).iter(f"{{{BPMN}}}timerEventDefinition"):
        event = definition.getparent()
        p = props(event)
        where = f"{path.name}: {event.get('id')}"
        assert p.get("catalogue_ref"), where
        assert p.get("rule_en"), where
        # Kyrgyz and Russian are their own texts, not the English one copied over.
        assert KYRGYZ_LETTER.search(p.get("rule_ky") or ""), where
        assert CYRILLIC.search(p.get("rule_ru") or ""), where
        assert len({p["rule_ky"], p["rule_ru"], p["rule_en"]}) == 3, where


ENGLISH_WORD = re.compile(r"\b(?:the|and|of|by|end|day|working|moved|every|quarter|report|deadline)\b", re.I)


@pytest.mark.parametrize("lang", ["ky", "ru"])
def test_the_deadline_register_speaks_kyrgyz_and_russian(session: Session, lang: str) -> None:
    rows = [row for process in deadline_register(session, lang) for row in process.deadlines]
    assert {row.process_id for row in rows} >= {"quality_monitoring", "csc_establishment", "citizen_service"}
    for row in rows:
        for text in (row.rule, row.step_name, row.timer_name, row.process_name):
            assert CYRILLIC.search(text), (row.timer_id, text)
            assert not ENGLISH_WORD.search(text), (row.timer_id, text)
