"""Processes B (list_dispute) and C (csc_establishment) through the persisted engine: every path,
every timer firing, every refusal, with the clock moved and the state round-tripped after each step."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.platform.errors import Forbidden, InvalidData
from engine.platform.models import AuditEvent, HumanTask, ProcessInstance, Timer, User
from engine.runtime import cases
from engine.runtime.context import Kyzmat
from tests.test_process_d_scenarios import Walk


def bishkek_end_of(year: int, month: int, day: int) -> datetime:
    """23:59:59 in Bishkek (UTC+6) of that day, as the UTC instant the read model stores."""
    return datetime(year, month, day, 17, 59, 59, tzinfo=UTC)


class CaseWalk(Walk):
    """Walk of test_process_d_scenarios for any process."""

    def __init__(self, kz: Kyzmat, session: Session, user: Callable[[str], User], process_id: str) -> None:
        super().__init__(kz, session, user)
        self.process_id = process_id

    def start(self, username: str = "head") -> ProcessInstance:
        self.instance = cases.start_case(self.kz, self.session, self.user(username), self.process_id)
        self.session.flush()
        self.check_round_trip()
        return self.instance

    def complete(self, step_id: str, data: dict[str, Any], username: str = "head") -> None:
        super().complete(step_id, data, username)

    def refused(self, step_id: str, data: dict[str, Any], username: str) -> dict[str, str]:
        """Submit invalid data: the step stays open with nothing stored, and the field errors come back."""
        assert self.instance is not None
        before = (self.instance.state, self.open_steps())
        task = self.open_task(step_id)
        with pytest.raises(InvalidData) as info:
            cases.complete_task(self.kz, self.session, self.user(username), task.id, data, lang="en")
        assert (self.instance.state, self.open_steps()) == before
        return info.value.errors

    def fired_timers(self) -> list[str]:
        assert self.instance is not None
        return [
            e.step_id
            for e in self.session.scalars(
                select(AuditEvent)
                .where(AuditEvent.instance_id == self.instance.id, AuditEvent.action == "timer_fired")
                .order_by(AuditEvent.id)
            )
        ]

    def timer_rows(self) -> list[Timer]:
        assert self.instance is not None
        return list(self.session.scalars(select(Timer).where(Timer.instance_id == self.instance.id)))


# =============================================================================== Process B

COMPLAINT = {
    "claimant_kind": "citizen",
    "claimant_name": "Нурлан Абдыкадыров",
    "claimant_contact": "Кара-Булак, Манас к. 12",
    "application_received_on": "2026-11-16",
    "complaint_about": "decision",
    "respondent": "aiyl_okmotu",
    "ground": "not_included_without_reasons",
    "service_name": "Жайкы жайыттарды пайдалануу",
    "complaint_summary": "Кызмат тизмеге себеби көрсөтүлбөстөн кошулган жок.",
}
AGREEMENT = {
    "interested_parties": "Арыз ээси; айыл өкмөтү; жайыт комитети",
    "measures_taken": "Тараптар менен сүйлөшүү өткөрүлдү.",
    "parties_invited": True,
}
CONSIDERED = {
    "consideration_date": "2026-11-25",
    "participants": "Н. Абдыкадыров; айыл өкмөтүнүн өкүлү",
    "parties_participated": True,
}
DECISION = {
    "session_date": "2026-12-02",
    "decision_number": "14/3",
    "decision_date": "2026-12-02",
    "council_decision": "rejected",
    "decision_reasons": "Кызмат Реестрде бар.",
    "al_amendment_needed": False,
}


@pytest.fixture
def dispute(kz: Kyzmat, session: Session, user: Callable[[str], User]) -> CaseWalk:
    return CaseWalk(kz, session, user, "list_dispute")


def _to_consideration(walk: CaseWalk) -> None:
    walk.start("council")
    assert walk.open_steps() == ["B_02_register_complaint"]
    walk.complete("B_02_register_complaint", COMPLAINT, username="council")
    walk.complete("B_03_seek_agreement", AGREEMENT, username="council")
    assert walk.open_steps() == ["B_04_consider_dispute"]


@time_machine.travel(datetime(2026, 11, 16, 4, 0, tzinfo=UTC), tick=False)
def test_dispute_settled_by_mutual_agreement(dispute: CaseWalk, session: Session) -> None:
    _to_consideration(dispute)
    dispute.complete(
        "B_04_consider_dispute",
        {
            **CONSIDERED,
            "dispute_outcome": "settled",
            "settlement_terms": "Кызмат кийинки өзгөртүүдө каралат.",
            "al_amendment_needed": True,
        },
        username="council",
    )
    assert dispute.end_event() == "B_G1_end_settled"
    data = dispute.data()
    assert data["al_amendment_needed"] is True  # AMB-B3: the amendment runs as a new Process A case
    assert dispute.instance is not None and dispute.instance.subject == "Нурлан Абдыкадыров"
    # No deadline in [000] §5 (§8.1): no timer, no due date on any step.
    assert dispute.timer_rows() == []
    due = set(session.scalars(select(HumanTask.due_at).where(HumanTask.instance_id == dispute.instance.id)))
    assert due == {None}


@time_machine.travel(datetime(2026, 11, 16, 4, 0, tzinfo=UTC), tick=False)
def test_council_decides_and_the_claimant_accepts(dispute: CaseWalk) -> None:
    _to_consideration(dispute)
    dispute.complete(
        "B_04_consider_dispute", {**CONSIDERED, "dispute_outcome": "not_settled"}, username="council"
    )
    assert dispute.open_steps() == ["B_04_council_decision"]
    dispute.complete("B_04_council_decision", DECISION, username="council")
    dispute.complete("B_05_claimant_response", {"claimant_accepts": True}, username="council")
    assert dispute.end_event() == "B_G2_end_accepted"
    assert dispute.data()["council_decision"] == "rejected"


@time_machine.travel(datetime(2026, 11, 16, 4, 0, tzinfo=UTC), tick=False)
def test_claimant_disagrees_and_goes_to_court(dispute: CaseWalk) -> None:
    _to_consideration(dispute)
    dispute.complete(
        "B_04_consider_dispute", {**CONSIDERED, "dispute_outcome": "not_settled"}, username="council"
    )
    dispute.complete(
        "B_04_council_decision", {**DECISION, "council_decision": "partly_upheld"}, username="council"
    )
    errors = dispute.refused("B_05_claimant_response", {"claimant_accepts": False}, "council")
    assert errors == {"court_appeal": "This field is required."}
    dispute.complete(
        "B_05_claimant_response",
        {
            "claimant_accepts": False,
            "court_appeal": "filed",
            "court_name": "Ноокат райондук соту",
            "court_filed_on": "2026-12-10",
        },
        username="council",
    )
    assert dispute.end_event() == "B_05_end_court"
    data = dispute.data()
    assert (data["court_appeal"], data["court_filed_on"]) == ("filed", "2026-12-10")


@time_machine.travel(datetime(2026, 11, 16, 4, 0, tzinfo=UTC), tick=False)
def test_dispute_forms_refuse_what_the_regulation_does_not_allow(dispute: CaseWalk) -> None:
    dispute.start("council")
    # A ground of "other" needs its description (AMB-B1).
    errors = dispute.refused("B_02_register_complaint", {**COMPLAINT, "ground": "other"}, "council")
    assert errors == {"ground_other": "This field is required."}
    dispute.complete(
        "B_02_register_complaint",
        {**COMPLAINT, "ground": "other", "ground_other": "Кабыл алынган жок"},
        username="council",
    )
    dispute.complete("B_03_seek_agreement", AGREEMENT, username="council")
    # The parties' participation is mandatory («сөзсүз түрдө»); a settlement needs its terms.
    errors = dispute.refused(
        "B_04_consider_dispute",
        {**CONSIDERED, "parties_participated": False, "dispute_outcome": "settled"},
        "council",
    )
    assert set(errors) == {"parties_participated", "settlement_terms", "al_amendment_needed"}
    # A decision needs its reasons.
    dispute.complete(
        "B_04_consider_dispute", {**CONSIDERED, "dispute_outcome": "not_settled"}, username="council"
    )
    errors = dispute.refused(
        "B_04_council_decision", {k: v for k, v in DECISION.items() if k != "decision_reasons"}, "council"
    )
    assert errors == {"decision_reasons": "This field is required."}


@time_machine.travel(datetime(2026, 11, 16, 4, 0, tzinfo=UTC), tick=False)
def test_only_the_council_handles_a_dispute(
    dispute: CaseWalk, kz: Kyzmat, session: Session, user: Callable[[str], User]
) -> None:
    dispute.start("council")
    assert dispute.instance is not None
    with pytest.raises(Forbidden):  # the head of the same aiyl okmotu
        cases.start_case(
            kz, session, user("head"), "list_dispute", municipality_id=dispute.instance.municipality_id
        )
    task = dispute.open_task("B_02_register_complaint")
    assert task.role == "council_secretary"
    for intruder in ("head", "operator"):
        with pytest.raises(Forbidden):
            cases.complete_task(kz, session, user(intruder), task.id, COMPLAINT, lang="en")
    assert dispute.open_steps() == ["B_02_register_complaint"]


# =============================================================================== Process C

U_ITEMS = {
    "u1_regulation": True,
    "u2_responsible": "specialist",
    "u3_services_list": True,
    "u4_additional_services": True,
    "u5_structural_units": True,
    "u6_premises": True,
    "u7_equipment": True,
    "u8_internet": True,
    "u9_gender_needs": True,
    "u10_schedule": "weekly",
    "u11_staff_functions": True,
}
SPECIALIST = {
    "specialist_name": "Гүлзат Мамытова",
    "specialist_position": "Башкы адис",
    "q1_experience": "service_2_years",
    "q2_education": "higher_professional",
    "q3_laws": True,
    "q4_service_acts": True,
    "q5_document_control": True,
    "q6_ict_rules": True,
    "q7_anticorruption": True,
    "appointment_date": "2027-01-14",
    "powers_granted": True,
    "material_liability_contract": True,
}
PREMISES = {
    "premises_description": "Айыл өкмөтүнүн имаратынын 1-кабаты, 3-бөлмө",
    "equipment_provided": [
        "schedule_board",
        "office_computer_equipment",
        "tables_chairs",
        "information_stands",
    ],
    "sectors": ["information", "waiting", "reception"],
    "technical_equipment": ["computer", "photocopier"],
    "undp_participated": True,
    "premises_ready_on": "2027-01-20",
}
TRAINING = {
    "trained_groups": ["csc_employee", "ao_specialists"],
    "trainees": "Г. Мамытова; Б. Жумабеков",
    "training_completed_on": "2027-01-22",
}


def adopted(decision_date: str, **extra: Any) -> dict[str, Any]:
    return {
        "decision_adopted": True,
        "session_number": "XII",
        "session_date": decision_date,
        "decision_number": "12/4",
        "decision_date": decision_date,
        "chairman_name": "Т. Асанов",
        **U_ITEMS,
        **extra,
    }


@pytest.fixture
def csc(kz: Kyzmat, session: Session, user: Callable[[str], User]) -> CaseWalk:
    return CaseWalk(kz, session, user, "csc_establishment")


def _launch_and_submit(walk: CaseWalk, order_date: str, submitted_on: str) -> None:
    walk.start("head")
    walk.complete("C_00_launch", {"launch_order_number": "47", "launch_order_date": order_date})
    assert walk.open_steps() == ["C_01_submit_draft"]
    walk.complete("C_01_submit_draft", {"submitted_on": submitted_on})
    assert walk.open_steps() == ["C_02_council_decision"]


def _preparatory_work(walk: CaseWalk) -> None:
    assert walk.open_steps() == ["C_03_responsible_specialist", "C_04_premises", "C_05_training"]
    assert walk.open_task("C_05_training").role == "ao_specialist"
    walk.complete("C_03_responsible_specialist", SPECIALIST)
    walk.complete("C_05_training", TRAINING, username="specialist")
    walk.complete("C_04_premises", PREMISES)


def test_csc_established_across_the_new_year_holidays(csc: CaseWalk) -> None:
    """Order Tue 29 Dec 2026; 1-7 Jan 2027 are holidays."""
    with time_machine.travel(datetime(2026, 12, 29, 4, 0, tzinfo=UTC), tick=False):
        csc.start("head")
        csc.complete("C_00_launch", {"launch_order_number": "47", "launch_order_date": "2026-12-29"})
        # 3 working days after Tue 29 Dec: 30 Dec, 31 Dec, Fri 8 Jan.
        assert csc.open_task("C_01_submit_draft").due_at == bishkek_end_of(2027, 1, 8)
        csc.complete("C_01_submit_draft", {"submitted_on": "2026-12-30"})
        council = csc.open_task("C_02_council_decision")
        assert council.role == "council_secretary"
        # 5 working days after Wed 30 Dec: 31 Dec, 8, 11, 12, 13 Jan.
        assert council.due_at == bishkek_end_of(2027, 1, 13)
    with time_machine.travel(datetime(2027, 1, 12, 4, 0, tzinfo=UTC), tick=False):
        csc.complete("C_02_council_decision", adopted("2027-01-12"), username="council")
        # Two weeks (14 calendar days, AMB-C4) after Tue 12 Jan: Tue 26 Jan, a working day.
        assert csc.open_task("C_04_premises").due_at == bishkek_end_of(2027, 1, 26)
        # C-03 and C-05 have no deadline in the text (§8.1).
        assert csc.open_task("C_03_responsible_specialist").due_at is None
        assert csc.open_task("C_05_training").due_at is None
        _preparatory_work(csc)
    assert csc.end_event() == "C_05_end_established"
    assert csc.instance is not None and csc.instance.reference == "47"
    assert {t.status for t in csc.timer_rows()} == {"cancelled"}
    assert csc.fired_timers() == []


def test_premises_deadline_crosses_the_may_holidays(csc: CaseWalk) -> None:
    with time_machine.travel(datetime(2026, 4, 20, 4, 0, tzinfo=UTC), tick=False):
        _launch_and_submit(csc, "2026-04-20", "2026-04-21")
        # 5 working days after Tue 21 Apr: 22, 23, 24, 27, 28 Apr.
        assert csc.open_task("C_02_council_decision").due_at == bishkek_end_of(2026, 4, 28)
        csc.complete("C_02_council_decision", adopted("2026-04-24"), username="council")
        # 24 Apr + 14 days = Fri 8 May, inside the May holidays: moved to Mon 11 May.
        assert csc.open_task("C_04_premises").due_at == bishkek_end_of(2026, 5, 11)


def test_council_rejects_then_adopts_the_revised_draft(csc: CaseWalk) -> None:
    with time_machine.travel(datetime(2026, 4, 27, 4, 0, tzinfo=UTC), tick=False):
        _launch_and_submit(csc, "2026-04-27", "2026-04-28")
        # 5 working days after Tue 28 Apr: 29, 30 Apr, then 11, 12, 13 May (1-9 May off).
        assert csc.open_task("C_02_council_decision").due_at == bishkek_end_of(2026, 5, 13)
        csc.complete(
            "C_02_council_decision",
            {
                "decision_adopted": False,
                "session_date": "2026-04-30",
                "rejection_reason": "Кызматтардын тизмеги толук эмес.",
            },
            username="council",
        )
        assert csc.open_steps() == ["C_G1_after_rejection"]
        csc.complete("C_G1_after_rejection", {"next_step": "revise"})
        resubmit = csc.open_task("C_01_resubmit")
        assert resubmit.due_at is None  # the text gives the resubmission no deadline
        csc.complete(
            "C_01_resubmit", {"changes_made": "Тизмеге баалар кошулду.", "submitted_on": "2026-05-12"}
        )
        # The council's clock restarts from the new submission: 13, 14, 15, 18, 19 May.
        assert csc.open_task("C_02_council_decision").due_at == bishkek_end_of(2026, 5, 19)
        csc.complete("C_02_council_decision", adopted("2026-05-15"), username="council")
        _preparatory_work(csc)
    assert csc.end_event() == "C_05_end_established"


@time_machine.travel(datetime(2026, 4, 27, 4, 0, tzinfo=UTC), tick=False)
def test_council_rejects_and_the_aiyl_okmotu_stops(csc: CaseWalk) -> None:
    _launch_and_submit(csc, "2026-04-27", "2026-04-28")
    csc.complete(
        "C_02_council_decision",
        {"decision_adopted": False, "session_date": "2026-04-30", "rejection_reason": "Жай жок."},
        username="council",
    )
    errors = csc.refused("C_G1_after_rejection", {"next_step": "stop"}, "head")
    assert errors == {"stop_reason": "This field is required."}
    csc.complete("C_G1_after_rejection", {"next_step": "stop", "stop_reason": "Каражат жок."})
    assert csc.end_event() == "C_G1_end_not_established"
    assert {t.status for t in csc.timer_rows()} == {"cancelled"}


def test_every_deadline_of_process_c_fires_once(csc: CaseWalk, kz: Kyzmat, session: Session) -> None:
    with time_machine.travel(datetime(2026, 2, 2, 4, 0, tzinfo=UTC), tick=False) as clock:  # Mon 2 Feb 2026
        csc.start("head")
        csc.complete("C_00_launch", {"launch_order_number": "5", "launch_order_date": "2026-02-02"})
        # Draft due Thu 5 Feb (end of the day in Bishkek).
        clock.move_to(datetime(2026, 2, 5, 17, 59, 0, tzinfo=UTC))
        assert cases.fire_due_timers(kz, session) == 0
        clock.move_to(datetime(2026, 2, 5, 18, 0, 5, tzinfo=UTC))
        assert cases.fire_due_timers(kz, session) == 1
        assert cases.fire_due_timers(kz, session) == 0
        session.flush()
        assert csc.data()["draft_overdue"] is True
        assert csc.open_steps() == ["C_01_submit_draft"]  # non-interrupting: still to do
        csc.complete("C_01_submit_draft", {"submitted_on": "2026-02-06"})
        # Council due 5 working days after Fri 6 Feb: Fri 13 Feb.
        clock.move_to(datetime(2026, 2, 13, 17, 59, 0, tzinfo=UTC))
        assert cases.fire_due_timers(kz, session) == 0
        clock.move_to(datetime(2026, 2, 13, 18, 0, 5, tzinfo=UTC))
        assert cases.fire_due_timers(kz, session) == 1
        session.flush()
        assert csc.data()["council_review_overdue"] is True  # AMB-C2: the escalation flag
        csc.complete("C_02_council_decision", adopted("2026-02-16"), username="council")
        # Premises due 16 Feb + 14 days = Mon 2 Mar.
        assert csc.open_task("C_04_premises").due_at == bishkek_end_of(2026, 3, 2)
        clock.move_to(datetime(2026, 3, 2, 18, 0, 5, tzinfo=UTC))
        assert cases.fire_due_timers(kz, session) == 1
        session.flush()
        assert csc.data()["premises_overdue"] is True
        csc.check_round_trip()
        _preparatory_work(csc)
    assert csc.fired_timers() == ["C_01_submit_draft_due", "C_02_council_decision_due", "C_04_premises_due"]
    assert csc.end_event() == "C_05_end_established"


@time_machine.travel(datetime(2026, 2, 2, 4, 0, tzinfo=UTC), tick=False)
def test_an_adopted_decision_must_carry_the_whole_checklist(csc: CaseWalk) -> None:
    _launch_and_submit(csc, "2026-02-02", "2026-02-03")
    errors = csc.refused("C_02_council_decision", adopted("2026-02-05", u9_gender_needs=False), "council")
    assert errors == {"u9_gender_needs": "This box must be ticked."}
    missing = {k: v for k, v in adopted("2026-02-05").items() if k not in ("u2_responsible", "decision_date")}
    assert set(csc.refused("C_02_council_decision", missing, "council")) == {
        "u2_responsible",
        "decision_date",
    }
    errors = csc.refused(
        "C_02_council_decision", {"decision_adopted": False, "session_date": "2026-02-05"}, "council"
    )
    assert errors == {"rejection_reason": "This field is required."}


@time_machine.travel(datetime(2026, 2, 2, 4, 0, tzinfo=UTC), tick=False)
def test_only_the_council_records_its_decision(
    csc: CaseWalk, kz: Kyzmat, session: Session, user: Callable[[str], User]
) -> None:
    _launch_and_submit(csc, "2026-02-02", "2026-02-03")
    task = csc.open_task("C_02_council_decision")
    with pytest.raises(Forbidden):
        cases.complete_task(kz, session, user("head"), task.id, adopted("2026-02-05"), lang="en")
    assert csc.instance is not None
    with pytest.raises(Forbidden):
        cases.start_case(
            kz, session, user("council"), "csc_establishment", municipality_id=csc.instance.municipality_id
        )
