"""Processes B (list_dispute) and C (csc_establishment): the diagrams and their forms as artefacts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from lxml import etree

from engine.accounts.roles import KNOWN_ROLES
from engine.definitions.checks import check_files
from engine.forms import schema as formlib

ROOT = Path(__file__).resolve().parent.parent
FORMS = ROOT / "forms"
NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
}
FLOW_NODES = (
    "startEvent",
    "endEvent",
    "userTask",
    "scriptTask",
    "exclusiveGateway",
    "parallelGateway",
    "boundaryEvent",
)
CYRILLIC = re.compile(r"[А-Яа-яӨөҮүҢң]")
CALENDAR_CALL = re.compile(r"^(add_working_days|add_days|next_working_day|fixed_date)\(")

MODELS = {
    "list_dispute": {
        "starter": "council_secretary",
        "lanes": ["council_secretary"],
        "steps": ["B-01", "B-02", "B-03", "B-04", "B-05", "B-G1", "B-G2"],
        "timers": {},
        "ends": {"B_G1_end_settled", "B_G2_end_accepted", "B_05_end_court"},
    },
    "csc_establishment": {
        "starter": "ao_head",
        "lanes": ["ao_head", "council_secretary", "ao_specialist"],
        "steps": ["C-01", "C-02", "C-03", "C-04", "C-05", "C-G1", "§4.3", "§8 #2", "§8 #3", "§8 #4"],
        # timer -> (task, expression, catalogue_ref, Kyrgyz name verbatim from the catalogue)
        "timers": {
            "C_01_submit_draft_due": (
                "C_01_submit_draft",
                "add_working_days(launch_order_date, 3)",
                "§8 #2",
                "Үч жумушчу күндүн ичинде",
            ),
            "C_02_council_decision_due": (
                "C_02_council_decision",
                "add_working_days(submitted_on, 5)",
                "§8 #3",
                "Беш жумушчу күн ичинде",
            ),
            "C_04_premises_due": ("C_04_premises", "add_days(decision_date, 14)", "§8 #4", "Эки жума ичинде"),
        },
        "ends": {
            "C_05_end_established",
            "C_G1_end_not_established",
            "C_01_end_overdue",
            "C_02_end_overdue",
            "C_04_end_overdue",
        },
    },
}


def props(element: etree._Element) -> dict[str, str]:
    return {
        p.get("name"): p.get("value")
        for p in element.findall("bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS)
    }


@pytest.fixture(scope="module", params=sorted(MODELS))
def model(request):
    pid = request.param
    path = ROOT / "processes" / f"{pid}.bpmn"
    root = etree.fromstring(path.read_bytes(), etree.XMLParser(resolve_entities=False, no_network=True))
    (process,) = root.findall("bpmn:process", NS)
    return pid, path, root, process, MODELS[pid]


def nodes(process):
    return [el for el in process if etree.QName(el).localname in FLOW_NODES]


def test_kyzmat_processes_check_passes(model):
    _, path, *_ = model
    assert check_files([path], forms_dir=FORMS) == []


def test_process_properties(model):
    pid, _, _, process, spec = model
    assert process.get("id") == pid and process.get("isExecutable") == "true"
    assert CYRILLIC.search(process.get("name"))
    p = props(process)
    assert p["scope"] == "municipal" and p["starter_roles"] == spec["starter"]
    assert p["name_ru"] and p["name_en"] and p["catalogue_ref"]


def test_every_element_has_three_names_a_reference_and_a_lane(model):
    pid, _, _, process, spec = model
    lanes = process.findall("bpmn:laneSet/bpmn:lane", NS)
    assert [lane.get("name") for lane in lanes] == spec["lanes"]
    assert all(lane.get("name") in KNOWN_ROLES for lane in lanes)
    lane_of = {ref.text for lane in lanes for ref in lane.findall("bpmn:flowNodeRef", NS)}
    pattern = re.compile(rf"^{spec['steps'][0][0]}_(\d\d|G\d)_[a-z0-9_]+$")
    for el in nodes(process):
        p = props(el)
        assert CYRILLIC.search(el.get("name") or ""), el.get("id")
        assert p.get("name_ru") and p.get("name_en") and p.get("catalogue_ref"), el.get("id")
        assert pattern.match(el.get("id")), el.get("id")
        assert el.get("id") in lane_of, el.get("id")
    for flow in process.findall("bpmn:sequenceFlow", NS):
        if flow.get("name"):
            assert props(flow).get("name_ru") and props(flow).get("name_en"), flow.get("id")
    refs = " ".join(props(el)["catalogue_ref"] for el in nodes(process))
    for step in spec["steps"]:
        assert step in refs, step
    assert {el.get("id") for el in nodes(process) if etree.QName(el).localname == "endEvent"} == spec["ends"]


def test_no_activity_or_event_has_two_incoming_flows(model):
    *_, process, _ = model
    incoming: dict[str, int] = {}
    for flow in process.findall("bpmn:sequenceFlow", NS):
        incoming[flow.get("targetRef")] = incoming.get(flow.get("targetRef"), 0) + 1
    for el in nodes(process):
        if not etree.QName(el).localname.endswith("Gateway"):
            assert incoming.get(el.get("id"), 0) <= 1, el.get("id")


def test_every_ruled_deadline_is_a_calendar_timer_and_nothing_else_is(model):
    *_, process, spec = model
    found = {}
    for definition in process.iterfind(".//bpmn:timerEventDefinition", NS):
        event = definition.getparent()
        assert etree.QName(event).localname == "boundaryEvent" and event.get("cancelActivity") == "false"
        p = props(event)
        assert p.get("rule_ky") and p.get("rule_ru") and p.get("rule_en"), event.get("id")
        expression = definition.find("bpmn:timeDate", NS).text
        assert CALENDAR_CALL.match(expression), expression
        found[event.get("id")] = (
            event.get("attachedToRef"),
            expression,
            p["catalogue_ref"],
            event.get("name"),
        )
    assert found == spec["timers"]


def test_the_council_review_deadline_is_one_editable_number():
    """A process owner changes "5 working days" to "7" by editing one timer expression."""
    text = (ROOT / "processes" / "csc_establishment.bpmn").read_text(encoding="utf-8")
    assert text.count("add_working_days(submitted_on, 5)") == 1
    assert text.count(">add_working_days(submitted_on, 5)</bpmn:timeDate>") == 1


def test_every_user_task_has_a_valid_trilingual_form(model):
    pid, _, _, process, _ = model
    used = set()
    for task in process.findall("bpmn:userTask", NS):
        path = FORMS / pid / f"{task.get('id')}.json"
        used.add(path.name)
        schema = json.loads(path.read_text(encoding="utf-8"))
        Draft202012Validator.check_schema(schema)
        assert formlib.check_form_schema(schema) == [], path
        assert all(schema["x-label"][lang] for lang in ("ky", "ru", "en"))
        assert schema["title"] == schema["x-label"]["ky"]
    assert {p.name for p in (FORMS / pid).glob("*.json")} == used


def test_forms_carry_the_catalogue_wording():
    council = json.loads(
        (FORMS / "csc_establishment" / "C_02_council_decision.json").read_text(encoding="utf-8")
    )
    labels = {k: v["x-label"]["ky"] for k, v in council["properties"].items()}
    assert labels["u1_regulation"] == "ККБ Жобосун бекитүү"
    assert labels["u6_premises"] == "ККБ иштеши үчүн айыл өкмөтүнүн имаратынан атайын өзүнчө жай бөлүп берүү"
    assert labels["u9_gender_needs"] == (
        "Гендердик сезимталдык маселеси боюнча муктаждыктарды жана материалдык-техникалык көйгөйлөрдү аныктоо"
    )
    assert labels["chairman_name"] == "Айыл кеңешинин төрагасы (Аты-жөнү)"
    # Every U1-U11 item is required once the decision is adopted, and only then.
    (when_adopted, when_not) = council["allOf"]
    assert when_adopted["if"]["properties"] == {"decision_adopted": {"const": True}}
    u_items = sorted(k for k in council["properties"] if re.match(r"u\d+_", k))
    assert len(u_items) == 11 and set(u_items) <= set(when_adopted["then"]["required"])
    assert when_not["then"]["required"] == ["rejection_reason"]
    complaint = json.loads(
        (FORMS / "list_dispute" / "B_02_register_complaint.json").read_text(encoding="utf-8")
    )
    grounds = complaint["properties"]["ground"]["x-enum-labels"]
    assert grounds["request_refused"]["ky"] == "Сурамдарды кабыл алуудан баш тартуу"
    premises = json.loads((FORMS / "csc_establishment" / "C_04_premises.json").read_text(encoding="utf-8"))
    equipment = premises["properties"]["equipment_provided"]["x-enum-labels"]
    assert equipment["schedule_board"]["ky"] == "ККБ иш графиги көрсөтүлгөн тактайча"


def test_diagram_interchange_draws_every_element(model):
    *_, root, process, _ = model
    shapes = {s.get("bpmnElement") for s in root.iterfind(".//bpmndi:BPMNShape", NS)}
    edges = {e.get("bpmnElement") for e in root.iterfind(".//bpmndi:BPMNEdge", NS)}
    for el in nodes(process):
        assert el.get("id") in shapes, el.get("id")
    assert {f.get("id") for f in process.findall("bpmn:sequenceFlow", NS)} == edges
