"""Drafts, validation with a dry run, publication, versions, diff, rollback, export and import."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import time_machine
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.bootstrap import create_kyzmat
from engine.definitions import drafts
from engine.definitions import history as versions
from engine.definitions import publishing as processes
from engine.platform.config import REPO_ROOT
from engine.platform.errors import Forbidden
from engine.platform.models import AuditEvent, HumanTask, Municipality, ProcessVersion, User
from engine.runtime import cases
from engine.runtime.context import Kyzmat
from tests.conftest import RECEPTION

PROCESS = "citizen_service"
SHIPPED = (REPO_ROOT / "processes" / "citizen_service.bpmn").read_text(encoding="utf-8")
D10_TIMER = 'next_working_day(registration["registered_at"])'
WHEN = datetime(2026, 11, 18, 4, 0, tzinfo=UTC)  # Wed 18 Nov 2026, 10:00 in Bishkek


def edited(old: str, new: str, xml: str = SHIPPED) -> str:
    assert xml.count(old) >= 1, old
    return xml.replace(old, new, 1)


def save(session: Session, owner: User, xml: str, forms: dict | None = None) -> None:
    drafts.save_draft(session, owner, PROCESS, xml, forms or {}, now=WHEN)


def refused(kz: Kyzmat, session: Session, owner: User, xml: str) -> list:
    """Save the draft, try to publish it, and return the problems it was refused for."""
    save(session, owner, xml)
    before = versions.history(session, PROCESS)
    with pytest.raises(drafts.DraftRefused) as info:
        drafts.publish_draft(kz, session, owner, PROCESS, "a change that must not go out")
    assert versions.history(session, PROCESS) == before  # nothing was published
    assert drafts.get_draft(session, PROCESS) is not None  # and nothing the owner typed was lost
    return info.value.problems


@pytest.fixture
def owner(user: Callable[[str], User]) -> User:
    return user("owner")


# --- refusals --------------------------------------------------------------------------------------------


def test_refuses_a_script_the_sandbox_refuses(kz, session, owner):
    xml = edited(
        '<bpmn:script>priority = "high"</bpmn:script>',
        "<bpmn:script>priority = ().__class__.__base__.__subclasses__()</bpmn:script>",
    )
    problems = refused(kz, session, owner, xml)
    assert {(p.element_id, drafts.problem_kind(p)) for p in problems} == {("D_G1_priority_high", "script")}
    assert all('starts with "_"' in p.message for p in problems)


def test_refuses_a_doctype_or_an_entity(kz, session, owner):
    xml = edited(
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/passwd">]>',
    )
    problems = refused(kz, session, owner, xml)
    assert [drafts.problem_kind(p) for p in problems] == ["unsafe_xml"]
    assert "DOCTYPE" in problems[0].message


def test_refuses_an_unknown_role(kz, session, owner):
    problems = refused(kz, session, owner, edited('name="state_body">', 'name="tax_office">'))
    assert [(p.element_id, drafts.problem_kind(p)) for p in problems] == [("Lane_state_body", "role")]
    assert "'tax_office' is not a known role" in problems[0].message


def test_refuses_a_user_task_without_a_form(kz, session, owner):
    xml = edited(
        '<spiffworkflow:property name="name_en" value="Inform and advise"/>',
        '<spiffworkflow:property name="name_en" value="Inform and advise"/>'
        '<spiffworkflow:property name="formJsonSchemaFilename" value="citizen_service/D_03_missing.json"/>',
    )
    problems = refused(kz, session, owner, xml)
    assert [(p.element_id, drafts.problem_kind(p)) for p in problems] == [("D_03_advise", "form")]
    assert "has no form" in problems[0].message


@time_machine.travel(WHEN, tick=False)
def test_refuses_a_timer_that_does_not_compute_in_the_dry_run(kz, session, owner):
    # It compiles (so `processes check` passes it); the dry run finds the variable does not exist.
    xml = edited(D10_TIMER, 'next_working_day(registration["registred_at"])')
    problems = refused(kz, session, owner, xml)
    assert [(p.element_id, drafts.problem_kind(p)) for p in problems] == [("D_10_forward_due", "dry_run")]
    assert "registred_at" in problems[0].message


@time_machine.travel(WHEN, tick=False)
def test_refuses_a_timer_that_gives_no_date(kz, session, owner):
    problems = refused(kz, session, owner, edited(D10_TIMER, '"in a week"'))
    assert [p.element_id for p in problems] == ["D_10_forward_due"]


def test_refuses_a_syntax_error_in_a_condition(kz, session, owner):
    xml = edited(">not remote_village<", ">not remote_village ==<")
    problems = refused(kz, session, owner, xml)
    assert [(p.element_id, drafts.problem_kind(p)) for p in problems] == [
        ("Flow_D_G1_remote_village__D_G1_priority_normal", "condition")
    ]


def test_a_note_is_required(kz, session, owner):
    save(session, owner, SHIPPED.replace(D10_TIMER, 'add_working_days(registration["registered_at"], 2)'))
    with pytest.raises(drafts.NoteRequired):
        drafts.publish_draft(kz, session, owner, PROCESS, "  ")


def test_only_a_process_owner_may_edit_or_publish(kz, session, owner, user):
    for name in ("operator", "admin", "head"):
        with pytest.raises(Forbidden):
            drafts.save_draft(session, user(name), PROCESS, SHIPPED, {}, now=WHEN)
        with pytest.raises(Forbidden):
            drafts.publish_draft(kz, session, user(name), PROCESS, "note")
        with pytest.raises(Forbidden):
            versions.rollback(kz, session, user(name), PROCESS, 1, "note")
    save(session, owner, SHIPPED)
    with pytest.raises(Forbidden):
        drafts.publish_draft(kz, session, user("operator"), PROCESS, "note")


def test_unsafe_form_paths_are_refused(session, owner):
    for path in ("../../etc/passwd.json", "/abs.json", "citizen_service/x.py"):
        with pytest.raises(drafts.KyzmatError):
            save(session, owner, SHIPPED, {path: {"type": "object"}})


# --- publishing, history, diff, rollback ----------------------------------------------------------------


def walk_to_forward(kz: Kyzmat, session: Session, user: Callable[[str], User]) -> HumanTask:
    operator = user("operator")
    instance = cases.start_case(kz, session, operator, PROCESS)
    for step, data in (
        ("D_02_reception", {**RECEPTION, "service_code": "M2"}),
        ("D_03_advise", {"documents_help_given": True}),
        (
            "D_06_check_documents",
            {"documents_received": ["application", "id_document", "house_book"], "documents_complete": True},
        ),
        ("D_09_issue_receipt", {"receipt_handed_over": True}),
    ):
        task = session.scalar(
            select(HumanTask).where(
                HumanTask.instance_id == instance.id, HumanTask.step_id == step, HumanTask.status == "open"
            )
        )
        cases.complete_task(kz, session, operator, task.id, data, lang="en")
    forward = session.scalar(
        select(HumanTask).where(HumanTask.instance_id == instance.id, HumanTask.step_id == "D_10_forward")
    )
    assert forward is not None
    return forward


@time_machine.travel(WHEN, tick=False)
def test_publish_new_cases_follow_old_cases_keep(kz, session, owner, user):
    before = walk_to_forward(kz, session, user)
    assert before.due_at == datetime(2026, 11, 19, 17, 59, 59, tzinfo=UTC)  # next working day: Thu 19 Nov

    save(session, owner, SHIPPED.replace(D10_TIMER, 'add_working_days(registration["registered_at"], 3)'))
    check = drafts.validate_draft(
        kz, session, owner, PROCESS, drafts.get_draft(session, PROCESS).bpmn_xml, {}
    )
    assert check.ok and check.dry is not None
    assert check.dry.timers["D_10_forward_due"] == "2026-11-23T23:59:59+06:00"
    version = drafts.publish_draft(
        kz, session, owner, PROCESS, "Forwarding within 3 working days (decree 12)"
    )
    assert (version.number, version.note, version.published_by_id) == (
        2,
        "Forwarding within 3 working days (decree 12)",
        owner.id,
    )
    assert drafts.get_draft(session, PROCESS) is None
    event = session.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "version_published",
            AuditEvent.process_id == PROCESS,
            AuditEvent.actor_id == owner.id,
        )
    )
    assert event.detail["version"] == 2 and event.detail["content_hash"] == version.content_hash

    after = walk_to_forward(kz, session, user)
    assert after.due_at == datetime(2026, 11, 23, 17, 59, 59, tzinfo=UTC)  # Mon 23 Nov
    session.refresh(before)
    assert before.due_at == datetime(2026, 11, 19, 17, 59, 59, tzinfo=UTC)
    assert before.instance.version.number == 1 and after.instance.version.number == 2

    d = versions.diff(session, PROCESS, 1, 2)
    assert [(e.element_id, e.deadline) for e in d.changed] == [("D_10_forward_due", True)]
    assert d.changed[0].changes[0].before == f"timeDate: {D10_TIMER}"
    assert d.added == d.removed == [] and d.forms_changed == []
    assert [e.element_id for e in d.deadlines] == ["D_10_forward_due"]

    back = versions.rollback(kz, session, owner, PROCESS, 1, "Decree 12 withdrawn")
    assert back.number == 3 and back.content_hash == versions.get_version(session, PROCESS, 1).content_hash
    third = walk_to_forward(kz, session, user)
    assert third.due_at == datetime(2026, 11, 19, 17, 59, 59, tzinfo=UTC)
    assert third.instance.version.number == 3
    with pytest.raises(drafts.KyzmatError):
        versions.rollback(kz, session, owner, PROCESS, 1, "again")  # already the newest content


@time_machine.travel(WHEN, tick=False)
def test_a_form_edited_in_the_draft_is_published_with_the_version(kz, session, owner, user):
    v1 = versions.get_version(session, PROCESS, 1)
    form = dict(v1.forms["citizen_service/D_03_advise.json"])
    form["properties"] = {
        **form["properties"],
        "advice_note": {
            "type": "string",
            "title": "Эскертүү",
            "x-label": {"ky": "Эскертүү", "ru": "Примечание", "en": "Note"},
        },
    }
    save(session, owner, SHIPPED, {"citizen_service/D_03_advise.json": form})
    version = drafts.publish_draft(kz, session, owner, PROCESS, "A note field when advising")
    assert "advice_note" in version.forms["citizen_service/D_03_advise.json"]["properties"]
    assert versions.diff(session, PROCESS, 1, 2).forms_changed == ["citizen_service/D_03_advise.json"]
    # forms/ in the repository stays the shipped default
    assert "advice_note" not in (REPO_ROOT / "forms/citizen_service/D_03_advise.json").read_text(
        encoding="utf-8"
    )


def test_a_broken_form_in_the_draft_is_refused(kz, session, owner):
    save(
        session,
        owner,
        SHIPPED,
        {
            "citizen_service/D_03_advise.json": {
                "type": "object",
                "properties": {"x": {"type": "string", "x-widget": "no-such-widget"}},
            }
        },
    )
    with pytest.raises(drafts.DraftRefused) as info:
        drafts.publish_draft(kz, session, owner, PROCESS, "broken form")
    assert {(p.element_id, drafts.problem_kind(p)) for p in info.value.problems} == {("D_03_advise", "form")}


def test_check_form_reports_json_and_schema_errors():
    assert drafts.check_form('{"type": "object",')[1][0].startswith("not valid JSON")
    schema, errors = drafts.check_form('{"type": "object", "properties": {"a": {"type": "strin"}}}')
    assert schema is not None and errors


@time_machine.travel(WHEN, tick=False)
def test_timer_preview_gives_the_date_for_a_sample_start(kz, session, owner):
    start = datetime(2026, 12, 29, 4, 0, tzinfo=UTC)  # Tue 29 Dec; 31 Dec and 1-2 Jan... are days off?
    preview = drafts.preview_timer(
        kz,
        session,
        owner,
        PROCESS,
        SHIPPED,
        {},
        "D_10_forward_due",
        'add_working_days(registration["registered_at"], 7)',
        start,
    )
    assert preview.error is None and preview.reached
    expected = kz.calendar().add_working_days(datetime(2026, 12, 29).date(), 7)
    assert preview.due == f"{expected.isoformat()}T23:59:59+06:00"
    bad = drafts.preview_timer(
        kz,
        session,
        owner,
        PROCESS,
        SHIPPED,
        {},
        "D_10_forward_due",
        'add_working_days(registration["nope"], 7)',
        start,
    )
    assert bad.due is None and "nope" in bad.error
    refused_ = drafts.preview_timer(
        kz, session, owner, PROCESS, SHIPPED, {}, "D_10_forward_due", "().__class__", start
    )
    assert refused_.due is None and refused_.error


# --- export and import ---------------------------------------------------------------------------------


@time_machine.travel(WHEN, tick=False)
@pytest.mark.parametrize("path", sorted((REPO_ROOT / "processes").glob("*.bpmn")), ids=lambda p: p.name)
def test_export_then_import_round_trip_of_every_shipped_diagram(kz, session, owner, path):
    process_id = path.stem
    name, data = versions.export_bpmn(session, process_id)
    assert name == f"{process_id}-v1.bpmn" and data == path.read_bytes()
    draft = versions.import_bpmn(session, owner, process_id, data, now=WHEN)
    assert versions.diff_xml(path.read_text(encoding="utf-8"), draft.bpmn_xml) == ([], [], [])
    check = drafts.validate_draft(kz, session, owner, process_id, draft.bpmn_xml, {})
    assert check.ok, check.problems


BPMN_IO_FILE = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" id="Definitions_1" targetNamespace="http://bpmn.io/schema/bpmn" exporter="Camunda Modeler" exporterVersion="5.0.0">
  <bpmn:process id="Process_0x1y2z" isExecutable="false">
    <bpmn:startEvent id="StartEvent_1"><bpmn:outgoing>Flow_1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:task id="Activity_1" name="Check"><bpmn:incoming>Flow_1</bpmn:incoming><bpmn:outgoing>Flow_2</bpmn:outgoing></bpmn:task>
    <bpmn:endEvent id="Event_1"><bpmn:incoming>Flow_2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="Flow_1" sourceRef="StartEvent_1" targetRef="Activity_1" />
    <bpmn:sequenceFlow id="Flow_2" sourceRef="Activity_1" targetRef="Event_1" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="BPMNDiagram_1"><bpmndi:BPMNPlane id="BPMNPlane_1" bpmnElement="Process_0x1y2z">
    <bpmndi:BPMNShape id="S1" bpmnElement="StartEvent_1"><dc:Bounds x="100" y="100" width="36" height="36" /></bpmndi:BPMNShape>
  </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
</bpmn:definitions>"""


@time_machine.travel(WHEN, tick=False)
def test_import_a_diagram_made_in_another_bpmn_io_modeler(kz, session, owner):
    draft = versions.import_bpmn(session, owner, PROCESS, BPMN_IO_FILE, now=WHEN)
    assert 'id="citizen_service"' in draft.bpmn_xml and 'bpmnElement="citizen_service"' in draft.bpmn_xml
    check = drafts.validate_draft(kz, session, owner, PROCESS, draft.bpmn_xml, {})
    assert check.ok and check.dry.end == "Event_1"
    version = drafts.publish_draft(kz, session, owner, PROCESS, "Simplified in Camunda Modeler")
    assert version.number == 2


def test_import_refuses_an_entity(session, owner):
    evil = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        + BPMN_IO_FILE.split(b"?>", 1)[1]
    )
    with pytest.raises(drafts.DraftRefused):
        versions.import_bpmn(session, owner, PROCESS, evil, now=WHEN)
    assert drafts.get_draft(session, PROCESS) is None


# --- the command line ------------------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path):
    """The command in-process against its own committed database (the CLI commits for real)."""
    from flask.cli import ScriptInfo

    from tests.conftest import make_settings, prepare_database
    from webapp import create_app
    from webapp.cli import main

    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    engine = prepare_database(url, tmp_path)
    kz = create_kyzmat(make_settings(tmp_path, url), engine=engine)
    app = create_app({"TESTING": True}, kyzmat=kz)

    def invoke(*args: str):
        return CliRunner().invoke(
            main, list(args), obj=ScriptInfo(create_app=lambda: app), env={"FLASK_RUN_FROM_CLI": None}
        )

    invoke.kz = kz
    yield invoke
    engine.dispose()


@time_machine.travel(WHEN, tick=False)
def test_cli_publish_and_versions(cli, tmp_path):
    bad = tmp_path / "citizen_service.bpmn"
    bad.write_text(
        SHIPPED.replace(D10_TIMER, 'next_working_day(registration["registred_at"])'), encoding="utf-8"
    )
    result = cli("processes", "publish", str(bad), "--note", "typo")
    assert result.exit_code == 1
    assert "[D_10_forward_due] dry run" in result.output and "nothing was published" in result.output

    good = tmp_path / "citizen_service.bpmn"
    good.write_text(
        SHIPPED.replace(D10_TIMER, 'add_working_days(registration["registered_at"], 2)'), encoding="utf-8"
    )
    assert cli("processes", "publish", str(good)).exit_code == 2  # --note is required
    result = cli("processes", "publish", str(good), "--note", "Two working days to forward")
    assert result.exit_code == 0, result.output
    assert "citizen_service: version 2 published" in result.output

    result = cli("processes", "versions", "citizen_service")
    lines = result.output.strip().splitlines()
    assert result.exit_code == 0 and len(lines) == 2
    assert lines[0].split()[1] == "v2" and lines[0].endswith("Two working days to forward")
    with cli.kz.sessions() as s:
        assert (
            s.scalar(select(ProcessVersion.content_hash).where(ProcessVersion.number == 2))[:12] in lines[0]
        )


@time_machine.travel(WHEN, tick=False)
def test_cli_publishes_a_municipalitys_variant(cli, tmp_path):
    variant = tmp_path / "citizen_service.bpmn"
    variant.write_text(
        SHIPPED.replace(D10_TIMER, 'add_working_days(registration["registered_at"], 2)'), encoding="utf-8"
    )
    result = cli(
        "processes", "publish", str(variant), "--note", "Two days here", "--municipality", "no-such-place"
    )
    assert (
        result.exit_code != 0 and "No municipality with code 'no-such-place'; known codes: " in result.output
    )
    assert "sadyrbaev" in result.output
    result = cli(
        "processes", "publish", str(variant), "--note", "Two days here", "--municipality", "sadyrbaev"
    )
    assert result.exit_code == 0, result.output
    assert "citizen_service: version 2 published for sadyrbaev" in result.output
    with cli.kz.sessions() as s:
        sadyrbaev = s.scalar(select(Municipality.id).where(Municipality.code == "sadyrbaev"))
        assert (
            processes.latest_version(s, "citizen_service", sadyrbaev).number == 2
        )  # new cases there follow it
        assert processes.latest_version(s, "citizen_service").number == 1  # the national version is unchanged


# --- deadlines in words ------------------------------------------------------------------------------------


def test_rule_texts_follow_the_structured_deadline():
    from engine.deadlines.rules import parse_rule, rule_texts

    assert parse_rule("add_working_days(submitted_on, 7)") == {
        "rule": "working",
        "base": "submitted_on",
        "n": 7,
    }
    seven = rule_texts("add_working_days(submitted_on, 7)")
    assert seven["names"] == {
        "ky": "7 жумушчу күн ичинде",
        "ru": "В течение 7 рабочих дней",
        "en": "Within 7 working days",
    }
    assert "7th working day" in seven["rules"]["en"] and "«submitted_on»" in seven["rules"]["ru"]
    assert rule_texts("add_working_days(x, 21)")["names"]["ru"] == "В течение 21 рабочего дня"
    assert rule_texts("add_days(x, 1)")["names"]["en"] == "Within 1 calendar day"
    assert "20 октября" in rule_texts("fixed_date(monitoring_year, 10, 20)")["names"]["ru"]
    assert rule_texts("fixed_date(y, 2, 30)") is None  # not a date
    assert rule_texts("quarter_end(monitoring_year, 1)") is None  # not built by the form: the owner writes it


@time_machine.travel(WHEN, tick=False)
def test_a_changed_deadline_needs_its_rule_in_words_and_the_register_shows_the_new_one(kz, session, owner):
    from engine.deadlines.register import deadline_register
    from engine.deadlines.rules import rule_texts

    shipped = (REPO_ROOT / "processes" / "csc_establishment.bpmn").read_text(encoding="utf-8")
    seven = shipped.replace("add_working_days(submitted_on, 5)", "add_working_days(submitted_on, 7)")
    check = drafts.validate_draft(kz, session, owner, "csc_establishment", seven, {})
    assert check.ok  # a note, not a refusal
    assert [
        (n.element_id, drafts.problem_kind(n)) for n in check.notes if drafts.problem_kind(n) == "rule_words"
    ] == [("C_02_council_decision_due", "rule_words")]

    texts = rule_texts("add_working_days(submitted_on, 7)")["rules"]
    worded = seven
    for lang in ("ky", "ru", "en"):
        start = worded.index(f'name="rule_{lang}" value="', worded.index('id="C_02_council_decision_due"'))
        start += len(f'name="rule_{lang}" value="')
        worded = worded[:start] + texts[lang].replace('"', "&quot;") + worded[worded.index('"', start) :]
    check = drafts.validate_draft(kz, session, owner, "csc_establishment", worded, {})
    assert check.ok and not [n for n in check.notes if drafts.problem_kind(n) == "rule_words"]
    drafts.save_draft(session, owner, "csc_establishment", worded, {}, now=WHEN)
    drafts.publish_draft(kz, session, owner, "csc_establishment", "Council: seven working days")
    for lang, words in (("ru", "В течение 7 рабочих дней"), ("ky", "7 жумушчу күн ичинде")):
        process = next(p for p in deadline_register(session, lang) if p.process_id == "csc_establishment")
        row = next(d for d in process.deadlines if d.timer_id == "C_02_council_decision_due")
        assert (
            process.version == 2
            and row.expression == "add_working_days(submitted_on, 7)"
            and words in row.rule
        )
