"""Process D through the persisted engine: every path, with the clock moved, state round-tripped."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.bpmn import workflow as wfapi
from engine.platform.errors import InvalidData
from engine.platform.models import AuditEvent, HumanTask, ProcessInstance, Timer, User
from engine.runtime import cases
from engine.runtime.context import Kyzmat
from tests.conftest import RECEPTION

BISHKEK_OFFSET = "+06:00"


class Walk:
    """Drives one case step by step as the right users, round-tripping the state after each step."""

    def __init__(self, kz: Kyzmat, session: Session, user: Callable[[str], User]) -> None:
        self.kz, self.session, self.user = kz, session, user
        self.instance: ProcessInstance | None = None

    def start(self, username: str = "operator") -> ProcessInstance:
        self.instance = cases.start_case(self.kz, self.session, self.user(username), "citizen_service")
        self.session.flush()
        self.check_round_trip()
        return self.instance

    def open_tasks(self, step_id: str) -> list[HumanTask]:
        assert self.instance is not None
        return list(
            self.session.scalars(
                select(HumanTask)
                .where(
                    HumanTask.instance_id == self.instance.id,
                    HumanTask.status == "open",
                    HumanTask.step_id == step_id,
                )
                .order_by(HumanTask.id)
            )
        )

    def open_task(self, step_id: str) -> HumanTask:
        rows = self.open_tasks(step_id)
        assert len(rows) == 1, (step_id, self.open_steps())
        return rows[0]

    def open_steps(self) -> list[str]:
        assert self.instance is not None
        return sorted(
            self.session.scalars(
                select(HumanTask.step_id).where(
                    HumanTask.instance_id == self.instance.id, HumanTask.status == "open"
                )
            )
        )

    def complete(self, step_id: str, data: dict[str, Any], username: str = "operator") -> None:
        task = self.open_task(step_id)
        cases.complete_task(self.kz, self.session, self.user(username), task.id, data, lang="en")
        self.session.flush()
        self.check_round_trip()

    def restored(self) -> Any:
        """The case's workflow rebuilt from its saved state alone."""
        assert self.instance is not None
        version = self.kz.version(self.session, self.instance.version_id)
        return wfapi.restore(self.instance.state, version.bundle, self.kz.script_engine())

    def data(self) -> dict[str, Any]:
        return wfapi.case_data(self.restored())

    # Diagrams with sub-processes or multi-instance steps may restore a child's data keys in another
    # order: their walks compare the state as JSON values instead of as text.
    same_key_order = True

    def check_round_trip(self) -> None:
        """Restore the saved state from scratch: same open steps, same waiting timers, sandbox attached."""
        assert self.instance is not None
        wf = self.restored()
        assert wf.script_engine is self.kz.script_engine()
        assert sorted(t.step_id for t in wfapi.ready_user_tasks(wf)) == self.open_steps()
        waiting = {t.uuid for t in wfapi.waiting_timers(wf)}
        rows = set(
            self.session.scalars(
                select(Timer.task_uuid).where(
                    Timer.instance_id == self.instance.id, Timer.status == "waiting"
                )
            )
        )
        assert waiting == rows
        if self.same_key_order:
            assert wfapi.serialize(wf) == self.instance.state
        else:
            assert json.loads(wfapi.serialize(wf)) == json.loads(self.instance.state)

    def fired_timers(self) -> list[str]:
        assert self.instance is not None
        return list(
            self.session.scalars(
                select(AuditEvent.step_id)
                .where(AuditEvent.instance_id == self.instance.id, AuditEvent.action == "timer_fired")
                .order_by(AuditEvent.id)
            )
        )

    def end_event(self) -> str | None:
        assert self.instance is not None
        event = self.session.scalar(
            select(AuditEvent).where(
                AuditEvent.instance_id == self.instance.id, AuditEvent.action == "case_completed"
            )
        )
        return None if event is None else event.detail["end"]


@pytest.fixture
def walk(kz: Kyzmat, session: Session, user: Callable[[str], User]) -> Walk:
    return Walk(kz, session, user)


def intake(walk: Walk, service_code: str, **reception: Any) -> None:
    walk.start()
    walk.complete("D_02_reception", {**RECEPTION, "service_code": service_code, **reception})
    walk.complete("D_03_advise", {"documents_help_given": True})


ALL_DOCS = {"M2": ["application", "id_document", "house_book"]}


@time_machine.travel(datetime(2026, 11, 18, 10, 0, tzinfo=UTC), tick=False)
def test_document_issued_by_the_aiyl_okmotu(walk: Walk, session: Session) -> None:
    intake(walk, "M2")
    walk.complete("D_06_check_documents", {"documents_received": ALL_DOCS["M2"], "documents_complete": True})
    data = walk.data()
    # Wed 18 Nov 2026 (16:00 in Bishkek) + 3 working days = Mon 23 Nov.
    assert data["registration"]["number"] == "DS-2026-00001"
    assert data["result_due"] == "2026-11-23T23:59:59" + BISHKEK_OFFSET
    walk.complete("D_09_issue_receipt", {"receipt_handed_over": True})
    forward = walk.open_task("D_10_forward")
    assert forward.due_at == datetime(2026, 11, 19, 17, 59, 59, tzinfo=UTC)  # end of Thu 19 Nov in Bishkek
    walk.complete("D_10_forward", {"forwarded_to": "Айыл өкмөтүнүн катчысы"})
    prepare = walk.open_task("D_11_prepare_municipal")
    assert prepare.role == "ao_specialist"
    assert prepare.due_at == datetime(2026, 11, 23, 17, 59, 59, tzinfo=UTC)
    walk.complete(
        "D_11_prepare_municipal",
        {"outcome": "document", "document_number": "142", "result_transferred_to_csc": True},
        username="specialist",
    )
    walk.complete(
        "D_13_hand_over",
        {
            "outcome": "document",
            "result_handed_over": True,
            "handed_over_on": "2026-11-20",
            "evaluation_sheet_offered": True,
        },
    )
    assert walk.instance is not None and walk.instance.status == "completed"
    assert walk.end_event() == "D_13_end_served"
    # Every timer that was waiting was cancelled when its step finished; none fired.
    statuses = set(session.scalars(select(Timer.status).where(Timer.instance_id == walk.instance.id)))
    assert statuses == {"cancelled"}


@time_machine.travel(datetime(2026, 11, 18, 10, 0, tzinfo=UTC), tick=False)
def test_hand_over_date_before_the_registration_date_is_refused(
    walk: Walk, session: Session, user: Callable[[str], User]
) -> None:
    """The result cannot be handed over before the case was registered (18 Nov): the step stays open,
    the clerk gets the reason in their language and what they entered comes back to them."""
    intake(walk, "M2")
    walk.complete("D_06_check_documents", {"documents_received": ALL_DOCS["M2"], "documents_complete": True})
    walk.complete("D_09_issue_receipt", {"receipt_handed_over": True})
    walk.complete("D_10_forward", {"forwarded_to": "Айыл өкмөтүнүн катчысы"})
    walk.complete(
        "D_11_prepare_municipal",
        {"outcome": "document", "document_number": "142", "result_transferred_to_csc": True},
        username="specialist",
    )
    hand_over = walk.open_task("D_13_hand_over")
    entered = {
        "outcome": "document",
        "result_handed_over": True,
        "handed_over_on": "2026-11-17",
        "evaluation_sheet_offered": True,
    }
    with pytest.raises(InvalidData) as refused:
        cases.complete_task(walk.kz, session, user("operator"), hand_over.id, entered, lang="ky")
    assert refused.value.errors == {"handed_over_on": "Бул күн 18.11.2026 күнүнөн эрте боло албайт."}
    assert refused.value.data == entered
    assert walk.open_steps() == ["D_13_hand_over"] and walk.instance.status == "running"
    walk.complete("D_13_hand_over", {**entered, "handed_over_on": "2026-11-18"})  # the same day is fine
    assert walk.instance.status == "completed"


@time_machine.travel(datetime(2026, 11, 18, 4, 0, tzinfo=UTC), tick=False)
def test_refused_at_intake_keeps_the_journal_entry(walk: Walk) -> None:
    intake(walk, "M1")
    walk.complete(
        "D_06_check_documents",
        {
            "documents_received": ["application"],
            "documents_complete": False,
            "refusal_reason": "Үй китеби жок",
        },
    )
    assert walk.data()["registration"]["number"] == "DS-2026-00001"
    walk.complete(
        "D_08_refuse_intake",
        {"refusal_reason": "Үй китеби жок", "complaint_rights_explained": True, "documents_returned": True},
    )
    assert walk.end_event() == "D_08_end_refused"
    assert walk.instance is not None and walk.instance.reference == "DS-2026-00001"


@time_machine.travel(datetime(2026, 11, 18, 4, 0, tzinfo=UTC), tick=False)
def test_state_service_is_consultation_only(walk: Walk) -> None:
    intake(walk, "S1")
    assert walk.open_steps() == ["D_04_state_consultation"]
    walk.complete(
        "D_04_state_consultation",
        {
            "notification_help_given": True,
            "schedule_and_contacts_given": True,
            "next_step": "visit_state_body",
        },
    )
    assert walk.end_event() == "D_04_end_consulted"
    assert "registration" not in walk.data()  # nothing was registered for forwarding


@time_machine.travel(datetime(2026, 11, 18, 4, 0, tzinfo=UTC), tick=False)
def test_remote_village_gets_out_of_queue_priority(walk: Walk) -> None:
    walk.start()
    walk.complete("D_02_reception", {**RECEPTION, "remote_village": True, "service_code": "M2"})
    assert walk.open_task("D_03_advise").priority == "high"


@time_machine.travel(datetime(2026, 11, 18, 4, 0, tzinfo=UTC), tick=False)
def test_refused_by_the_body(walk: Walk) -> None:
    intake(walk, "M5")
    walk.complete(
        "D_06_check_documents",
        {
            "documents_received": ["application", "id_document", "house_book", "lender_request"],
            "documents_complete": True,
        },
    )
    walk.complete("D_09_issue_receipt", {"receipt_handed_over": True})
    walk.complete("D_10_forward", {"forwarded_to": "Айыл өкмөтү"})
    walk.complete(
        "D_11_prepare_municipal",
        {
            "outcome": "refusal",
            "result_refusal_reason": "Насыя карызы бар",
            "result_transferred_to_csc": True,
        },
        username="specialist",
    )
    walk.complete(
        "D_13_hand_over",
        {
            "outcome": "refusal",
            "result_refusal_reason": "Насыя карызы бар",
            "refusal_explained": True,
            "handed_over_on": "2026-11-19",
            "evaluation_sheet_offered": False,
        },
    )
    assert walk.end_event() == "D_13_end_refused"


def test_document_issued_by_a_state_body_under_an_agreement(walk: Walk, kz: Kyzmat) -> None:
    """A state body that takes part in the CSC (AMB-C16): the file goes to the state_body lane."""
    kz.catalogue.get("S2").csc_mode = "intake_and_forward"
    try:
        with time_machine.travel(datetime(2026, 11, 18, 4, 0, tzinfo=UTC), tick=False):
            intake(walk, "S2")
            walk.complete(
                "D_06_check_documents",
                {
                    "documents_received": [
                        "application",
                        "medical_birth",
                        "id_document",
                        "marriage_certificate",
                    ],
                    "documents_complete": True,
                    "identity_confirmed": True,
                    "entitlement_confirmed": True,
                },
            )
            walk.complete("D_09_issue_receipt", {"receipt_handed_over": True})
            walk.complete("D_10_forward", {"forwarded_to": "ЗАГС"})
            assert walk.open_task("D_11_prepare_state").role == "state_body"
            walk.complete(
                "D_11_prepare_state",
                {"outcome": "document", "document_number": "ТК-77", "result_transferred_to_csc": True},
                username="zags",
            )
            walk.complete(
                "D_13_hand_over",
                {
                    "outcome": "document",
                    "result_handed_over": True,
                    "handed_over_on": "2026-11-19",
                    "evaluation_sheet_offered": True,
                },
            )
            assert walk.end_event() == "D_13_end_served"
    finally:
        kz.catalogue.get("S2").csc_mode = "consult_only"


def test_forwarding_overdue_timer_fires_once(walk: Walk, kz: Kyzmat, session: Session) -> None:
    with time_machine.travel(datetime(2026, 11, 18, 4, 0, tzinfo=UTC), tick=False) as clock:
        intake(walk, "M2")
        walk.complete(
            "D_06_check_documents", {"documents_received": ALL_DOCS["M2"], "documents_complete": True}
        )
        walk.complete("D_09_issue_receipt", {"receipt_handed_over": True})
        assert cases.fire_due_timers(kz, session) == 0
        clock.move_to(datetime(2026, 11, 19, 17, 59, 0, tzinfo=UTC))  # Thu 23:59 in Bishkek: still in time
        assert cases.fire_due_timers(kz, session) == 0
        clock.move_to(datetime(2026, 11, 19, 18, 0, 5, tzinfo=UTC))  # Fri 00:00:05 in Bishkek: late
        assert cases.fire_due_timers(kz, session) == 1
        assert cases.fire_due_timers(kz, session) == 0
        session.flush()
        assert walk.data()["forwarding_overdue"] is True
        fired = session.scalars(
            select(AuditEvent).where(
                AuditEvent.instance_id == walk.instance.id, AuditEvent.action == "timer_fired"
            )
        ).all()
        assert [e.step_id for e in fired] == ["D_10_forward_due"]
        # The step stays open (the timer is non-interrupting) and the case goes on.
        walk.complete("D_10_forward", {"forwarded_to": "Айыл өкмөтү"})
        assert walk.open_steps() == ["D_11_prepare_municipal"]


def test_friday_registration_before_the_may_holidays(walk: Walk) -> None:
    """Registered Thu 30 Apr 2026 evening: 1-9 May are holidays, so forwarding is due Mon 11 May."""
    with time_machine.travel(datetime(2026, 4, 30, 11, 0, tzinfo=UTC), tick=False):
        intake(walk, "M2")
        walk.complete(
            "D_06_check_documents", {"documents_received": ALL_DOCS["M2"], "documents_complete": True}
        )
        data = walk.data()
        assert data["registration"]["registered_on"] == "2026-04-30"
        # 3 working days after 30 Apr: 11, 12, 13 May.
        assert data["result_due"] == "2026-05-13T23:59:59" + BISHKEK_OFFSET
        walk.complete("D_09_issue_receipt", {"receipt_handed_over": True})
        assert walk.open_task("D_10_forward").due_at == datetime(2026, 5, 11, 17, 59, 59, tzinfo=UTC)


def test_friday_registration_before_the_new_year_week(walk: Walk) -> None:
    """Registered Thu 31 Dec 2026: 1-7 Jan are holidays; forwarding is due Fri 8 Jan 2027."""
    with time_machine.travel(datetime(2026, 12, 31, 5, 0, tzinfo=UTC), tick=False):
        intake(walk, "M2")
        walk.complete(
            "D_06_check_documents", {"documents_received": ALL_DOCS["M2"], "documents_complete": True}
        )
        walk.complete("D_09_issue_receipt", {"receipt_handed_over": True})
        assert walk.open_task("D_10_forward").due_at == datetime(2027, 1, 8, 17, 59, 59, tzinfo=UTC)
        assert walk.data()["result_due"] == "2027-01-12T23:59:59" + BISHKEK_OFFSET


def test_journal_numbers_are_sequential_per_municipality(
    walk: Walk, kz: Kyzmat, session: Session, user: Callable[[str], User]
) -> None:
    with time_machine.travel(datetime(2026, 11, 18, 4, 0, tzinfo=UTC), tick=False):
        numbers = []
        for _ in range(3):
            intake(walk, "M2")
            numbers.append(walk.data()["registration"]["number"])
        other = Walk(kz, session, user)
        other.start("operator2")
        other.complete("D_02_reception", {**RECEPTION, "service_code": "M2"}, username="operator2")
        other.complete("D_03_advise", {"documents_help_given": True}, username="operator2")
        assert numbers == ["DS-2026-00001", "DS-2026-00002", "DS-2026-00003"]
        assert other.data()["registration"]["number"] == "KA-2026-00001"


def test_state_keeps_types_through_serialization(walk: Walk) -> None:
    """Big integers and datetimes in case data come back as themselves (orjson writes the
    common case; integers beyond 64 bits fall back to the json module; dates go through
    SpiffWorkflow's registry rather than becoming strings)."""
    intake(walk, "M2")
    version = walk.kz.version(walk.session, walk.instance.version_id)
    wf = wfapi.restore(walk.instance.state, version.bundle, walk.kz.script_engine())
    when = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
    wf.data.update(big=10**30, when=when, ratio=0.5, text="Кара-Булак")
    again = wfapi.restore(wfapi.serialize(wf), version.bundle, walk.kz.script_engine())
    assert again.data["big"] == 10**30 and isinstance(again.data["big"], int)
    assert again.data["when"] == when
    assert (again.data["ratio"], again.data["text"]) == (0.5, "Кара-Булак")
    del wf.data["big"]
    assert wfapi.restore(wfapi.serialize(wf), version.bundle, walk.kz.script_engine()).data["when"] == when
