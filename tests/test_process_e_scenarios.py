"""Process E (annual quality monitoring) and CSC monitoring through the persisted engine.

Every path, with the clock moved by time-machine and the state round-tripped after each step.
The monitoring year is 2026: 20 April is a Monday, 20 October a Tuesday, 15 November a Sunday
(due Monday 16 November), 20 November a Friday, 30 November a Monday.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.accounts import users as accounts
from engine.calendar.days import WorkingCalendar, sandbox_helpers
from engine.monitoring.annual import start_due_annual_cases
from engine.platform.errors import Forbidden, InvalidData
from engine.platform.models import AuditEvent, HumanTask, Municipality, ProcessInstance, Timer, User
from engine.runtime import cases
from engine.runtime.context import Kyzmat
from tests.test_process_d_scenarios import Walk as BaseWalk


def end_of_bishkek_day(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, 17, 59, 59, tzinfo=UTC)


PROVIDERS = ["ak-suu", "kyzyl-adyr", "sadyrbaev"]
PROVIDER_USER = {"sadyrbaev": "specialist", "kyzyl-adyr": "specialist_ka", "ak-suu": "specialist_as"}


class Walk(BaseWalk):
    """Drives one case as the right users, round-tripping the state after each step."""

    same_key_order = False  # one branch per provider: multi-instance children

    def start(self, username: str, process_id: str) -> ProcessInstance:
        self.instance = cases.start_case(self.kz, self.session, self.user(username), process_id)
        self.session.flush()
        self.check_round_trip()
        return self.instance

    def open_task(self, step_id: str, municipality: str | None = None) -> HumanTask:
        rows = self.open_tasks(step_id)
        if municipality is not None:
            mid = self.session.scalar(select(Municipality.id).where(Municipality.code == municipality))
            rows = [r for r in rows if r.municipality_id == mid]
        assert len(rows) == 1, (step_id, municipality, self.open_steps())
        return rows[0]

    def complete(
        self, step_id: str, data: dict[str, Any], username: str, municipality: str | None = None
    ) -> None:
        task = self.open_task(step_id, municipality)
        cases.complete_task(self.kz, self.session, self.user(username), task.id, data, lang="en")
        self.session.flush()
        self.check_round_trip()

    def fire(self) -> int:
        fired = cases.fire_due_timers(self.kz, self.session)
        self.session.flush()
        self.check_round_trip()
        return fired


@pytest.fixture
def walk(kz: Kyzmat, session: Session, user: Callable[[str], User]) -> Walk:
    return Walk(kz, session, user)


@pytest.fixture
def providers(session: Session) -> None:
    """A third municipality and a specialist (the provider's user) in each of the three."""
    now = datetime(2025, 12, 1, tzinfo=UTC)
    accounts.create_municipality(
        session,
        code="ak-suu",
        journal_prefix="AS",
        names={"ky": "Ак-Суу айыл өкмөтү", "ru": "Айыл окмоту Ак-Суу", "en": "Ak-Suu aiyl okmotu"},
    )
    for username, code in (("specialist_ka", "kyzyl-adyr"), ("specialist_as", "ak-suu")):
        accounts.create_user(
            session,
            username=username,
            password="kyzmat-demo",
            full_name=username,
            now=now,
            grants=[("ao_specialist", code)],
        )


@pytest.fixture
def clock() -> Iterator[Any]:
    # 1 January 2026, 00:05 in Bishkek: the year has begun.
    with time_machine.travel(datetime(2025, 12, 31, 18, 5, tzinfo=UTC), tick=False) as traveller:
        yield traveller


# ------------------------------------------------------------------------------------------ forms data

LIST = {
    "monitoring_year": 2026,
    "monitoring_objects": [
        {"service_name": "Үй китебинен көчүрмө берүү", "object_kind": "individual"},
        {"service_name": "Жер тилкесин берүү", "object_kind": "complex"},
    ],
}
APPROVAL = {"approved_on": "2026-04-10", "approval_reference": "Буйрук №45"}


def report(n: int, modified: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "questionnaires_completed": n,
        "questionnaire_files": [f"att-q-{n}"],
        "quantitative_report": f"att-r-{n}",
        "applications_nine_months": 10 * n,
        "questionnaire_modified": modified,
    }
    if modified:
        data["modification_consent"] = "Кат №12, 2026-03-01"
    return data


QUARTER = {
    "results_summary": "Канааттануу 78%",
    "results_file": "att-q",
    "published_to": ["authorized_body", "providers"],
    "corrective_measures": "Кызмат көрсөтүүчүгө кат жөнөтүлдү",
}
ANALYSIS = {
    key: "…"
    for key in (
        "min_max_values",
        "problems_systematised",
        "normative_vs_actual",
        "expectations_vs_normative",
        "indicators_without_norms",
        "demand_level",
    )
}
ANALYSIS.update({f"indicator_{n}": "жетишилди" for n in range(1, 9)})
ANALYSIS["survey_results_used"] = True
FINAL_REPORT = {
    "services_and_executors": [{"service_name": "Үй китебинен көчүрмө", "executor": "Ак-Суу айыл өкмөтү"}],
    "ranking": "1. …",
    "indicators_achievement": "…",
    "problems_described": "…",
    "final_report_file": "att-report",
    "answers_database": "att-db",
}
SUBMISSION = {"report_recipient": "ЖӨБЭММА", "submitted_on": "2026-11-18"}
COLLEGIUM = {
    "collegium_date": "2026-11-24",
    "protocol_number": "7",
    "collegium_outcome": "Доклад кабыл алынды",
}
PLAN = {"planned_checks": [{"service_name": "Жер тилкесин берүү", "provider": "Кызыл-Адыр"}]}


def up_to_reports(walk: Walk) -> None:
    """E-01 to E-03: the list prepared, approved and sent to three providers."""
    walk.complete("E_01_prepare_list", LIST, "monitoring")
    walk.complete("E_02_approve_list", APPROVAL, "ministry")
    options = walk.data()["municipality_options"]
    assert [o["value"] for o in options] == PROVIDERS
    walk.complete("E_03_send_list", {"providers": PROVIDERS, "sent_on": "2026-04-15"}, "monitoring")


def after_reports(walk: Walk) -> None:
    """E-08 to E-11."""
    walk.complete("E_08_analysis", ANALYSIS, "monitoring")
    walk.complete("E_09_final_report", FINAL_REPORT, "monitoring")
    walk.complete("E_10_submit_report", SUBMISSION, "monitoring")
    walk.complete("E_11_collegium", COLLEGIUM, "ministry")


# ------------------------------------------------------------------------------------------ the annual start


def test_annual_start_once_per_year(kz: Kyzmat, session: Session, clock: Any, walk: Walk) -> None:
    started = start_due_annual_cases(kz, session)
    assert len(started) == 1
    case = started[0]
    assert case.reference == "2026" and case.municipality_id is None and case.started_by_id is None
    assert start_due_annual_cases(kz, session) == []  # idempotent
    clock.move_to(datetime(2026, 6, 1, 4, tzinfo=UTC))
    assert start_due_annual_cases(kz, session) == []  # still 2026: the case exists
    walk.instance = case
    assert walk.open_steps() == ["E_01_prepare_list"]
    # The first quarter's results open when the quarter has ended; nothing else waits on time yet.
    assert set(
        session.scalars(
            select(Timer.element_id).where(Timer.instance_id == case.id, Timer.status == "waiting")
        )
    ) == {"E_06_q1_ended"}
    clock.move_to(datetime(2026, 12, 31, 17, 59, tzinfo=UTC))  # 23:59 on 31 December in Bishkek
    assert start_due_annual_cases(kz, session) == []
    clock.move_to(datetime(2026, 12, 31, 18, 0, 1, tzinfo=UTC))  # 00:00:01 on 1 January 2027
    (next_year,) = start_due_annual_cases(kz, session)
    assert next_year.reference == "2027"
    assert start_due_annual_cases(kz, session) == []
    starts = session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "case_started", AuditEvent.process_id == "quality_monitoring"
        )
    ).all()
    assert [e.actor_id for e in starts] == [None, None]


def test_a_national_user_started_the_year_already(
    kz: Kyzmat, session: Session, clock: Any, walk: Walk
) -> None:
    walk.start("monitoring", "quality_monitoring")
    assert walk.instance is not None and walk.instance.reference == "2026"
    assert walk.open_task("E_01_prepare_list").claimed_by_id == walk.user("monitoring").id
    assert start_due_annual_cases(kz, session) == []


def test_annual_start_refuses_a_now_from_another_year(kz: Kyzmat, session: Session, clock: Any) -> None:
    with pytest.raises(ValueError, match="not in the clock's year"):
        start_due_annual_cases(kz, session, datetime(2027, 3, 1, tzinfo=UTC))
    assert (
        session.scalar(select(ProcessInstance.id).where(ProcessInstance.process_id == "quality_monitoring"))
        is None
    )


def test_only_a_national_monitoring_user_starts_it(walk: Walk, clock: Any) -> None:
    for username in ("specialist", "council", "ministry"):
        with pytest.raises(Forbidden):
            walk.start(username, "quality_monitoring")


# ------------------------------------------------------------------------------------------ the whole year


def test_whole_year_three_providers_a_late_one_and_a_refused_plan(
    walk: Walk, kz: Kyzmat, session: Session, clock: Any, providers: None, user: Callable[[str], User]
) -> None:
    (walk.instance,) = start_due_annual_cases(kz, session)
    up_to_reports(walk)

    # One branch per provider, each a step of that municipality's ao_specialist, due 20 October.
    branches = walk.open_tasks("E_07_submit_reports")
    codes = dict(session.execute(select(Municipality.id, Municipality.code)).all())
    assert sorted(codes[t.municipality_id] for t in branches) == PROVIDERS
    assert {t.role for t in branches} == {"ao_specialist"}
    assert {t.due_at for t in branches} == {end_of_bishkek_day(2026, 10, 20)}  # Tuesday
    for code, username in PROVIDER_USER.items():
        inbox = cases.list_tasks(kz, session, user(username), cases.InboxFilter(view="available"))
        assert [(t.step_id, codes[t.municipality_id]) for t in inbox.items] == [("E_07_submit_reports", code)]
    for national in ("monitoring", "ministry"):
        inbox = cases.list_tasks(kz, session, user(national), cases.InboxFilter(view="available"))
        assert "E_07_submit_reports" not in [t.step_id for t in inbox.items]
    # Another municipality's specialist and the national executor cannot act on a provider's branch.
    with pytest.raises(Forbidden):
        cases.complete_task(
            kz,
            session,
            user("specialist"),
            walk.open_task("E_07_submit_reports", "ak-suu").id,
            report(5),
            lang="en",
        )
    with pytest.raises(Forbidden):
        cases.claim_task(
            kz, session, user("monitoring"), walk.open_task("E_07_submit_reports", "sadyrbaev").id
        )
    with pytest.raises(Forbidden):
        cases.get_task(kz, session, user("specialist_ka"), walk.open_task("E_07_submit_reports", "ak-suu").id)

    # The quarters open as they end; Q1 on 1 April.
    clock.move_to(datetime(2026, 3, 31, 17, 59, tzinfo=UTC))
    assert walk.fire() == 0
    clock.move_to(datetime(2026, 3, 31, 18, 0, 1, tzinfo=UTC))
    assert walk.fire() == 1
    walk.complete("E_06_q1_results", QUARTER, "monitoring")

    # Two providers in time; a forged task_municipality in the posted data is ignored.
    clock.move_to(datetime(2026, 10, 19, 5, tzinfo=UTC))
    assert walk.fire() == 1  # Q2 has ended
    walk.complete("E_06_q2_results", QUARTER, "monitoring")
    # Q3 ended before Q2's results were issued: its step opens at once, no timer waits.
    assert "E_06_q3_results" in walk.open_steps()
    walk.complete("E_06_q3_results", QUARTER, "monitoring")
    walk.complete(
        "E_07_submit_reports",
        {**report(40, modified=True), "task_municipality": "ak-suu"},
        "specialist",
        "sadyrbaev",
    )
    walk.complete("E_07_submit_reports", report(25), "specialist_ka", "kyzyl-adyr")
    assert walk.open_task("E_07_submit_reports", "ak-suu").status == "open"

    # 20 October passes: the deadline fires once, the late provider's step stays open and is overdue.
    clock.move_to(datetime(2026, 10, 20, 17, 59, tzinfo=UTC))
    assert walk.fire() == 0
    clock.move_to(datetime(2026, 10, 20, 18, 0, 5, tzinfo=UTC))
    assert walk.fire() == 1
    assert walk.fire() == 0
    assert walk.fired_timers()[-1] == "E_07_submit_reports_due"
    assert walk.data()["reports_overdue"] is True
    overdue = cases.list_tasks(kz, session, user("specialist_as"), cases.InboxFilter(view="overdue"))
    assert [t.step_id for t in overdue.items] == ["E_07_submit_reports"]
    assert walk.open_steps() == ["E_07_submit_reports"]
    walk.complete("E_07_submit_reports", report(12), "specialist_as", "ak-suu")

    # The analysis sees every provider's submission, and no branch's municipality leaks into it.
    analysis = walk.open_task("E_08_analysis")
    assert analysis.municipality_id is None and analysis.due_at is None
    reports = walk.data()["provider_reports"]
    assert sorted((r["municipality"], r["questionnaires_completed"]) for r in reports) == [
        ("ak-suu", 12),
        ("kyzyl-adyr", 25),
        ("sadyrbaev", 40),
    ]
    assert [r["questionnaire_modified"] for r in reports if r["municipality"] == "sadyrbaev"] == [True]
    walk.complete("E_08_analysis", ANALYSIS, "monitoring")
    # 15 November 2026 is a Sunday: the final report is due at the end of Monday 16 November.
    assert walk.open_task("E_09_final_report").due_at == end_of_bishkek_day(2026, 11, 16)
    walk.complete("E_09_final_report", FINAL_REPORT, "monitoring")
    assert walk.open_task("E_10_submit_report").due_at == end_of_bishkek_day(2026, 11, 20)
    walk.complete("E_10_submit_report", SUBMISSION, "monitoring")
    assert walk.open_task("E_11_collegium").due_at is None  # no deadline in the text (AMB-E11)
    walk.complete("E_11_collegium", COLLEGIUM, "ministry")

    # The plan: refused with a reason, revised, consented.
    assert walk.open_task("E_12_draft_plan").due_at == end_of_bishkek_day(2026, 11, 30)
    assert walk.data()["plan_year"] == 2027
    walk.complete("E_12_draft_plan", {"plan_year": 2027, **PLAN}, "monitoring")
    consent = walk.open_task("E_12_consent")
    assert consent.due_at == end_of_bishkek_day(2026, 11, 30) and consent.role == "authorized_body_head"
    with pytest.raises(Forbidden):
        cases.complete_task(kz, session, user("monitoring"), consent.id, {"plan_consented": True})
    # The head answers late: the consent deadline (30 November, a Monday) fires, the step stays open.
    clock.move_to(datetime(2026, 11, 30, 18, 0, 5, tzinfo=UTC))
    assert walk.fire() == 1
    assert walk.fired_timers()[-1] == "E_12_consent_due" and walk.data()["plan_overdue"] is True
    # A refusal without its reason is rejected, and nothing is lost.
    with pytest.raises(InvalidData) as refused:
        cases.complete_task(kz, session, user("ministry"), consent.id, {"plan_consented": False}, lang="ky")
    assert set(refused.value.errors) == {"refusal_reason"}
    assert walk.open_task("E_12_consent").id == consent.id
    walk.complete(
        "E_12_consent", {"plan_consented": False, "refusal_reason": "Кызыл-Адырды кошуңуз"}, "ministry"
    )
    assert walk.open_steps() == ["E_12_draft_plan"]
    assert walk.open_task("E_12_draft_plan").due_at == end_of_bishkek_day(2026, 11, 30)
    walk.complete(
        "E_12_draft_plan", {"plan_year": 2027, "revision_note": "Кызыл-Адыр кошулду", **PLAN}, "monitoring"
    )
    walk.complete("E_12_consent", {"plan_consented": True}, "ministry")
    assert walk.instance is not None and walk.instance.status == "running"  # the fourth quarter is still open
    assert walk.open_steps() == []

    clock.move_to(datetime(2026, 12, 31, 18, 0, 1, tzinfo=UTC))  # 1 January 2027 in Bishkek
    assert walk.fire() == 1
    walk.complete("E_06_q4_results", QUARTER, "monitoring")
    assert walk.instance.status == "completed"
    assert walk.end_event() == "E_12_end_plan_adopted"
    data = walk.data()
    assert [q["quarter"] for q in data["quarterly_results"]] == [1, 2, 3, 4]
    assert data["plan_consented"] is True
    assert "list_overdue" not in data and "final_report_overdue" not in data
    assert walk.fired_timers() == [
        "E_06_q1_ended",
        "E_06_q2_ended",
        "E_07_submit_reports_due",
        "E_12_consent_due",
        "E_06_q4_ended",
    ]


def test_every_deadline_fires_when_its_step_is_late(
    walk: Walk, kz: Kyzmat, session: Session, clock: Any, providers: None
) -> None:
    """Each step done after its deadline: each timer fires once, the step stays open, the case goes on."""
    (walk.instance,) = start_due_annual_cases(kz, session)
    walk.complete("E_01_prepare_list", LIST, "monitoring")
    walk.complete("E_02_approve_list", APPROVAL, "ministry")
    assert walk.open_task("E_03_send_list").due_at == end_of_bishkek_day(2026, 4, 20)  # Monday

    def late(step: str, due: datetime, flag: str) -> None:
        assert walk.open_task(step).due_at == due
        clock.move_to(due)
        walk.fire()
        assert flag not in walk.data()
        clock.move_to(due + timedelta(seconds=5))
        walk.fire()
        assert walk.data()[flag] is True
        assert walk.fired_timers()[-1] == f"{step}_due"
        assert walk.open_task(step).status == "open"

    late("E_03_send_list", end_of_bishkek_day(2026, 4, 20), "list_overdue")
    walk.complete("E_03_send_list", {"providers": ["sadyrbaev"], "sent_on": "2026-04-21"}, "monitoring")
    walk.complete("E_07_submit_reports", report(3), "specialist", "sadyrbaev")
    walk.complete("E_08_analysis", ANALYSIS, "monitoring")
    late("E_09_final_report", end_of_bishkek_day(2026, 11, 16), "final_report_overdue")
    walk.complete("E_09_final_report", FINAL_REPORT, "monitoring")
    late("E_10_submit_report", end_of_bishkek_day(2026, 11, 20), "submission_overdue")
    walk.complete("E_10_submit_report", SUBMISSION, "monitoring")
    walk.complete("E_11_collegium", COLLEGIUM, "ministry")
    late("E_12_draft_plan", end_of_bishkek_day(2026, 11, 30), "plan_overdue")
    walk.complete("E_12_draft_plan", {"plan_year": 2027, **PLAN}, "monitoring")
    # Consent asked after 30 November: the step is overdue from the moment it opens.
    consent = walk.open_task("E_12_consent")
    overdue = cases.list_tasks(kz, session, walk.user("ministry"), cases.InboxFilter(view="overdue"))
    assert [t.id for t in overdue.items] == [consent.id]
    walk.complete("E_12_consent", {"plan_consented": True}, "ministry")
    assert walk.end_event() is None  # the fourth quarter's results are still to come
    # (the first quarter's results were never issued here, so no later quarter waits)
    assert walk.fired_timers() == [
        "E_06_q1_ended",
        "E_03_send_list_due",
        "E_09_final_report_due",
        "E_10_submit_report_due",
        "E_12_draft_plan_due",
    ]


def test_fixed_dates_move_off_days_off_and_quarter_ends_do_not() -> None:
    """The helpers the timers call: 20 April 2026 (Monday) stays; 15 November 2026 (Sunday) moves."""
    h = sandbox_helpers(WorkingCalendar(), lambda: datetime(2026, 1, 1, tzinfo=UTC))
    assert h["fixed_date"](2026, 4, 20) == "2026-04-20T23:59:59+06:00"
    assert h["fixed_date"](2026, 11, 15) == "2026-11-16T23:59:59+06:00"
    assert h["fixed_date"](2027, 11, 20) == "2027-11-22T23:59:59+06:00"  # Saturday -> Monday
    assert h["quarter_end"](2026, 1) == "2026-03-31T23:59:59+06:00"
    assert h["quarter_end"](2026, 4) == "2026-12-31T23:59:59+06:00"


# ------------------------------------------------------------------------------------------ CSC monitoring


def test_csc_monitoring_from_sheets_to_the_council_session(
    walk: Walk, kz: Kyzmat, session: Session, user: Callable[[str], User]
) -> None:
    with time_machine.travel(datetime(2026, 6, 15, 5, tzinfo=UTC), tick=False):
        here = session.scalar(select(Municipality.id).where(Municipality.code == "sadyrbaev"))
        for username in ("operator", "specialist", "monitoring"):
            with pytest.raises(Forbidden):
                cases.start_case(kz, session, user(username), "csc_monitoring", municipality_id=here)
        walk.start("council", "csc_monitoring")
        assert walk.instance is not None
        assert walk.instance.municipality.code == "sadyrbaev"
        task = walk.open_task("CSC_MON_01_collect_sheets")
        assert task.role == "council_secretary" and task.due_at is None  # no deadline stated (§8.1)
        assert (
            cases.list_tasks(kz, session, user("operator2"), cases.InboxFilter(view="available")).total == 0
        )
        walk.complete(
            "CSC_MON_01_collect_sheets",
            {
                "period_from": "2026-01-01",
                "period_to": "2026-05-31",
                "sheets_short": 40,
                "sheets_full": 12,
                "answers_fully_satisfied": 120,
                "answers_partially_satisfied": 30,
                "answers_not_satisfied": 5,
                "answers_difficult_to_answer": 3,
                "unfounded_actions_yes": 1,
                "corruption_yes": 0,
                "ngos": [{"name": "«Аймак» коомдук бирикмеси"}],
                "village_head_engaged": True,
            },
            "council",
        )
        walk.complete(
            "CSC_MON_02_summarise",
            {
                "results_summary": "Жарандардын 76% толук канааттанат",
                "recommendations": "Кезекти уюштурууну жакшыртуу",
            },
            "council",
        )
        walk.complete(
            "CSC_MON_03_council_session",
            {
                "session_date": "2026-06-30",
                "decision_number": "12/3",
                "decision_summary": "Жыйынтыктар эске алынсын",
            },
            "council",
        )
        assert walk.end_event() == "CSC_MON_04_end"
        assert session.scalar(select(Timer.id).where(Timer.instance_id == walk.instance.id)) is None
