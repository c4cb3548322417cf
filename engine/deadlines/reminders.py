"""Deadline reminders and escalation: which open steps need whom reminded now, written as in-app
notifications and queued e-mails (or a daily digest), each exactly once."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

from babel.dates import format_date
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.calendar.days import BISHKEK, WorkingCalendar, to_local_date
from engine.deadlines.policy import MAX_OFFSET, Policy, PolicyError, parse_policy
from engine.platform import audit
from engine.platform.models import EmailOutbox, HumanTask, Notification, ProcessInstance, RoleGrant, User
from engine.platform.upsert import insert_ignore
from engine.runtime.context import Kyzmat

__all__ = ["Policy", "PolicyError", "parse_policy", "send_due_reminders", "send_digests"]

log = logging.getLogger(__name__)

LOOKBACK = timedelta(days=60)  # steps overdue for longer than this are not scanned again
LANGS = ("ky", "ru", "en")


def kind_of(offset: int) -> str:
    if offset < 0:
        return f"before_{-offset}"
    return "due" if offset == 0 else f"overdue_{offset}"


def reminder_day(cal: WorkingCalendar, due: date, offset: int) -> date:
    """The working day `offset` working days from the due date (negative: before it)."""
    day = due
    for _ in range(-offset):
        day = cal.previous_working_day(day)
    return cal.add_working_days(day, offset) if offset > 0 else day


def _moment(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=BISHKEK)


def due_kinds(cal: WorkingCalendar, policy: Policy, due_at: datetime, now: datetime, hour: int) -> list[str]:
    """The reminder kinds due now: the latest passed reminder only (a stale earlier one is noise), and
    the escalation once its day has come."""
    due = to_local_date(due_at)
    passed = [(_moment(reminder_day(cal, due, o), hour), kind_of(o)) for o in policy.offsets]
    passed = [p for p in passed if p[0] <= now]
    kinds = [max(passed)[1]] if passed else []
    if (
        policy.escalate_after is not None
        and _moment(reminder_day(cal, due, policy.escalate_after), hour) <= now
    ):
        kinds.append("escalation")
    return kinds


# --- texts (e-mails leave from the worker, outside any request: the engine carries its own texts) ---

SUBJECTS = {
    "before": {
        "ky": "Эскертүү: «{step}» кадамынын мөөнөтү {due} бүтөт",
        "ru": "Напоминание: срок шага «{step}» истекает {due}",
        "en": "Reminder: «{step}» is due on {due}",
    },
    "due": {
        "ky": "Бүгүн мөөнөтү бүтөт: «{step}»",
        "ru": "Сегодня истекает срок: «{step}»",
        "en": "Due today: «{step}»",
    },
    "overdue": {
        "ky": "Мөөнөтү өтүп кетти: «{step}»",
        "ru": "Срок истёк: «{step}»",
        "en": "Overdue: «{step}»",
    },
    "escalation": {
        "ky": "Мөөнөтү өткөн кадам: «{step}» ({case})",
        "ru": "Просрочен шаг: «{step}» ({case})",
        "en": "Escalation: «{step}» is overdue ({case})",
    },
}
BODY = {
    "ky": "Иш: {case}\nКадам: {step}\nМөөнөтү: {due}\nАчуу: {link}\n",
    "ru": "Дело: {case}\nШаг: {step}\nСрок: {due}\nОткрыть: {link}\n",
    "en": "Case: {case}\nStep: {step}\nDue: {due}\nOpen: {link}\n",
}
ESCALATION_NOTE = {
    "ky": "Бул кадам мөөнөтүндө аткарылган жок; сиз жооптуу органдын башчысы катары кабарландыңыз.\n\n",
    "ru": "Этот шаг не выполнен в срок; вы уведомлены как руководитель ответственного органа.\n\n",
    "en": "This step was not done in time; you are notified as head of the responsible body.\n\n",
}
DIGEST_SUBJECT = {
    "ky": "Кызмат: бүгүнкү эскертүүлөр ({n})",
    "ru": "Кызмат: напоминания за день ({n})",
    "en": "Kyzmat: today's reminders ({n})",
}
DIGEST_INTRO = {
    "ky": "Сиздин кадамдарыңыздын мөөнөттөрү:\n\n",
    "ru": "Сроки ваших шагов:\n\n",
    "en": "Deadlines of your steps:\n\n",
}


def _lang(user: User) -> str:
    return user.locale if user.locale in LANGS else "ky"


def _pick(labels: Any, lang: str) -> str:
    if isinstance(labels, dict):
        return str(labels.get(lang) or labels.get("ky") or next(iter(labels.values()), ""))
    return str(labels or "")


def _family(kind: str) -> str:
    return kind.split("_", 1)[0]


def render(payload: dict[str, Any], kind: str, lang: str, base_url: str) -> tuple[str, str]:
    """Subject and body of one reminder e-mail in the recipient's language."""
    values = {
        "case": payload.get("case") or "",
        "step": _pick(payload.get("step"), lang),
        "due": format_date(date.fromisoformat(payload["due_on"]), format="long", locale=lang),
        "link": base_url.rstrip("/") + f"/tasks/{payload['task_id']}",
    }
    subject = SUBJECTS[_family(kind)][lang].format(**values)
    body = (ESCALATION_NOTE[lang] if kind == "escalation" else "") + BODY[lang].format(**values)
    return subject, body


# --- the job ---------------------------------------------------------------------------------------


class _Recipients:
    """Active users holding a role for a municipality (a national grant covers every municipality)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.cache: dict[tuple[str, int | None], list[User]] = {}

    def holding(self, role: str, municipality_id: int | None) -> list[User]:
        key = (role, municipality_id)
        if key not in self.cache:
            scope = RoleGrant.municipality_id.is_(None)
            if municipality_id is not None:
                scope = scope | (RoleGrant.municipality_id == municipality_id)
            self.cache[key] = list(
                self.session.scalars(
                    select(User)
                    .join(RoleGrant, RoleGrant.user_id == User.id)
                    .where(RoleGrant.role == role, scope, User.active.is_(True))
                    .distinct()
                    .order_by(User.id)
                )
            )
        return self.cache[key]


def _case_label(instance: ProcessInstance) -> str:
    label = instance.reference or f"#{instance.id}"
    return f"{label} — {instance.subject}" if instance.subject else label


def notify(kz: Kyzmat, session: Session, user: User, kind: str, task: HumanTask, now: datetime) -> bool:
    """Write one notification (and its e-mail, or mark it for the digest); False if it was already sent."""
    key = f"{task.id}:{kind}:{user.id}"
    payload = {
        "task_id": task.id,
        "case": _case_label(task.instance),
        "step": task.names,
        "due_on": to_local_date(task.due_at).isoformat(),
        "role": task.role,
    }
    wants_digest = bool(user.email) and user.email_digest
    inserted = insert_ignore(
        session,
        Notification,
        {
            "key": key,
            "user_id": user.id,
            "kind": kind,
            "task_id": task.id,
            "instance_id": task.instance_id,
            "payload": payload,
            "created_at": now,
            "digest_pending": wants_digest,
        },
    )
    if inserted and user.email and not wants_digest:
        subject, body = render(payload, kind, _lang(user), kz.settings.base_url)
        queue_email(session, key, user, subject, body, now)
    return inserted


def queue_email(session: Session, key: str, user: User, subject: str, body: str, now: datetime) -> bool:
    return insert_ignore(
        session,
        EmailOutbox,
        {
            "key": key,
            "user_id": user.id,
            "to_addr": user.email or "",
            "subject": subject[:300],
            "body": body,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        },
    )


def _policy(kz: Kyzmat, session: Session, task: HumanTask, cache: dict[tuple[int, str], Policy]) -> Policy:
    key = (task.instance.version_id, task.step_id)
    if key not in cache:
        element = kz.version(session, key[0]).info.get("elements", {}).get(task.step_id, {})
        try:
            cache[key] = parse_policy(element.get("properties"))
        except PolicyError:
            log.exception("step %s: reminder properties ignored", task.step_id)
            cache[key] = Policy()
    return cache[key]


def escalation_role(policy: Policy, task: HumanTask) -> str:
    if policy.escalate_to:
        return policy.escalate_to
    return "ao_head" if task.municipality_id is not None else "authorized_body_head"


def send_due_reminders(kz: Kyzmat, session: Session, now: datetime) -> int:
    """Remind and escalate every open step whose reminder moment has come; return notifications written."""
    cal = kz.calendar()
    hour = kz.settings.reminder_hour
    horizon = datetime.combine(cal.add_working_days(to_local_date(now), MAX_OFFSET), time.max, tzinfo=BISHKEK)
    tasks = list(
        session.scalars(
            select(HumanTask)
            .where(
                HumanTask.status == "open",
                HumanTask.due_at.is_not(None),
                HumanTask.due_at <= horizon,
                HumanTask.due_at >= now - LOOKBACK,
            )
            .order_by(HumanTask.due_at, HumanTask.id)
        )
    )
    if not tasks:
        return 0
    sent = set(
        session.scalars(select(Notification.key).where(Notification.task_id.in_([t.id for t in tasks])))
    )
    people = _Recipients(session)
    policies: dict[tuple[int, str], Policy] = {}
    written = 0
    for task in tasks:
        assert task.due_at is not None
        policy = _policy(kz, session, task, policies)
        for kind in due_kinds(cal, policy, task.due_at, now, hour):
            recipients = _recipients(session, people, task, kind, policy)
            new = [
                u
                for u in recipients
                if f"{task.id}:{kind}:{u.id}" not in sent and notify(kz, session, u, kind, task, now)
            ]
            if new:
                written += len(new)
                audit.record(
                    session,
                    "escalation" if kind == "escalation" else "reminder_sent",
                    at=now,
                    instance_id=task.instance_id,
                    process_id=task.process_id,
                    step_id=task.step_id,
                    task_id=task.id,
                    kind=kind,
                    recipients=[u.username for u in new],
                )
    session.flush()
    return written


def _recipients(
    session: Session, people: _Recipients, task: HumanTask, kind: str, policy: Policy
) -> list[User]:
    if kind == "escalation":
        return people.holding(escalation_role(policy, task), task.municipality_id)
    if task.claimed_by_id is not None:
        claimant = session.get(User, task.claimed_by_id)
        if claimant is not None and claimant.active:
            return [claimant]
    return people.holding(task.role, task.municipality_id)


# --- the daily digest -------------------------------------------------------------------------------


def send_digests(kz: Kyzmat, session: Session, now: datetime) -> int:
    """One e-mail a day per digest user, listing the notifications gathered since the last one."""
    local = now.astimezone(BISHKEK)
    if local.hour < kz.settings.reminder_hour:
        return 0
    today = local.date().isoformat()
    user_ids = list(
        session.scalars(select(Notification.user_id).where(Notification.digest_pending.is_(True)).distinct())
    )
    queued = 0
    for user_id in user_ids:
        user = session.get(User, user_id)
        if user is None or not user.email:
            continue
        key = f"digest:{user.id}:{today}"
        if session.scalar(select(EmailOutbox.id).where(EmailOutbox.key == key)) is not None:
            continue  # today's digest has gone; the rest waits for tomorrow's
        items = list(
            session.scalars(
                select(Notification)
                .where(Notification.user_id == user.id, Notification.digest_pending.is_(True))
                .order_by(Notification.id)
            )
        )
        lang = _lang(user)
        parts = [DIGEST_INTRO[lang]]
        for item in items:
            subject, body = render(item.payload, item.kind, lang, kz.settings.base_url)
            parts.append(f"* {subject}\n{body}\n")
        if queue_email(session, key, user, DIGEST_SUBJECT[lang].format(n=len(items)), "".join(parts), now):
            session.execute(
                update(Notification)
                .where(Notification.id.in_([i.id for i in items]))
                .values(digest_pending=False)
            )
            queued += 1
    session.flush()
    return queued


# --- reading notifications (the bell) ---------------------------------------------------------------


def unread_count(session: Session, user: User) -> int:
    from sqlalchemy import func

    return (
        session.scalar(
            select(func.count(Notification.id)).where(
                Notification.user_id == user.id, Notification.read_at.is_(None)
            )
        )
        or 0
    )


def list_for(session: Session, user: User, limit: int = 100) -> list[Notification]:
    return list(
        session.scalars(
            select(Notification)
            .where(Notification.user_id == user.id)
            .order_by(Notification.read_at.is_not(None), Notification.id.desc())
            .limit(limit)
        )
    )


def mark_read(session: Session, user: User, ids: Iterable[int] | None, now: datetime) -> int:
    """Mark the user's own notifications read (all of them when ids is None); others' are untouched."""
    stmt = update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    if ids is not None:
        stmt = stmt.where(Notification.id.in_(list(ids)))
    result = session.execute(stmt.values(read_at=now))
    session.flush()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
