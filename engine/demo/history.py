"""A year of generated CSC cases and evaluation sheets, so that a newcomer sees real charts.

Every case goes through the engine (`cases.start_case` / `complete_task`, the scheduler for deadlines that
pass, `evaluation.submit_sheet` for the sheets), with the clock moved to the day it happened: the
registration journal, result dates, overdue marks and the read models are the engine's own. SpiffWorkflow
reads the wall clock for its timers, so the clock is moved with time-machine, as the tests do.

Generated data is marked: each case's `summary["demo"]`, the extra municipality's `settings["demo"]`,
and usernames starting with `demo-`. `remove(...)` deletes exactly that (and the sheets of those cases,
found by their receipt digest), so `kyzmat demo --remove` leaves hand-made work alone.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.accounts import users as accounts
from engine.calendar.days import BISHKEK
from engine.citizens import evaluation
from engine.demo.data import DEMO_PASSWORD
from engine.platform.models import (
    AuditEvent,
    EvaluationSheet,
    HumanTask,
    JournalCounter,
    Municipality,
    ProcessInstance,
    RoleGrant,
    Timer,
    User,
)
from engine.runtime import cases
from engine.runtime.context import Kyzmat

__all__ = ["DEFAULT_CASES", "demo_year", "generate", "remove"]

DEFAULT_CASES = 240

EXTRA_MUNICIPALITY = {
    "code": "ak-talaa",
    "names": {"ky": "Ак-Талаа айыл өкмөтү", "ru": "Айыл окмоту Ак-Талаа", "en": "Ak-Talaa aiyl okmotu"},
    "journal_prefix": "AT",
    "region": "Нарын облусу",
    "district": "Ак-Талаа району",
    "remote_villages": ["Баетов"],
}


@dataclass(frozen=True)
class Office:
    """A municipality's CSC as the generator runs it: who works there and how well it does."""

    code: str
    operator: str
    specialist: str
    weight: float  # share of the requests
    late: float  # chance that a result is late
    mood: float  # 0..1, how satisfied its citizens are


OFFICES = [
    Office("sadyrbaev", "operator", "specialist", 0.45, 0.06, 0.8),
    Office("kyzyl-adyr", "operator2", "demo-specialist-ka", 0.3, 0.15, 0.6),
    Office("ak-talaa", "demo-operator-at", "demo-specialist-at", 0.25, 0.25, 0.45),
]
DEMO_USERS = [  # (username, full name, role, municipality)
    ("demo-specialist-ka", "Бурул Сасыкова", "ao_specialist", "kyzyl-adyr"),
    ("demo-operator-at", "Канат Абдрахманов", "csc_operator", "ak-talaa"),
    ("demo-specialist-at", "Мээрим Токтогулова", "ao_specialist", "ak-talaa"),
    ("demo-council-at", "Жаныбек Орозов", "council_secretary", "ak-talaa"),
]
# How often each service is asked for (a rural aiyl okmotu: certificates first).
SERVICE_WEIGHTS = {
    "M1": 14,
    "M2": 22,
    "M3": 6,
    "M4": 8,
    "M5": 5,
    "M6": 3,
    "AM1": 3,
    "AM2": 4,
    "AM5": 3,
    "AM7": 2,
    "AL2": 4,
    "AL4": 1,
    "S2": 5,
    "S5": 4,
    "S8": 3,
}
VILLAGES = ["Борбор", "Кара-Булак", "Жаңы-Жол", "Чолок-Кайың", "Ак-Суу"]
FIRST = ["Асель", "Бакыт", "Гүлзат", "Данияр", "Эльмира", "Жоомарт", "Айпери", "Нурбек", "Салтанат", "Улан"]
LAST = ["Бекова", "Исаков", "Маматова", "Осмонов", "Токтосунова", "Жумабаев", "Сыдыкова", "Абдыраев"]
QUESTIONS = [
    "q1_schedule",
    "q2_premises",
    "q3_queue",
    "q4_time",
    "q5_competence",
    "q6_politeness",
    "q7_overall",
    "q8_information",
]


def demo_year(today: date) -> int:
    """The demo fills the last complete calendar year, so every quarter has data."""
    return today.year - 1


def _ensure_places(session: Session, now: datetime) -> dict[str, Municipality]:
    found = {m.code: m for m in session.scalars(select(Municipality))}
    if EXTRA_MUNICIPALITY["code"] not in found:
        row = accounts.create_municipality(session, **EXTRA_MUNICIPALITY)  # type: ignore[arg-type]
        row.settings = {"evaluation_sheet": "full", "demo": True}
        found[row.code] = row
    existing = set(session.scalars(select(User.username)))
    for username, name, role, code in DEMO_USERS:
        if username not in existing:
            accounts.create_user(
                session,
                username=username,
                password=DEMO_PASSWORD,
                full_name=name,
                now=now,
                grants=[(role, code)],
                locale="ky",
            )
    session.flush()
    return found


def _answers(rng: random.Random, variant: str, mood: float, late: bool) -> dict[str, Any]:
    def pick(bias: float) -> str:
        x = rng.random()
        if x < 0.05:
            return "hard_to_answer"
        if x < 0.05 + bias * 0.95:
            return "fully_satisfied"
        return "partially_satisfied" if rng.random() < 0.6 else "not_satisfied"

    base = {
        "age": rng.randint(18, 80),
        "gender": rng.choice(["male", "female"]),
        "health_limitations": rng.random() < 0.12,
    }
    if variant == "short":
        return {**base, "result": pick(mood - (0.3 if late else 0))}
    answers = {
        q: pick(
            mood
            - (0.35 if late and q in ("q3_queue", "q4_time") else 0)
            - (0.15 if q == "q2_premises" else 0)
        )
        for q in QUESTIONS
    }
    unfounded = rng.random() < (1 - mood) * 0.15
    corruption = rng.random() < (1 - mood) * 0.03
    answers.update(base, unfounded_actions=unfounded, corruption=corruption)
    if unfounded:
        answers["unfounded_kinds"] = rng.sample(
            ["unofficial_queue", "paid_elsewhere", "paid_information", "extra_documents", "other"],
            k=rng.choice([1, 1, 2]),
        )
    if corruption:
        answers["corruption_details"] = "Акча сурашты"
    return answers


def generate(
    kz: Kyzmat,
    session: Session,
    *,
    year: int,
    count: int = DEFAULT_CASES,
    seed: int = 7,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Walk `count` cases of the year through Process D (with sheets); return the number made."""
    import time_machine  # the demo moves the wall clock SpiffWorkflow reads; imported only by `kyzmat demo`

    rng = random.Random(seed)
    first_day = date(year, 1, 1)
    _ensure_places(session, kz.clock.now())
    users = {u.username: u for u in session.scalars(select(User))}
    places = {m.code: m for m in session.scalars(select(Municipality))}
    calendar = kz.calendar()
    working = [first_day + timedelta(days=i) for i in range(366 if year % 4 == 0 else 365)]
    working = [d for d in working if calendar.is_working_day(d)]
    codes, weights = zip(*SERVICE_WEIGHTS.items(), strict=True)
    plan = sorted(
        (
            (
                rng.choice(working),
                rng.choices(OFFICES, [o.weight for o in OFFICES])[0],
                rng.choices(codes, weights)[0],
            )
            for _ in range(count)
        ),
        key=lambda p: p[0],
    )

    def at(day: date, hour: int, minute: int) -> datetime:
        return datetime.combine(day, time(hour, minute), BISHKEK).astimezone(UTC)

    made = 0
    with time_machine.travel(at(plan[0][0], 9, 0), tick=False) as clock:
        for day, office, code in plan:
            service = kz.catalogue.get(code)
            op, spec = users[office.operator], users[office.specialist]
            minute = rng.randint(0, 7 * 60)
            clock.move_to(at(day, 9 + minute // 60, minute % 60))
            instance = cases.start_case(
                kz, session, op, "citizen_service", municipality_id=places[office.code].id
            )

            def step(
                step_id: str, data: dict[str, Any], actor: User = op, instance: ProcessInstance = instance
            ) -> None:
                task = session.scalar(
                    select(HumanTask).where(
                        HumanTask.instance_id == instance.id,
                        HumanTask.step_id == step_id,
                        HumanTask.status == "open",
                    )
                )
                assert task is not None, step_id
                cases.complete_task(kz, session, actor, task.id, data)

            step(
                "D_02_reception",
                {
                    "applicant_name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                    "village": rng.choice(VILLAGES),
                    "remote_village": rng.random() < 0.1,
                    "is_representative": False,
                    "appeal_form": rng.choice(["written", "oral"]),
                    "service_code": code,
                },
            )
            step("D_03_advise", {"documents_help_given": True})
            if service.csc_mode == "consult_only":
                step(
                    "D_04_state_consultation",
                    {
                        "notification_help_given": True,
                        "schedule_and_contacts_given": True,
                        "next_step": "visit_state_body",
                    },
                )
            else:
                _serve(kz, session, rng, clock, at, step, instance, office, service, spec, day)
            instance.summary = {**instance.summary, "demo": True}
            session.flush()
            made += 1
            if progress and made % 50 == 0:
                progress(made)
    return made


def _serve(
    kz: Kyzmat,
    session: Session,
    rng: random.Random,
    clock: Any,
    at: Callable[..., datetime],
    step: Callable[..., None],
    instance: ProcessInstance,
    office: Office,
    service: Any,
    spec: User,
    day: date,
) -> None:
    """Registration, receipt, forwarding, the result (late or not), hand-over and perhaps a sheet."""
    calendar = kz.calendar()
    documents = [d.code for d in service.required_documents]
    if rng.random() < 0.04:
        step(
            "D_06_check_documents",
            {
                "documents_received": documents[:1],
                "documents_complete": False,
                "refusal_reason": "Документтер толук эмес",
            },
        )
        step(
            "D_08_refuse_intake",
            {
                "refusal_reason": "Документтер толук эмес",
                "complaint_rights_explained": True,
                "documents_returned": True,
            },
        )
        return
    check: dict[str, Any] = {"documents_received": documents, "documents_complete": True}
    if service.interdepartmental:
        check.update(identity_confirmed=True, entitlement_confirmed=True)
    step("D_06_check_documents", check)
    step("D_09_issue_receipt", {"receipt_handed_over": True})
    step("D_10_forward", {"forwarded_to": "Айыл өкмөтүнүн адиси"})
    term = service.standard_term_days
    late = rng.random() < office.late
    days = term + rng.randint(1, max(2, term // 2)) if late else rng.randint(max(0, term // 3), term)
    ready = calendar.add_working_days(day, days) if days else day
    if late:  # the scheduler marks the deadline first, as it would have that night
        clock.move_to(at(calendar.add_working_days(day, term), 23, 59) + timedelta(minutes=1))
        cases.fire_due_timers(kz, session)
    clock.move_to(at(ready, 15, rng.randint(0, 59)))
    step(
        "D_11_prepare_municipal",
        {
            "outcome": "document",
            "document_number": str(rng.randint(100, 999)),
            "result_transferred_to_csc": True,
        },
        spec,
    )
    handed = calendar.add_working_days(ready, rng.choice([0, 0, 1, 1, 2])) if rng.random() < 0.7 else ready
    clock.move_to(at(handed, 16, rng.randint(0, 59)))
    step(
        "D_13_hand_over",
        {
            "outcome": "document",
            "result_handed_over": True,
            "handed_over_on": handed.isoformat(),
            "evaluation_sheet_offered": True,
        },
    )
    if rng.random() < 0.6:
        ctx = evaluation.sheet_context(kz, session, instance)
        paper = rng.random() < 0.3
        operator = session.get(User, ctx.operator.id) if ctx.operator else None
        evaluation.submit_sheet(
            kz,
            session,
            ctx,
            _answers(rng, ctx.variant, office.mood, late),
            entered_by=operator if paper else None,
        )


def remove(kz: Kyzmat, session: Session) -> dict[str, int]:
    """Delete the generated cases, their sheets, the demo-only users and municipality; return counts."""
    demo_cases = list(
        session.execute(
            select(
                ProcessInstance.id,
                ProcessInstance.public_token,
                ProcessInstance.municipality_id,
                ProcessInstance.started_at,
            ).where(ProcessInstance.summary["demo"].as_boolean().is_(True))
        )
    )
    ids = [row.id for row in demo_cases]
    digests = [evaluation.receipt_digest(kz.settings.secret_key, row.public_token) for row in demo_cases]
    counts = {"cases": len(ids), "sheets": 0, "users": 0, "municipalities": 0}
    for chunk in _chunks(digests):
        sheet_ids = list(
            session.scalars(select(EvaluationSheet.id).where(EvaluationSheet.receipt_digest.in_(chunk)))
        )
        session.execute(
            delete(AuditEvent).where(
                AuditEvent.action == "evaluation_received",
                AuditEvent.detail["sheet_id"].as_integer().in_(sheet_ids),
            )
        )
        counts["sheets"] += session.execute(
            delete(EvaluationSheet).where(EvaluationSheet.id.in_(sheet_ids))
        ).rowcount
    for chunk in _chunks(ids):
        session.execute(delete(AuditEvent).where(AuditEvent.instance_id.in_(chunk)))
        session.execute(delete(Timer).where(Timer.instance_id.in_(chunk)))
        session.execute(delete(HumanTask).where(HumanTask.instance_id.in_(chunk)))
        session.execute(delete(ProcessInstance).where(ProcessInstance.id.in_(chunk)))
    # The journal years the demo used start again, unless real cases were registered in them.
    for municipality_id, year in {
        (r.municipality_id, r.started_at.astimezone(BISHKEK).year) for r in demo_cases
    }:
        start = datetime(year, 1, 1, tzinfo=BISHKEK) - timedelta(days=1)
        left = session.scalar(
            select(ProcessInstance.id)
            .where(
                ProcessInstance.municipality_id == municipality_id,
                ProcessInstance.started_at >= start,
                ProcessInstance.started_at < datetime(year + 1, 1, 2, tzinfo=BISHKEK),
            )
            .limit(1)
        )
        if left is None:
            session.execute(
                delete(JournalCounter).where(
                    JournalCounter.municipality_id == municipality_id, JournalCounter.year == year
                )
            )
    # A demo user or municipality that real work refers to since (say, a login in the audit trail)
    # is kept, the user deactivated: the trail is append-only.
    for u in session.scalars(select(User).where(User.username.like("demo-%"))):
        try:
            with session.begin_nested():
                session.delete(u)
            counts["users"] += 1
        except IntegrityError:
            u.active = False
    for m in session.scalars(select(Municipality)):
        if not (m.settings or {}).get("demo"):
            continue
        try:
            with session.begin_nested():
                session.execute(delete(JournalCounter).where(JournalCounter.municipality_id == m.id))
                session.execute(delete(RoleGrant).where(RoleGrant.municipality_id == m.id))
                session.delete(m)
            counts["municipalities"] += 1
        except IntegrityError:
            pass
    session.flush()
    return counts


def _chunks(items: list[Any], size: int = 500) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
