"""Reminders and escalation with a moved clock: before, on and after the due date, exactly once,
per-step overrides from the diagram, and the daily digest."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import time_machine
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.calendar.days import WorkingCalendar
from engine.deadlines import reminders
from engine.definitions import publishing as processes
from engine.platform.config import REPO_ROOT
from engine.platform.models import AuditEvent, EmailOutbox, HumanTask, Notification, User
from engine.runtime.context import Kyzmat
from engine.worker import tick
from tests.citizens_support import registered_case

# Wed 18 Nov 2026, 16:00 in Bishkek. An M2 request registered now is due Mon 23 Nov (3 working days).
START = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of November 2026 in Bishkek (UTC+6), as UTC."""
    return datetime(2026, 11, day, hour - 6, minute, tzinfo=UTC)


@pytest.fixture
def prepared(kz: Kyzmat, session: Session, user: Callable[[str], User]) -> HumanTask:
    """A case whose D_11_prepare_municipal step (ao_specialist, unclaimed) is due Mon 23 Nov."""
    with time_machine.travel(START, tick=False):
        walk = registered_case(kz, session, user)  # forwarded: D_11_prepare_municipal is open
    task = walk.open_task("D_11_prepare_municipal")
    assert task.claimed_by_id is None
    assert task.due_at == datetime(2026, 11, 23, 17, 59, 59, tzinfo=UTC)
    return task


def run_at(kz: Kyzmat, session: Session, moment: datetime) -> int:
    with time_machine.travel(moment, tick=False):
        written = reminders.send_due_reminders(kz, session, kz.clock.now())
        reminders.send_digests(kz, session, kz.clock.now())
    return written


def sent(session: Session, task: HumanTask) -> list[tuple[str, str]]:
    rows = session.execute(
        select(Notification.kind, User.username)
        .join(User, User.id == Notification.user_id)
        .where(Notification.task_id == task.id)
        .order_by(Notification.id)
    )
    return [(kind, username) for kind, username in rows]


def test_reminders_before_on_and_after_the_due_date_then_escalation(kz, session, prepared):
    assert run_at(kz, session, START) == 0
    assert run_at(kz, session, local(19, 8, 59)) == 0  # before 09:00 on Thu 19 (2 working days before)
    assert run_at(kz, session, local(19, 9, 1)) == 1
    assert sent(session, prepared) == [("before_2", "specialist")]
    assert run_at(kz, session, local(20, 12)) == 0  # Friday: nothing new
    assert run_at(kz, session, local(23, 9, 30)) == 1  # Monday, the due day
    assert run_at(kz, session, local(23, 18)) == 0
    assert run_at(kz, session, local(24, 10)) == 2  # Tuesday: overdue, and the head hears of it
    assert sent(session, prepared) == [
        ("before_2", "specialist"),
        ("due", "specialist"),
        ("overdue_1", "specialist"),
        ("escalation", "head"),
    ]
    events = session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.action.in_(["reminder_sent", "escalation"]),
            AuditEvent.instance_id == prepared.instance_id,
        )
        .order_by(AuditEvent.id)
    ).all()
    assert [(e.action, e.detail["kind"], e.detail["recipients"]) for e in events] == [
        ("reminder_sent", "before_2", ["specialist"]),
        ("reminder_sent", "due", ["specialist"]),
        ("reminder_sent", "overdue_1", ["specialist"]),
        ("escalation", "escalation", ["head"]),
    ]


def test_nothing_is_sent_twice_across_two_scheduler_runs(kz, session, prepared, user):
    user("specialist").email = "specialist@example.kg"
    session.flush()
    for _ in range(2):
        with time_machine.travel(local(24, 10), tick=False):
            done = tick(kz)  # the whole worker: timers, reminders, digests, outbox
        assert done["reminders"] in (0, 2)
    assert sent(session, prepared) == [("overdue_1", "specialist"), ("escalation", "head")]
    # Only the newest reminder goes out after downtime; the stale ones are skipped, not piled up.
    assert (
        session.scalar(
            select(func.count()).select_from(EmailOutbox).where(EmailOutbox.key.like(f"{prepared.id}:%"))
        )
        == 1
    )


def test_a_claimed_step_reminds_only_the_claimant(kz, session, prepared, user):
    from engine.runtime import cases

    cases.claim_task(kz, session, user("specialist"), prepared.id)
    run_at(kz, session, local(23, 10))
    assert sent(session, prepared) == [("due", "specialist")]


def test_unclaimed_step_reminds_everyone_with_the_role_in_its_municipality(kz, session, prepared, user):
    from engine.accounts import users as accounts

    accounts.create_user(
        session,
        username="specialist2",
        password="x" * 12,
        full_name="Экинчи адис",
        now=START,
        grants=[("ao_specialist", "sadyrbaev")],
    )
    accounts.create_user(
        session,
        username="specialist3",
        password="x" * 12,
        full_name="Башка айыл",
        now=START,
        grants=[("ao_specialist", "kyzyl-adyr")],
    )
    run_at(kz, session, local(23, 10))
    assert sent(session, prepared) == [("due", "specialist"), ("due", "specialist2")]


def test_emails_are_written_in_the_recipients_language(kz, session, prepared, user):
    specialist, head = user("specialist"), user("head")
    specialist.email, specialist.locale = "specialist@example.kg", "ru"
    head.email, head.locale = "head@example.kg", "ky"
    session.flush()
    run_at(kz, session, local(24, 10))
    mails = {m.to_addr: m for m in session.scalars(select(EmailOutbox))}
    ru = mails["specialist@example.kg"]
    assert ru.subject == "Срок истёк: «Подготовить результат (айыл окмоту)»"
    assert "Срок: 23 ноября 2026\u202fг." in ru.body
    assert f"http://127.0.0.1:5000/tasks/{prepared.id}" in ru.body
    assert "DS-2026-" in ru.body
    ky = mails["head@example.kg"]
    assert ky.subject.startswith("Мөөнөтү өткөн кадам: «Жыйынтыкты даярдоо (айыл өкмөтү)»")
    assert "Мөөнөтү:" in ky.body and "2026" in ky.body


def test_digest_mode_sends_one_email_a_day(kz, session, prepared, user):
    specialist = user("specialist")
    specialist.email, specialist.email_digest, specialist.locale = "specialist@example.kg", True, "en"
    session.flush()

    def mails() -> list[EmailOutbox]:
        return list(
            session.scalars(
                select(EmailOutbox)
                .where(EmailOutbox.to_addr == "specialist@example.kg")
                .order_by(EmailOutbox.id)
            )
        )

    run_at(kz, session, local(24, 8))  # Monday's "due" reminder is written, but digests leave at 09:00
    assert sent(session, prepared) == [("due", "specialist")] and mails() == []
    run_at(kz, session, local(24, 10))  # the overdue reminder, then the day's digest with both
    assert [m.key for m in mails()] == [f"digest:{specialist.id}:2026-11-24"]
    digest = mails()[0]
    assert digest.subject == "Kyzmat: today's reminders (2)"
    assert "Due today: «Prepare the result (aiyl okmotu)»" in digest.body
    assert "Overdue: «Prepare the result (aiyl okmotu)»" in digest.body
    with time_machine.travel(local(24, 11), tick=False):  # a later notification the same day waits
        assert reminders.notify(kz, session, specialist, "before_1", prepared, kz.clock.now())
    run_at(kz, session, local(24, 12))
    assert len(mails()) == 1
    run_at(kz, session, local(25, 10))
    assert [m.key for m in mails()][1] == f"digest:{specialist.id}:2026-11-25"
    assert mails()[1].subject == "Kyzmat: today's reminders (1)"
    run_at(kz, session, local(25, 15))
    assert len(mails()) == 2


def test_per_step_override_from_the_diagram(kz, session, user):
    bpmn = (REPO_ROOT / "processes" / "citizen_service.bpmn").read_text()
    marker = '<spiffworkflow:property name="name_en" value="Prepare the result (aiyl okmotu)"/>'
    assert bpmn.count(marker) == 1
    bpmn = bpmn.replace(
        marker,
        marker + '<spiffworkflow:property name="reminders" value="-1"/>'
        '<spiffworkflow:property name="escalate_after" value="none"/>',
    )
    with time_machine.travel(START, tick=False):
        processes.publish(
            session,
            bpmn.encode(),
            "citizen_service.bpmn",
            forms_dir=kz.settings.forms_dir,
            now=kz.clock.now(),
            note="reminders one day before, no escalation",
        )
    with time_machine.travel(START, tick=False):
        walk = registered_case(kz, session, user)  # forwarded: D_11_prepare_municipal is open
    task = walk.open_task("D_11_prepare_municipal")
    assert run_at(kz, session, local(19, 10)) == 0  # the default 2-day reminder is gone
    assert run_at(kz, session, local(20, 10)) == 1  # Friday, one working day before Monday
    assert run_at(kz, session, local(25, 10)) == 0  # overdue: no overdue reminder, no escalation
    assert sent(session, task) == [("before_1", "specialist")]


def test_policy_properties_are_checked():
    assert reminders.parse_policy({}) == reminders.Policy((-2, 0, 1), 1, None)
    assert reminders.parse_policy(
        {"reminders": "+1, -3,0", "escalate_to": "ao_specialist"}
    ) == reminders.Policy((-3, 0, 1), 1, "ao_specialist")
    assert reminders.parse_policy({"reminders": "none", "escalate_after": "none"}) == reminders.Policy(
        (), None
    )
    for bad in (
        {"reminders": "two days"},
        {"reminders": "-40"},
        {"escalate_after": "-1"},
        {"escalate_to": "mayor"},
    ):
        with pytest.raises(reminders.PolicyError):
            reminders.parse_policy(bad)


def test_escalation_goes_to_the_authorized_body_head_for_national_steps():
    policy = reminders.Policy()
    assert reminders.escalation_role(policy, HumanTask(municipality_id=None)) == "authorized_body_head"
    assert reminders.escalation_role(policy, HumanTask(municipality_id=3)) == "ao_head"


def test_reminder_days_follow_the_working_calendar():
    cal = WorkingCalendar({})
    due = datetime(2026, 11, 23, 17, 59, 59, tzinfo=UTC).date()  # Monday
    assert reminders.reminder_day(cal, due, -2).isoformat() == "2026-11-19"  # Thursday (the weekend skipped)
    assert reminders.reminder_day(cal, due, 1).isoformat() == "2026-11-24"


def test_bad_reminder_properties_are_refused_at_publication(kz, session):
    from engine.bpmn.loader import DiagramError

    bpmn = (REPO_ROOT / "processes" / "citizen_service.bpmn").read_text()
    marker = '<spiffworkflow:property name="name_en" value="Prepare the result (aiyl okmotu)"/>'
    bpmn = bpmn.replace(marker, marker + '<spiffworkflow:property name="reminders" value="-2, soon"/>')
    with pytest.raises(DiagramError) as err:
        processes.publish(
            session,
            bpmn.encode(),
            "citizen_service.bpmn",
            forms_dir=kz.settings.forms_dir,
            now=START,
            note="a typo",
        )
    assert "D_11_prepare_municipal" in str(err.value) and "'soon' is not a whole number" in str(err.value)
