"""The administrator's calendar exceptions (government decrees), with audit."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import extract, select
from sqlalchemy.orm import Session

from engine.platform import audit
from engine.platform.models import CalendarException


def exceptions_for_year(session: Session, year: int) -> list[CalendarException]:
    return list(
        session.scalars(
            select(CalendarException)
            .where(extract("year", CalendarException.day) == year)
            .order_by(CalendarException.day)
        )
    )


def set_exception(
    session: Session, day: date, working: bool, reason: str, *, now: datetime, actor_id: int | None = None
) -> CalendarException:
    """Make a day a working day or a day off. Deadlines already computed do not move."""
    reason = reason.strip()
    if not reason:
        raise ValueError("A reason (the decree) is required.")
    row = session.get(CalendarException, day)
    before = None if row is None else {"working": row.working, "reason": row.reason}
    if row is None:
        row = CalendarException(
            day=day, working=working, reason=reason, created_by_id=actor_id, created_at=now
        )
        session.add(row)
    else:
        row.working, row.reason, row.created_by_id, row.created_at = working, reason, actor_id, now
    audit.record(
        session,
        "calendar_changed",
        at=now,
        actor_id=actor_id,
        day=day.isoformat(),
        before=before,
        after={"working": working, "reason": reason},
    )
    session.flush()
    return row


def unset_exception(session: Session, day: date, *, now: datetime, actor_id: int | None = None) -> bool:
    row = session.get(CalendarException, day)
    if row is None:
        return False
    audit.record(
        session,
        "calendar_changed",
        at=now,
        actor_id=actor_id,
        day=day.isoformat(),
        before={"working": row.working, "reason": row.reason},
        after=None,
    )
    session.delete(row)
    session.flush()
    return True


HOLIDAY_LANGUAGES = {"ky": "ky", "ru": "ru_KG", "en": "en_US"}


def law_holidays(year: int, lang: str = "ky") -> list[tuple[date, str]]:
    """The public holidays the law gives for a year, named in ky/ru/en (the `holidays` package)."""
    import holidays as holidays_package

    names = holidays_package.country_holidays("KG", years=year, language=HOLIDAY_LANGUAGES.get(lang, "ky"))
    return sorted(names.items())
