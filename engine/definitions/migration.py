"""Moving a running case to the newest published version of its process, case by case.

SpiffWorkflow 3.2 aligns the case's tasks with the new spec (``SpiffWorkflow.bpmn.util.diff``:
``diff_workflow`` and ``migrate_workflow``): steps are matched by their BPMN id, and the waiting
and ready tasks are reset and predicted again from the new diagram, so a changed deadline is
computed anew for the open step. A move is refused, with a reason, when SpiffWorkflow cannot do it
safely: a step the case has been through or is at no longer exists, a called subprocess changed, the
case is not running, or the moved case does not run or does not round-trip. The preview is the
real move done inside a savepoint and rolled back, so it shows exactly what the move would do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.bpmn import migrate
from engine.bpmn import workflow as wfapi
from engine.definitions import publishing as processes
from engine.platform import audit
from engine.platform.errors import KyzmatError, NotFound
from engine.platform.models import HumanTask, ProcessInstance, Timer, User
from engine.runtime import cases
from engine.runtime.context import Kyzmat
from engine.runtime.operators import OperatorContext

__all__ = ["MigrationRefused", "Move", "MovePreview", "migrate_case", "preview_migration", "movable_cases"]


class MigrationRefused(KyzmatError):
    """The case cannot be moved safely; ``reason`` is a code the web layer words, ``detail`` the specifics."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


@dataclass
class Move:
    """One open step or deadline of the case, before and after the move."""

    element_id: str
    kind: str  # "step" | "timer"
    before: datetime | None
    after: datetime | None
    change: str  # "kept" | "changed" | "closed" | "opened"


@dataclass
class MovePreview:
    instance_id: int
    from_version: int
    to_version: int
    moves: list[Move] = field(default_factory=list)
    added_elements: list[str] = field(
        default_factory=list
    )  # new in the version (steps the case may meet later)


def movable_cases(session: Session, process_id: str) -> list[ProcessInstance]:
    """Running cases of the process on a version older than the newest."""
    newest: dict[
        int | None, int
    ] = {}  # municipality -> the version its new cases follow (its variant or national)
    out = []
    for instance in session.scalars(
        select(ProcessInstance)
        .where(ProcessInstance.process_id == process_id, ProcessInstance.status == "running")
        .order_by(ProcessInstance.id)
    ):
        m = instance.municipality_id
        if m not in newest:
            newest[m] = processes.latest_version(session, process_id, m).id
        if instance.version_id != newest[m]:
            out.append(instance)
    return out


def _check(kz: Kyzmat, session: Session, instance: ProcessInstance) -> tuple[Any, Any, Any]:
    if instance.status != "running":
        raise MigrationRefused("not_running")
    target_row = processes.latest_version(session, instance.process_id, instance.municipality_id)
    if target_row.id == instance.version_id:
        raise MigrationRefused("newest")
    old = kz.version(session, instance.version_id)
    new = kz.version(session, target_row.id)
    return old, new, target_row


def _move(
    kz: Kyzmat, session: Session, instance: ProcessInstance, old: Any, new: Any
) -> tuple[Any, list[str]]:
    """Restore the case from its stored state and move it onto the new spec; refuse what is unsafe."""
    wf = wfapi.restore(instance.state, old.bundle, kz.script_engine())
    plan = migrate.plan_migration(wf, old.bundle, new.bundle)
    if plan.removed:
        raise MigrationRefused("removed", ", ".join(plan.removed))
    if plan.subprocess_changed:
        raise MigrationRefused("subprocess")
    added = plan.added
    try:
        migrate.apply_migration(plan, wf, new.bundle)
        with wfapi.operator_context(OperatorContext(session, instance, kz.clock)):
            wfapi.advance(wf)
        wfapi.restore(wfapi.serialize(wf), new.bundle, kz.script_engine())  # the moved case must round-trip
    except Exception as err:  # noqa: BLE001 - whatever breaks, the case stays where it is
        raise MigrationRefused("fails", f"{type(err).__name__}: {err}") from None
    return wf, added


def _open_state(session: Session, instance_id: int) -> tuple[dict[str, HumanTask], dict[str, Timer]]:
    tasks = {
        t.task_uuid: t
        for t in session.scalars(
            select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.status == "open")
        )
    }
    timers = {
        t.task_uuid: t
        for t in session.scalars(
            select(Timer).where(Timer.instance_id == instance_id, Timer.status == "waiting")
        )
    }
    return tasks, timers


def _compare(kind: str, rows: dict[str, Any], now_open: dict[str, tuple[str, datetime | None]]) -> list[Move]:
    """Rows open before (uuid -> read-model row) against what is open after (uuid -> (element, due))."""
    moves = []
    for uuid, row in rows.items():
        element_id = row.step_id if kind == "step" else row.element_id
        if uuid not in now_open:
            moves.append(Move(element_id, kind, row.due_at, None, "closed"))
        else:
            due = now_open[uuid][1]
            moves.append(
                Move(element_id, kind, row.due_at, due, "kept" if _same(row.due_at, due) else "changed")
            )
    moves += [
        Move(element_id, kind, None, due, "opened")
        for u, (element_id, due) in now_open.items()
        if u not in rows
    ]
    return moves


def _moves(before: tuple[dict[str, HumanTask], dict[str, Timer]], wf: Any) -> list[Move]:
    tasks, timers = before
    return _compare(
        "step", tasks, {r.uuid: (r.step_id, r.due_at) for r in wfapi.ready_user_tasks(wf)}
    ) + _compare("timer", timers, {t.uuid: (t.element_id, t.due_at) for t in wfapi.waiting_timers(wf)})


def _same(a: datetime | None, b: datetime | None) -> bool:
    if a is None or b is None:
        return a is b
    if a.tzinfo is None:  # SQLite hands back naive UTC
        from datetime import UTC

        a = a.replace(tzinfo=UTC)
    return a == b


def _instance(session: Session, instance_id: int) -> ProcessInstance:
    if (instance := session.get(ProcessInstance, instance_id)) is None:
        raise NotFound(f"No case {instance_id}")
    return instance


def preview_migration(kz: Kyzmat, session: Session, instance_id: int) -> MovePreview:
    """What moving the case to the newest version would change; MigrationRefused when it cannot move."""
    instance = _instance(session, instance_id)
    old, new, _row = _check(kz, session, instance)
    before = _open_state(session, instance.id)
    savepoint = session.begin_nested()
    try:
        wf, added = _move(kz, session, instance, old, new)
        moves = _moves(before, wf)
    finally:
        savepoint.rollback()
    return MovePreview(instance.id, old.number, new.number, moves, added)


def migrate_case(kz: Kyzmat, session: Session, actor: User, instance_id: int) -> MovePreview:
    """Move the case to the newest version (its municipality's variant if any), update its open steps and
    timers, and record it."""
    from engine.definitions import drafts

    instance = _instance(session, instance_id)
    drafts.require_edit(actor, instance.process_id, instance.municipality_id)
    old, new, row = _check(kz, session, instance)
    before = _open_state(session, instance.id)
    wf, added = _move(kz, session, instance, old, new)
    moves = _moves(before, wf)
    now = kz.clock.now()
    kz.take_workflow(instance.id, instance.revision)  # drop a cached copy on the old spec
    instance.version_id = row.id
    cases._save(kz, session, instance, wf, new, now, actor_id=actor.id)
    # Steps and timers that stay open keep their rows: give them the new version's names, role and dates.
    elements = new.info["elements"]
    for r in wfapi.ready_user_tasks(wf):
        element = elements.get(r.step_id, {})
        session.execute(
            update(HumanTask)
            .where(HumanTask.task_uuid == r.uuid, HumanTask.status == "open")
            .values(
                due_at=r.due_at,
                names=element.get("names") or {"ky": r.step_id},
                form=element.get("form"),
                role=r.lane or element.get("lane") or "",
            )
        )
    for t in wfapi.waiting_timers(wf):
        session.execute(
            update(Timer).where(Timer.task_uuid == t.uuid, Timer.status == "waiting").values(due_at=t.due_at)
        )
    session.expire_all()
    audit.record(
        session,
        "case_migrated",
        at=now,
        actor_id=actor.id,
        instance_id=instance_id,
        process_id=instance.process_id,
        from_version=old.number,
        to_version=new.number,
        moved=[{"element": m.element_id, "change": m.change} for m in moves if m.change != "kept"],
    )
    return MovePreview(instance_id, old.number, new.number, moves, added)
