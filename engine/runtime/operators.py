"""Service-task operators: Python steps a diagram may call by name (they get the database)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from engine.calendar.days import BISHKEK
from engine.platform.clock import Clock
from engine.platform.models import JournalCounter, Municipality, ProcessInstance

_COUNTER = JournalCounter.__table__


@dataclass
class OperatorContext:
    session: Session
    instance: ProcessInstance
    clock: Clock


def register_in_journal(
    ctx: OperatorContext | None, data: dict[str, Any], params: dict[str, Any]
) -> dict[str, Any]:
    """Give the case the next number of its municipality's registration journal."""
    if ctx is None or ctx.instance.municipality_id is None:
        raise ValueError("register_in_journal needs a case that belongs to a municipality")
    now = ctx.clock.now().astimezone(BISHKEK)
    municipality = ctx.session.get(Municipality, ctx.instance.municipality_id)
    assert municipality is not None
    # One statement takes the next number: it creates the year's counter at 1 or adds 1 to it,
    # under the row's lock, so two registrations at once never get the same number.
    dialect = ctx.session.get_bind().dialect.name
    make_insert = pg_insert if dialect == "postgresql" else sqlite_insert
    counter = _COUNTER.c
    upsert = make_insert(_COUNTER).values(municipality_id=municipality.id, year=now.year, last_number=1)
    number = ctx.session.execute(
        upsert.on_conflict_do_update(
            index_elements=[counter.municipality_id, counter.year],
            set_={"last_number": counter.last_number + 1},
        ).returning(counter.last_number)
    ).scalar_one()
    return {
        "number": f"{municipality.journal_prefix}-{now.year}-{number:05d}",
        "sequence": number,
        "registered_at": now.isoformat(timespec="seconds"),
        "registered_on": now.date().isoformat(),
    }


def municipality_options(
    ctx: OperatorContext | None, data: dict[str, Any], params: dict[str, Any]
) -> list[dict[str, Any]]:
    """The municipalities as form choices: [{"value": code, "label": {"ky", "ru", "en"}}], by code."""
    if ctx is None:
        raise ValueError("municipality_options needs the database")
    rows = ctx.session.scalars(select(Municipality).order_by(Municipality.code))
    return [{"value": m.code, "label": dict(m.names)} for m in rows]


OPERATORS: dict[str, Callable[..., Any]] = {
    "register_in_journal": register_in_journal,
    "municipality_options": municipality_options,
}
