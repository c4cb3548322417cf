"""Process E and CSC monitoring as files: names, lanes, deadlines, forms and drawing of both diagrams."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from lxml import etree

from engine.accounts.roles import KNOWN_ROLES
from engine.definitions.checks import check_diagram
from engine.forms import schema as formlib

ROOT = Path(__file__).resolve().parent.parent
FORMS = ROOT / "forms"
NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
}
FLOW_NODES = {
    "startEvent",
    "endEvent",
    "userTask",
    "scriptTask",
    "serviceTask",
    "exclusiveGateway",
    "parallelGateway",
    "boundaryEvent",
    "intermediateCatchEvent",
}
# The section-8 deadlines of Process E: (catalogue reference, timer id, attached to, expression).
DEADLINES = [
    ("§8 #11", "E_03_send_list_due", "E_03_send_list", "fixed_date(monitoring_year, 4, 20)"),
    ("§8 #14, #15", "E_07_submit_reports_due", "E_07_submit_reports", "fixed_date(monitoring_year, 10, 20)"),
    ("§8 #16", "E_09_final_report_due", "E_09_final_report", "fixed_date(monitoring_year, 11, 15)"),
    ("§8 #17", "E_10_submit_report_due", "E_10_submit_report", "fixed_date(monitoring_year, 11, 20)"),
    ("§8 #18", "E_12_draft_plan_due", "E_12_draft_plan", "fixed_date(monitoring_year, 11, 30)"),
    ("§8 #18", "E_12_consent_due", "E_12_consent", "fixed_date(monitoring_year, 11, 30)"),
]
QUARTER_TIMERS = {f"E_06_q{q}_ended": f"quarter_end(monitoring_year, {q})" for q in (1, 2, 3, 4)}
FILES = {"quality_monitoring": r"^E_(\d\d|G\d)_[a-z0-9_]+$", "csc_monitoring": r"^CSC_MON_\d\d_[a-z0-9_]+$"}


def load(process_id: str) -> tuple[etree._Element, etree._Element]:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring((ROOT / "processes" / f"{process_id}.bpmn").read_bytes(), parser)
    (process,) = root.findall("bpmn:process", NS)
    return root, process


def props(element: etree._Element) -> dict[str, str]:
    return {
        p.get("name"): p.get("value")
        for p in element.findall("bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS)
    }


def nodes(process: etree._Element) -> list[etree._Element]:
    return [el for el in process if etree.QName(el).localname in FLOW_NODES]


def form_path(process_id: str, task: etree._Element) -> Path:
    return FORMS / (props(task).get("formJsonSchemaFilename") or f"{process_id}/{task.get('id')}.json")


@pytest.mark.parametrize("process_id", sorted(FILES))
def test_the_loader_accepts_it(process_id: str) -> None:
    path = ROOT / "processes" / f"{process_id}.bpmn"
    assert check_diagram(path.read_bytes(), path.name, forms_dir=FORMS, dmn={}) == []


@pytest.mark.parametrize("process_id", sorted(FILES))
def test_every_element_has_three_names_a_reference_and_a_lane(process_id: str) -> None:
    _, process = load(process_id)
    cyrillic = re.compile(r"[А-Яа-яӨөҮүҢң]")
    lanes = process.findall("bpmn:laneSet/bpmn:lane", NS)
    assert all(lane.get("name") in KNOWN_ROLES for lane in lanes)
    lane_of = {ref.text: lane.get("name") for lane in lanes for ref in lane.findall("bpmn:flowNodeRef", NS)}
    for el in nodes(process):
        p = props(el)
        assert cyrillic.search(el.get("name") or ""), el.get("id")
        assert p.get("name_ru") and p.get("name_en") and p.get("catalogue_ref"), el.get("id")
        assert re.match(FILES[process_id], el.get("id")), el.get("id")
        assert el.get("id") in lane_of, el.get("id")
    for flow in process.findall("bpmn:sequenceFlow", NS):
        if flow.get("name"):
            assert props(flow).get("name_ru") and props(flow).get("name_en"), flow.get("id")


def test_process_e_lanes_and_scope() -> None:
    _, process = load("quality_monitoring")
    p = props(process)
    assert p["scope"] == "national" and p["starter_roles"] == "monitoring_executor"
    assert p["reference_variable"] == "monitoring_year"
    lanes = {
        lane.get("name"): {r.text for r in lane.findall("bpmn:flowNodeRef", NS)}
        for lane in process.findall("bpmn:laneSet/bpmn:lane", NS)
    }
    assert set(lanes) == {"monitoring_executor", "authorized_body_head", "ao_specialist"}
    assert {"E_02_approve_list", "E_11_collegium", "E_12_consent"} <= lanes["authorized_body_head"]
    assert "E_07_submit_reports" in lanes["ao_specialist"]


def test_one_parallel_branch_per_provider_not_a_gateway_loop() -> None:
    _, process = load("quality_monitoring")
    task = process.find("bpmn:userTask[@id='E_07_submit_reports']", NS)
    mi = task.find("bpmn:multiInstanceLoopCharacteristics", NS)
    assert mi is not None and mi.get("isSequential") in (None, "false")
    assert mi.find("bpmn:loopDataInputRef", NS).text == "providers"
    assert mi.find("bpmn:inputDataItem", NS).get("name") == "task_municipality"
    assert mi.find("bpmn:loopDataOutputRef", NS).text == "provider_reports"
    # The only backward flow is the plan's revision loop (E-G2 "No"), a short loop by nature.
    back = [f for f in process.findall("bpmn:sequenceFlow", NS) if f.get("targetRef") == "E_12_merge"]
    assert {f.get("sourceRef") for f in back} == {"E_11_collegium", "E_G2_consent"}


def test_deadlines_are_the_section_8_rules_and_nothing_else() -> None:
    _, process = load("quality_monitoring")
    found, waits = [], {}
    for definition in process.iterfind(".//bpmn:timerEventDefinition", NS):
        event = definition.getparent()
        expression = definition.find("bpmn:timeDate", NS).text
        p = props(event)
        assert p.get("rule_en"), event.get("id")
        if etree.QName(event).localname == "boundaryEvent":
            assert event.get("cancelActivity") == "false"
            found.append((p["catalogue_ref"], event.get("id"), event.get("attachedToRef"), expression))
        else:
            assert p["catalogue_ref"].endswith("§8 #13")
            waits[event.get("id")] = expression
    assert sorted(found) == sorted(DEADLINES)
    assert waits == QUARTER_TIMERS
    # Steps without a deadline in the text (§8.1) have no timer.
    timed = {d[2] for d in DEADLINES}
    assert not timed & {"E_01_prepare_list", "E_02_approve_list", "E_08_analysis", "E_11_collegium"}
    _, csc = load("csc_monitoring")
    assert csc.find(".//bpmn:timerEventDefinition", NS) is None


@pytest.mark.parametrize("process_id", sorted(FILES))
def test_every_user_task_has_a_valid_form_in_three_languages(process_id: str) -> None:
    _, process = load(process_id)
    used = set()
    for task in process.findall("bpmn:userTask", NS):
        path = form_path(process_id, task)
        schema = json.loads(path.read_text(encoding="utf-8"))
        Draft202012Validator.check_schema(schema)
        assert formlib.check_form_schema(schema) == [], path
        for node in [schema, *schema["properties"].values()]:
            assert all(node["x-label"].get(lang) for lang in ("ky", "ru", "en")), path
        used.add(path.name)
    assert {p.name for p in (FORMS / process_id).glob("*.json")} == used


def test_consent_asks_a_reason_only_when_refused() -> None:
    schema = formlib.load_form(FORMS, "quality_monitoring/E_12_consent.json")
    assert schema["properties"]["refusal_reason"]["x-show-if"] == {"plan_consented": False}
    assert formlib.validate(schema, {"plan_consented": True}, "en")[1] == {}
    assert set(formlib.validate(schema, {"plan_consented": False}, "en")[1]) == {"refusal_reason"}
    clean, errors = formlib.validate(schema, {"plan_consented": True, "refusal_reason": "x"}, "en")
    assert errors == {} and "refusal_reason" not in clean


def test_evaluation_sheet_answer_options_are_verbatim() -> None:
    schema = formlib.load_form(FORMS, "csc_monitoring/CSC_MON_01_collect_sheets.json")
    labels = [
        schema["properties"][f"answers_{k}"]["x-label"]["ky"]
        for k in ("fully_satisfied", "partially_satisfied", "not_satisfied", "difficult_to_answer")
    ]
    assert labels == [
        "Толук канааттанам",
        "Жарым-жартылай канааттанам",
        "Канааттанбайм",
        "Жооп берүүдөн кыйналам",
    ]


@pytest.mark.parametrize("process_id", sorted(FILES))
def test_diagram_interchange_draws_every_element(process_id: str) -> None:
    root, process = load(process_id)
    shapes = {s.get("bpmnElement") for s in root.iterfind(".//bpmndi:BPMNShape", NS)}
    edges = {e.get("bpmnElement") for e in root.iterfind(".//bpmndi:BPMNEdge", NS)}
    assert {el.get("id") for el in nodes(process)} <= shapes
    assert {f.get("id") for f in process.findall("bpmn:sequenceFlow", NS)} == edges
