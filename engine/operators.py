"""Service-task operators: Python steps a diagram may call by name (they get the database)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .calendar import BISHKEK
from .clock import Clock
from .models import JournalCounter, Municipality, ProcessInstance


@dataclass
class OperatorContext:
    session: Session
    instance: ProcessInstance
    clock: Clock


def register_in_journal(ctx: OperatorContext | None, data: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Give the case the next number of its municipality's registration journal."""
    if ctx is None or ctx.instance.municipality_id is None:
        raise ValueError("register_in_journal needs a case that belongs to a municipality")
    now = ctx.clock.now().astimezone(BISHKEK)
    municipality = ctx.session.get(Municipality, ctx.instance.municipality_id)
    assert municipality is not None
    counter = ctx.session.scalar(
        select(JournalCounter)
        .where(JournalCounter.municipality_id == municipality.id, JournalCounter.year == now.year)
        .with_for_update()
    )
    if counter is None:
        counter = JournalCounter(municipality_id=municipality.id, year=now.year, last_number=0)
        ctx.session.add(counter)
    counter.last_number += 1
    ctx.session.flush()
    return {
        "number": f"{municipality.journal_prefix}-{now.year}-{counter.last_number:05d}",
        "sequence": counter.last_number,
        "registered_at": now.isoformat(timespec="seconds"),
        "registered_on": now.date().isoformat(),
    }


OPERATORS: dict[str, Callable[..., Any]] = {
    "register_in_journal": register_in_journal,
}
