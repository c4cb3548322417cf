"""Process D (serving a citizen at the CSC): the diagram, its forms and a walk of every path.

The walks run the parsed diagram in memory with the real sandbox, the real working-day
calendar and the real service catalogue; only the registration journal is a stand-in.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine
from jsonschema import Draft202012Validator
from lxml import etree
from SpiffWorkflow import TaskState
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.spiff.serializer import DEFAULT_CONFIG as SPIFF_CONFIG

from engine.accounts.roles import KNOWN_ROLES
from engine.bpmn.sandbox import SandboxEnvironment, SandboxScriptEngine
from engine.calendar.days import BISHKEK, WorkingCalendar
from engine.calendar.days import sandbox_helpers as calendar_helpers
from engine.catalogue.services import DEFAULT_CATALOGUE_PATH, Catalogue, load_catalogue, parse_catalogue
from engine.catalogue.services import sandbox_helpers as catalogue_helpers
from engine.forms import schema as formlib

ROOT = Path(__file__).resolve().parent.parent
BPMN_FILE = ROOT / "processes" / "citizen_service.bpmn"
FORMS = ROOT / "forms"
NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
}
FLOW_NODES = (
    "startEvent",
    "endEvent",
    "userTask",
    "scriptTask",
    "serviceTask",
    "exclusiveGateway",
    "boundaryEvent",
)
USER_TASKS = {
    "D_02_reception",
    "D_03_advise",
    "D_04_state_consultation",
    "D_06_check_documents",
    "D_08_refuse_intake",
    "D_09_issue_receipt",
    "D_10_forward",
    "D_11_prepare_municipal",
    "D_11_prepare_state",
    "D_13_hand_over",
}
TIMERS = {
    "D_10_forward_due": ("D_10_forward", 'next_working_day(registration["registered_at"])'),
    "D_11_prepare_municipal_due": ("D_11_prepare_municipal", "result_due"),
    "D_11_prepare_state_due": ("D_11_prepare_state", "result_due"),
    "D_13_hand_over_due": ("D_13_hand_over", "result_due"),
}
# Monday 2 February 2026, 10:00 in Bishkek; no public holiday in February 2026 (KG calendar).
MONDAY = datetime(2026, 2, 2, 10, 0, tzinfo=BISHKEK)
SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))


# --------------------------------------------------------------------------- the diagram as XML


def _safe_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


@pytest.fixture(scope="module")
def root() -> etree._Element:
    return etree.fromstring(BPMN_FILE.read_bytes(), _safe_parser())


@pytest.fixture(scope="module")
def process(root) -> etree._Element:
    (proc,) = root.findall("bpmn:process", NS)
    return proc


def props(element: etree._Element) -> dict[str, str]:
    return {
        p.get("name"): p.get("value")
        for p in element.findall("bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS)
    }


def nodes(process: etree._Element) -> list[etree._Element]:
    return [el for el in process if etree.QName(el).localname in FLOW_NODES]


def form_path(task: etree._Element) -> Path:
    name = props(task).get("formJsonSchemaFilename") or f"citizen_service/{task.get('id')}.json"
    return FORMS / name


def test_file_and_process_properties(process):
    assert BPMN_FILE.read_bytes().startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert b"<!DOCTYPE" not in BPMN_FILE.read_bytes()
    assert process.get("id") == "citizen_service"
    assert process.get("isExecutable") == "true"
    assert process.get("name") == "ККБда жаранга кызмат көрсөтүү"
    p = props(process)
    assert p["scope"] == "municipal"
    assert p["starter_roles"] == "csc_operator"
    assert p["reference_variable"] == "registration.number"
    assert p["subject_variable"] == "applicant_name"
    assert p["name_ru"] and p["name_en"] and p["catalogue_ref"]


def test_every_element_has_three_names_and_a_catalogue_ref(process):
    cyrillic = re.compile(r"[А-Яа-яӨөҮүҢң]")
    for el in nodes(process):
        p = props(el)
        assert el.get("name") and cyrillic.search(el.get("name")), el.get("id")
        assert p.get("name_ru") and p.get("name_en"), el.get("id")
        assert p.get("catalogue_ref"), el.get("id")
    for flow in process.findall("bpmn:sequenceFlow", NS):
        if flow.get("name"):
            p = props(flow)
            assert p.get("name_ru") and p.get("name_en"), flow.get("id")


def test_element_ids_follow_the_catalogue_steps(process):
    pattern = re.compile(r"^D_(\d\d|G\d)_[a-z0-9_]+$")
    for el in nodes(process):
        assert pattern.match(el.get("id")), el.get("id")
    assert {el.get("id") for el in nodes(process) if etree.QName(el).localname == "userTask"} == USER_TASKS


def test_every_step_and_gateway_of_the_catalogue_is_modelled(process):
    refs = " ".join(props(el).get("catalogue_ref", "") for el in nodes(process))
    for step in (
        [f"D-{n:02d}" for n in range(1, 15)] + [f"D-G{n}" for n in range(1, 5)] + ["§8 #8", "§8 #9", "#10"]
    ):
        assert step in refs, step


def test_lanes_are_known_roles_and_hold_every_user_task(process):
    lanes = process.findall("bpmn:laneSet/bpmn:lane", NS)
    assert [lane.get("name") for lane in lanes] == ["csc_operator", "ao_specialist", "state_body"]
    assert all(lane.get("name") in KNOWN_ROLES for lane in lanes)
    lane_of = {ref.text: lane.get("name") for lane in lanes for ref in lane.findall("bpmn:flowNodeRef", NS)}
    for el in nodes(process):
        assert el.get("id") in lane_of, el.get("id")
    assert lane_of["D_11_prepare_municipal"] == "ao_specialist"
    assert lane_of["D_11_prepare_state"] == "state_body"
    assert {lane_of[t] for t in USER_TASKS - {"D_11_prepare_municipal", "D_11_prepare_state"}} == {
        "csc_operator"
    }


def test_no_activity_or_event_has_two_incoming_flows(process):
    """SpiffWorkflow bug #394: merge with a gateway, never on a task."""
    incoming: dict[str, int] = {}
    for flow in process.findall("bpmn:sequenceFlow", NS):
        incoming[flow.get("targetRef")] = incoming.get(flow.get("targetRef"), 0) + 1
    for el in nodes(process):
        if etree.QName(el).localname != "exclusiveGateway":
            assert incoming.get(el.get("id"), 0) <= 1, el.get("id")


def test_timers_are_non_interrupting_boundary_deadlines(process):
    found = {}
    for el in process.iterfind(".//bpmn:timerEventDefinition", NS):
        event = el.getparent()
        assert etree.QName(event).localname == "boundaryEvent"
        assert event.get("cancelActivity") == "false"
        p = props(event)
        assert p.get("rule_en") and p.get("catalogue_ref"), event.get("id")
        found[event.get("id")] = (event.get("attachedToRef"), el.find("bpmn:timeDate", NS).text)
    assert found == TIMERS


def test_every_user_task_has_a_valid_form(process):
    for task in process.findall("bpmn:userTask", NS):
        path = form_path(task)
        assert path.is_file(), path
        schema = json.loads(path.read_text(encoding="utf-8"))
        Draft202012Validator.check_schema(schema)
        assert formlib.check_form_schema(schema) == [], path
        assert schema["x-label"]["ky"] and schema["x-label"]["ru"] and schema["x-label"]["en"]
    shipped = {p.name for p in (FORMS / "citizen_service").glob("*.json")}
    used = {form_path(t).name for t in process.findall("bpmn:userTask", NS)}
    assert shipped == used


def test_diagram_interchange_draws_every_element(root, process):
    shapes = {s.get("bpmnElement"): s.find("dc:Bounds", NS) for s in root.iterfind(".//bpmndi:BPMNShape", NS)}
    edges = {e.get("bpmnElement") for e in root.iterfind(".//bpmndi:BPMNEdge", NS)}
    participant = root.find("bpmn:collaboration/bpmn:participant", NS)
    assert participant.get("processRef") == "citizen_service"
    assert participant.get("id") in shapes
    for lane in process.findall("bpmn:laneSet/bpmn:lane", NS):
        assert lane.get("id") in shapes
    for el in nodes(process):
        assert el.get("id") in shapes, el.get("id")
    assert {f.get("id") for f in process.findall("bpmn:sequenceFlow", NS)} == edges

    def box(element_id):
        b = shapes[element_id]
        return tuple(float(b.get(k)) for k in ("x", "y", "width", "height"))

    placed = [el.get("id") for el in nodes(process) if etree.QName(el).localname != "boundaryEvent"]
    for i, a in enumerate(placed):
        ax, ay, aw, ah = box(a)
        for b in placed[i + 1 :]:
            bx, by, bw, bh = box(b)
            assert ax + aw <= bx or bx + bw <= ax or ay + ah <= by or by + bh <= ay, (a, b)


# --------------------------------------------------------------------------- running it


class Journal:
    """Stands in for the register_in_journal operator (engine/operators.py)."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def register(self, data: dict[str, Any]) -> dict[str, Any]:
        now = datetime.now(BISHKEK)
        sequence = len(self.entries) + 1
        entry = {
            "number": f"DS-{now.year}-{sequence:05d}",
            "sequence": sequence,
            "registered_at": now.isoformat(timespec="seconds"),
            "registered_on": now.date().isoformat(),
        }
        self.entries.append(
            {"applicant_name": data.get("applicant_name"), "service_code": data.get("service_code"), **entry}
        )
        return entry


class ProcessDEngine(SandboxScriptEngine):
    """The real sandbox with the calendar and catalogue helpers; service tasks go to the journal."""

    def __init__(self, catalogue: Catalogue, journal: Journal) -> None:
        helpers = {
            **calendar_helpers(WorkingCalendar(), lambda: datetime.now(BISHKEK)),
            **catalogue_helpers(catalogue),
        }
        super().__init__(SandboxEnvironment(helpers))
        self.journal = journal

    def call_service(
        self, task: Any, operation_name: str | None = None, operation_params: dict | None = None, **_: Any
    ) -> str:
        assert operation_name == "register_in_journal"
        assert operation_params == {}
        return json.dumps(self.journal.register(dict(task.data)))


@pytest.fixture(scope="module")
def spec():
    parser = SpiffBpmnParser(validator=VALIDATOR)
    parser.add_bpmn_xml(etree.fromstring(BPMN_FILE.read_bytes(), _safe_parser()), filename=BPMN_FILE.name)
    return parser.get_spec("citizen_service")


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue(DEFAULT_CATALOGUE_PATH)


@pytest.fixture(scope="module")
def agreed_catalogue() -> Catalogue:
    """The catalogue of a municipality where the State Registration Service takes part in the CSC (AMB-C16)."""
    data = json.loads(DEFAULT_CATALOGUE_PATH.read_text(encoding="utf-8"))
    for entry in data["services"]:
        if entry["code"] == "S7":
            entry["csc_mode"] = "intake_and_forward"
    return parse_catalogue(data)


@pytest.fixture
def monday():
    with time_machine.travel(MONDAY, tick=False) as traveller:
        yield traveller


class Case:
    """One running case: start it, complete its user tasks through their forms, move time."""

    def __init__(self, spec, catalogue: Catalogue) -> None:
        self.journal = Journal()
        self.wf = BpmnWorkflow(spec, script_engine=ProcessDEngine(catalogue, self.journal))
        self.advance()

    def reload(self) -> None:
        """Save and restore the case as the runtime does between requests (task data must be JSON)."""
        engine = self.wf.script_engine
        self.wf = SERIALIZER.deserialize_json(SERIALIZER.serialize_json(self.wf))
        self.wf.script_engine = engine

    def advance(self) -> None:
        self.wf.refresh_timers()
        self.wf.do_engine_steps()
        while self.wf.get_tasks(state=TaskState.READY, manual=False):
            self.wf.do_engine_steps()

    def ready(self) -> list[str]:
        return sorted(t.task_spec.bpmn_id for t in self.wf.get_tasks(state=TaskState.READY, manual=True))

    def task(self, step: str):
        (task,) = [
            t for t in self.wf.get_tasks(state=TaskState.READY, manual=True) if t.task_spec.bpmn_id == step
        ]
        return task

    def complete(self, step: str, **values: Any) -> dict[str, Any]:
        """Validate the values with the step's form (as the server does) and complete the step."""
        task = self.task(step)
        path = form_path_of(task.task_spec)
        schema = formlib.load_form(FORMS, str(path.relative_to(FORMS)))
        clean, errors = formlib.validate(schema, values, "en", context=task.data)
        assert errors == {}, (step, errors)
        task.data.update(clean)
        task.run()
        self.advance()
        return clean

    def form_errors(self, step: str, **values: Any) -> dict[str, str]:
        task = self.task(step)
        path = form_path_of(task.task_spec)
        schema = formlib.load_form(FORMS, str(path.relative_to(FORMS)))
        return formlib.validate(schema, values, "en", context=task.data)[1]

    def completed(self) -> set[str]:
        return {
            t.task_spec.bpmn_id
            for t in self.wf.get_tasks(state=TaskState.COMPLETED)
            if t.task_spec.bpmn_id is not None
        }

    def waiting_timers(self) -> dict[str, str]:
        return {
            t.task_spec.bpmn_id: t.internal_data.get("event_value")
            for t in self.wf.get_tasks(state=TaskState.WAITING)
            if t.task_spec.bpmn_id in TIMERS
        }

    @property
    def data(self) -> dict[str, Any]:
        return self.wf.data if self.wf.is_completed() else self.wf.last_task.data


def form_path_of(task_spec) -> Path:
    name = (task_spec.extensions.get("properties") or {}).get("formJsonSchemaFilename")
    return FORMS / (name or f"citizen_service/{task_spec.bpmn_id}.json")


def receive(case: Case, service: str, remote: bool = False) -> None:
    assert case.ready() == ["D_02_reception"]
    options = case.task("D_02_reception").data["service_options"]
    assert len(options) == 27 and {"value", "label"} <= set(options[0])
    case.complete(
        "D_02_reception",
        applicant_name="Асел Токтогулова",
        village="Кара-Суу",
        remote_village=remote,
        is_representative=False,
        appeal_form="written",
        service_code=service,
    )
    assert case.ready() == ["D_03_advise"]
    assert "service_options" not in case.task("D_03_advise").data  # not carried through the whole case
    case.complete(
        "D_03_advise", documents_help_given=True, consultation_notes="Документтердин тизмеси берилди."
    )


def accept(case: Case, **identity: Any) -> None:
    documents = [d["value"] for d in case.task("D_06_check_documents").data["required_documents"]]
    case.complete("D_06_check_documents", documents_received=documents, documents_complete=True, **identity)
    assert case.ready() == ["D_09_issue_receipt"]
    case.complete("D_09_issue_receipt", receipt_handed_over=True)
    assert case.ready() == ["D_10_forward"]
    case.complete("D_10_forward", forwarded_to=case.task("D_10_forward").data["forwarded_to"])


def test_refused_at_intake(spec, catalogue, monday):
    case = Case(spec, catalogue)
    receive(case, "M2")
    assert case.ready() == ["D_06_check_documents"]
    # AMB-C12: registered before the checks.
    assert case.task("D_06_check_documents").data["registration"]["number"] == "DS-2026-00001"
    assert case.form_errors("D_06_check_documents", documents_complete=False) == {
        "refusal_reason": "This field is required."
    }
    case.complete(
        "D_06_check_documents",
        documents_received=["application"],
        documents_complete=False,
        refusal_reason="Үй китеби жок.",
    )
    assert case.ready() == ["D_08_refuse_intake"]
    assert case.task("D_08_refuse_intake").data["refusal_reason"] == "Үй китеби жок."  # prefilled
    assert "complaint_rights_explained" in case.form_errors("D_08_refuse_intake", refusal_reason="x")
    case.complete(
        "D_08_refuse_intake",
        refusal_reason="Үй китеби жок.",
        complaint_rights_explained=True,
        documents_returned=True,
        evaluation_sheet_offered=False,
    )
    assert case.wf.is_completed()
    assert "D_08_end_refused" in case.completed()
    assert case.data["intake_accepted"] is False
    assert case.data["priority"] == "normal"
    # The refused intake stays in the journal.
    assert [e["service_code"] for e in case.journal.entries] == ["M2"]


def test_interdepartmental_service_without_identity_is_refused(spec, catalogue, monday):
    case = Case(spec, catalogue)
    receive(case, "M6")
    assert case.task("D_06_check_documents").data["svc"]["interdepartmental"] is True
    # Complete documents, but identity and entitlement not confirmed: not accepted (Model Reg. 5 1.3).
    case.complete(
        "D_06_check_documents", documents_received=["application", "id_document"], documents_complete=True
    )
    assert case.ready() == ["D_08_refuse_intake"]
    assert "refusal_reason" in case.form_errors(
        "D_08_refuse_intake", complaint_rights_explained=True, documents_returned=True
    )
    case.complete(
        "D_08_refuse_intake",
        refusal_reason="Өздүгүн тактаган документ жок.",
        complaint_rights_explained=True,
        documents_returned=True,
    )
    assert "D_08_end_refused" in case.completed() and case.wf.is_completed()


def test_consult_only_state_service(spec, catalogue, monday):
    case = Case(spec, catalogue)
    receive(case, "S1")
    assert case.ready() == ["D_04_state_consultation"]
    case.complete(
        "D_04_state_consultation",
        notification_help_given=True,
        schedule_and_contacts_given=True,
        next_step="visit_state_body",
    )
    assert case.wf.is_completed()
    assert "D_04_end_consulted" in case.completed()
    assert "D_05_register" not in case.completed()
    assert case.journal.entries == [] and "registration" not in case.data


def test_document_issued_by_the_municipal_body(spec, catalogue, monday):
    case = Case(spec, catalogue)
    receive(case, "M1", remote=True)
    assert case.task("D_06_check_documents").data["priority"] == "high"
    accept(case)
    data = case.task("D_11_prepare_municipal").data
    assert data["registration"]["registered_at"] == "2026-02-02T10:00:00+06:00"
    assert data["result_due"] == "2026-02-05T23:59:59+06:00"  # 3 working days for a certificate
    assert data["forwarded_to"] == "Айыл өкмөтү"
    assert case.ready() == ["D_11_prepare_municipal"]
    assert case.waiting_timers() == {"D_11_prepare_municipal_due": "2026-02-05T23:59:59+06:00"}
    assert "document_number" in case.form_errors(
        "D_11_prepare_municipal", outcome="document", result_transferred_to_csc=True
    )
    case.complete(
        "D_11_prepare_municipal", outcome="document", document_number="123", result_transferred_to_csc=True
    )
    assert case.ready() == ["D_13_hand_over"]
    assert case.task("D_13_hand_over").data["outcome"] == "document"  # prefilled from the body's outcome
    case.complete(
        "D_13_hand_over",
        outcome="document",
        result_handed_over=True,
        handed_over_on="2026-02-05",
        evaluation_sheet_offered=True,
    )
    assert case.wf.is_completed()
    assert "D_13_end_served" in case.completed()
    assert not {"D_10_mark_overdue", "D_11_municipal_overdue", "D_13_overdue"} & case.completed()
    assert case.waiting_timers() == {}
    assert "forwarding_overdue" not in case.data and "result_overdue" not in case.data


def test_document_issued_by_a_state_body(spec, agreed_catalogue, monday):
    case = Case(spec, agreed_catalogue)
    receive(case, "S7")
    assert case.task("D_06_check_documents").data["svc"]["interdepartmental"] is True
    accept(case, identity_confirmed=True, entitlement_confirmed=True, identity_document="ID 1234567")
    assert case.ready() == ["D_11_prepare_state"]
    task = case.task("D_11_prepare_state")
    assert task.task_spec.lane == "state_body"
    assert task.data["result_due"] == "2026-03-02T23:59:59+06:00"  # 20 working days for land
    assert task.data["forwarded_to"] == agreed_catalogue.get("S7").provider.names["ky"]
    case.complete(
        "D_11_prepare_state",
        outcome="document",
        document_number="ГРС-77",
        site_visit_held=True,
        result_transferred_to_csc=True,
    )
    case.complete(
        "D_13_hand_over",
        outcome="document",
        result_handed_over=True,
        handed_over_on="2026-02-20",
        evaluation_sheet_offered=False,
    )
    assert case.wf.is_completed() and "D_13_end_served" in case.completed()
    assert "D_11_prepare_municipal" not in case.completed()


def test_refused_by_the_body(spec, catalogue, monday):
    case = Case(spec, catalogue)
    receive(case, "AL2")
    accept(case)
    assert case.ready() == ["D_11_prepare_municipal"]
    assert "result_refusal_reason" in case.form_errors(
        "D_11_prepare_municipal", outcome="refusal", result_transferred_to_csc=True
    )
    case.complete(
        "D_11_prepare_municipal",
        outcome="refusal",
        result_refusal_reason="Жалгыз бой эмес.",
        obstacle_advice="Үй-бүлө курамы тууралуу маалымкатты жаңыртыңыз.",
        result_transferred_to_csc=True,
    )
    data = case.task("D_13_hand_over").data
    assert data["outcome"] == "refusal" and data["result_refusal_reason"] == "Жалгыз бой эмес."
    assert set(
        case.form_errors(
            "D_13_hand_over",
            outcome="refusal",
            result_refusal_reason="x",
            handed_over_on="2026-02-10",
            evaluation_sheet_offered=True,
        )
    ) == {"refusal_explained"}
    case.complete(
        "D_13_hand_over",
        outcome="refusal",
        result_refusal_reason="Жалгыз бой эмес.",
        refusal_explained=True,
        handed_over_on="2026-02-10",
        evaluation_sheet_offered=True,
    )
    assert case.wf.is_completed()
    assert "D_13_end_refused" in case.completed() and "D_13_end_served" not in case.completed()


def test_forwarding_and_result_timers_fire_without_stopping_the_case(spec, catalogue, monday):
    case = Case(spec, catalogue)
    receive(case, "M3")
    documents = [d["value"] for d in case.task("D_06_check_documents").data["required_documents"]]
    case.complete("D_06_check_documents", documents_received=documents, documents_complete=True)
    case.complete("D_09_issue_receipt", receipt_handed_over=True)
    assert case.ready() == ["D_10_forward"]
    assert case.waiting_timers() == {"D_10_forward_due": "2026-02-03T23:59:59+06:00"}
    case.reload()

    monday.move_to(datetime(2026, 2, 3, 23, 59, 0, tzinfo=BISHKEK))
    case.advance()
    assert "D_10_mark_overdue" not in case.completed()  # due at the end of the next working day, not before

    monday.move_to(datetime(2026, 2, 4, 9, 0, tzinfo=BISHKEK))
    case.advance()
    assert {"D_10_forward_due", "D_10_mark_overdue", "D_10_end_overdue"} <= case.completed()
    assert case.ready() == ["D_10_forward"]  # non-interrupting: the step is still to do
    assert not case.wf.is_completed()
    case.complete("D_10_forward", forwarded_to="Айыл өкмөтүнүн жер адиси")

    case.reload()
    monday.move_to(datetime(2026, 2, 6, 9, 0, tzinfo=BISHKEK))  # result due Thu 5 Feb
    case.advance()
    assert {"D_11_prepare_municipal_due", "D_11_municipal_overdue"} <= case.completed()
    assert case.ready() == ["D_11_prepare_municipal"]
    case.complete(
        "D_11_prepare_municipal", outcome="document", document_number="7", result_transferred_to_csc=True
    )
    # The hand-over is late too: its timer is already due when the step opens.
    assert {"D_13_hand_over_due", "D_13_overdue", "D_13_end_overdue"} <= case.completed()
    case.complete(
        "D_13_hand_over",
        outcome="document",
        result_handed_over=True,
        handed_over_on="2026-02-06",
        evaluation_sheet_offered=False,
    )
    assert case.wf.is_completed()
    assert case.wf.data["forwarding_overdue"] is True
    assert case.wf.data["result_overdue"] is True
    assert "D_13_end_served" in case.completed()


def test_unknown_service_code_fails_loudly(spec, catalogue, monday):
    case = Case(spec, catalogue)
    task = case.task("D_02_reception")
    task.data.update(
        applicant_name="A",
        village="B",
        remote_village=False,
        is_representative=False,
        appeal_form="oral",
        service_code="X9",
    )
    task.run()
    with pytest.raises(Exception, match="service_info: unknown service code 'X9'"):
        case.advance()
