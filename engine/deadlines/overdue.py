"""The overdue dashboard: open and overdue steps per municipality, process and step, and the share
of steps finished within their statutory deadline over a period. For heads (their municipality)
and national users (everything)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from engine.platform.errors import Forbidden
from engine.platform.models import HumanTask, Municipality, User

HEAD_ROLES = ("ao_head",)


@dataclass
class OpenRow:
    municipality: dict[str, Any] | None  # names; None for national steps
    process_id: str
    step_id: str
    step: dict[str, Any]
    open: int
    overdue: int


@dataclass
class OnTimeRow:
    process_id: str
    step_id: str
    step: dict[str, Any]
    finished: int
    on_time: int

    @property
    def share(self) -> float | None:
        return self.on_time / self.finished if self.finished else None


@dataclass
class Dashboard:
    open_rows: list[OpenRow]
    on_time_rows: list[OnTimeRow]
    finished: int
    on_time: int

    @property
    def share(self) -> float | None:
        return self.on_time / self.finished if self.finished else None


def scope(actor: User) -> set[int] | None:
    """The municipalities whose deadlines the actor may watch; None means all (a national user)."""
    if not actor.active:
        raise Forbidden("Inactive user.")
    if any(g.municipality_id is None and g.role != "process_owner" for g in actor.grants):
        return None
    heads = {
        g.municipality_id for g in actor.grants if g.role in HEAD_ROLES and g.municipality_id is not None
    }
    if not heads:
        raise Forbidden("The deadline dashboard is for heads and national users.")
    return heads


def may_view(actor: User) -> bool:
    try:
        scope(actor)
    except Forbidden:
        return False
    return True


def dashboard(session: Session, actor: User, now: datetime, start: datetime, end: datetime) -> Dashboard:
    """Open/overdue counts now, and steps finished in [start, end) within their deadline."""
    allowed = scope(actor)
    step_names = _step_names(session)
    late = func.sum(case((HumanTask.due_at < now, 1), else_=0))
    query = (
        select(HumanTask.municipality_id, HumanTask.process_id, HumanTask.step_id, func.count(), late)
        .where(HumanTask.status == "open")
        .group_by(HumanTask.municipality_id, HumanTask.process_id, HumanTask.step_id)
    )
    if allowed is not None:
        query = query.where(HumanTask.municipality_id.in_(allowed))
    munis = {m.id: m.names for m in session.scalars(select(Municipality))}
    open_rows = [
        OpenRow(
            munis.get(m) if m is not None else None,
            p,
            s,
            step_names.get((p, s), {"ky": s}),
            int(n),
            int(o or 0),
        )
        for m, p, s, n, o in session.execute(query)
    ]
    open_rows.sort(key=lambda r: (-r.overdue, -r.open, r.process_id, r.step_id))
    in_time = func.sum(case((HumanTask.completed_at <= HumanTask.due_at, 1), else_=0))
    done = (
        select(HumanTask.process_id, HumanTask.step_id, func.count(), in_time)
        .where(
            HumanTask.status == "completed",
            HumanTask.due_at.is_not(None),
            HumanTask.completed_at >= start,
            HumanTask.completed_at < end,
        )
        .group_by(HumanTask.process_id, HumanTask.step_id)
    )
    if allowed is not None:
        done = done.where(HumanTask.municipality_id.in_(allowed))
    on_time_rows = [
        OnTimeRow(p, s, step_names.get((p, s), {"ky": s}), int(n), int(k or 0))
        for p, s, n, k in session.execute(done)
    ]
    on_time_rows.sort(key=lambda r: (r.process_id, r.step_id))
    return Dashboard(
        open_rows, on_time_rows, sum(r.finished for r in on_time_rows), sum(r.on_time for r in on_time_rows)
    )


def _step_names(session: Session) -> dict[tuple[str, str], dict[str, Any]]:
    """One names dict per (process, step), from the newest human-task row of each."""
    newest = select(func.max(HumanTask.id)).group_by(HumanTask.process_id, HumanTask.step_id)
    rows = session.execute(
        select(HumanTask.process_id, HumanTask.step_id, HumanTask.names).where(HumanTask.id.in_(newest))
    )
    return {(p, s): names for p, s, names in rows}
