"""Business verbs on cases and their steps. Each takes a session and flushes; the caller commits."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, false, func, inspect, or_, select
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from engine.accounts import access
from engine.bpmn import workflow as wfapi
from engine.calendar.days import end_of_day, to_local_date
from engine.forms import schema as formlib
from engine.platform import audit
from engine.platform.errors import Conflict, Forbidden, InvalidData, KyzmatError, NotFound
from engine.platform.models import (
    AuditEvent,
    HumanTask,
    Municipality,
    ProcessInstance,
    ProcessVersion,
    Timer,
    User,
    new_token,
)
from engine.runtime.context import Kyzmat, LoadedVersion
from engine.runtime.operators import OperatorContext
from engine.runtime.step_hooks import run_on_open
from engine.runtime.versions import latest_version_id

# Read-model rows are written with Core statements: they are plain inserts and updates, and the
# ORM's unit-of-work bookkeeping for them cost more than the rest of a step (see docs/benchmarks.md).
_HUMAN_TASK = HumanTask.__table__
_TIMER = Timer.__table__
_INSTANCE = ProcessInstance.__table__
# The statements of every step, built once: building a Core statement costs more Python than
# SQLite takes to run it. Executed on the session's connection (same transaction, no autoflush).
_SAVE_INSTANCE = (
    _INSTANCE.update()
    .where(_INSTANCE.c.id == bindparam("_id"), _INSTANCE.c.lock_version == bindparam("_lock"))
    .values(
        {
            c: bindparam(c)
            for c in (
                "state",
                "revision",
                "updated_at",
                "reference",
                "subject",
                "summary",
                "status",
                "completed_at",
                "lock_version",
            )
        }
    )
)
_COMPLETE_TASK = (
    _HUMAN_TASK.update()
    .where(_HUMAN_TASK.c.task_uuid == bindparam("_uuid"))
    .values(status="completed", completed_at=bindparam("_at"), completed_by_id=bindparam("_by"), draft=None)
)
_CANCEL_TASKS = (
    _HUMAN_TASK.update()
    .where(_HUMAN_TASK.c.task_uuid.in_(bindparam("_uuids", expanding=True)))
    .values(status="cancelled", completed_at=bindparam("_at"))
)
_FIRE_TIMERS = (
    _TIMER.update()
    .where(_TIMER.c.task_uuid.in_(bindparam("_uuids", expanding=True)))
    .values(status="fired", fired_at=bindparam("_at"))
)
_CANCEL_TIMERS = (
    _TIMER.update()
    .where(_TIMER.c.task_uuid.in_(bindparam("_uuids", expanding=True)))
    .values(status="cancelled")
)

# The step a completion acts on, with its case: built once, and without the case's municipality
# (joined eagerly by default, unused by a completion; it still loads on first access).
_TASK_TO_COMPLETE = (
    select(HumanTask)
    .options(joinedload(HumanTask.instance).lazyload(ProcessInstance.municipality))
    .where(HumanTask.id == bindparam("_id"))
)

# --- starting -------------------------------------------------------------------------------------


def start_case(
    kz: Kyzmat,
    session: Session,
    actor: User | None,
    process_id: str,
    *,
    municipality_id: int | None = None,
    start_event: str | None = None,
    data: dict[str, Any] | None = None,
) -> ProcessInstance:
    """Start a case of the newest published version, in the actor's municipality.

    A diagram with several conditional start events (see `start_options`) needs `start_event`,
    the id of the one the case starts with.
    `actor` None is the system (the annual start of engine/annual.py): no role check, no claimant.
    `data` is put in the case's first data (a public submission's fields, engine/submissions.py); the
    keys the engine sets (case_id, municipality_code, started_by, start_event) win over it.
    """
    version = kz.version(session, latest_version_id(session, process_id))
    options = wfapi.start_options(version.bundle)
    if options and start_event not in options:
        raise KyzmatError("Choose how the case starts.")
    if not options and start_event is not None:
        raise KyzmatError("This process has a single way to start.")
    starters = version.info["starter_roles"]
    if version.info["scope"] == "national":
        municipality_id = None
    elif municipality_id is None:
        if actor is None:
            raise KyzmatError("Choose the municipality the case belongs to.")
        candidates = {
            g.municipality_id for g in actor.grants if g.role in starters and g.municipality_id is not None
        }
        if not candidates and not any(g.role in starters for g in actor.grants):
            raise Forbidden("Your roles do not allow starting this process.")
        if len(candidates) != 1:
            raise KyzmatError("Choose the municipality the case belongs to.")
        municipality_id = candidates.pop()
    if actor is not None and not access.may_start(actor, starters, municipality_id):
        raise Forbidden("Your roles do not allow starting this process here.")
    if municipality_id is not None:  # the municipality's own variant, when it has one
        variant_id = latest_version_id(session, process_id, municipality_id)
        if variant_id != version.id:
            version = kz.version(session, variant_id)
            options = wfapi.start_options(version.bundle)
            if options and start_event not in options or not options and start_event is not None:
                raise KyzmatError("Choose how the case starts.")
            if actor is not None and not access.may_start(
                actor, version.info["starter_roles"], municipality_id
            ):
                raise Forbidden("Your roles do not allow starting this process here.")
    now = kz.clock.now()
    municipality = session.get(Municipality, municipality_id) if municipality_id else None
    instance = ProcessInstance(
        version_id=version.id,
        process_id=process_id,
        municipality_id=municipality_id,
        status="running",
        state="",
        started_by_id=actor.id if actor else None,
        started_at=now,
        updated_at=now,
        summary={},
    )
    session.add(instance)
    session.flush()
    start_data = {
        **(data or {}),
        "case_id": instance.id,
        "municipality_code": municipality.code if municipality else None,
        "started_by": actor.username if actor else "system",
    }
    if start_event is not None:
        start_data["start_event"] = start_event
    wf = wfapi.new_workflow(version.bundle, kz.script_engine(), start_data)
    with wfapi.operator_context(OperatorContext(session, instance, kz.clock)):
        wfapi.advance(wf)
    actor_id = actor.id if actor else None
    audit.record(
        session,
        "case_started",
        at=now,
        actor_id=actor_id,
        instance_id=instance.id,
        process_id=process_id,
        version=version.number,
    )
    _save(kz, session, instance, wf, version, now, actor_id=actor_id, claimant=actor)
    return instance


# --- reading a step ----------------------------------------------------------------------------------


@dataclass
class TaskView:
    task: HumanTask
    instance: ProcessInstance
    schema: dict[str, Any]
    data: dict[str, Any]
    case_data: dict[str, Any]
    process_names: dict[str, str]
    may_act: bool


def get_task(kz: Kyzmat, session: Session, actor: User, task_id: int) -> TaskView:
    task = _task_row(session, task_id)
    instance = task.instance
    may_act = access.may_act_on(actor, task)
    if not may_act and not access.may_view_case(actor, instance):
        raise Forbidden("This step belongs to another role or municipality.")
    version = kz.version(session, instance.version_id)
    data: dict[str, Any] = {}
    case_data: dict[str, Any] = {}
    if task.status == "open":
        wf = _load(kz, instance, version)
        data = wfapi.task_data(wf, task.task_uuid)
        case_data = dict(data)
        kz.keep_workflow(instance.id, instance.revision, wf)
        if task.draft:
            data.update(task.draft)
    return TaskView(
        task=task,
        instance=instance,
        schema=version.forms.get(task.form or "", {"type": "object", "properties": {}}),
        data=data,
        case_data=case_data,
        process_names=version.names,
        may_act=may_act and task.status == "open",
    )


# --- acting on a step ------------------------------------------------------------------------------


def complete_task(
    kz: Kyzmat,
    session: Session,
    actor: User,
    task_id: int,
    data: dict[str, Any],
    *,
    lang: str = "ky",
    expected_lock_version: int | None = None,
) -> ProcessInstance:
    """Validate the form data against the step's schema and complete the step.

    Raises InvalidData (field errors), Forbidden, Conflict (someone else changed the case first).
    """
    task = session.identity_map.get(session.identity_key(HumanTask, task_id))  # the web view read it already
    if task is None or inspect(task).expired:
        task = session.execute(_TASK_TO_COMPLETE, {"_id": task_id}).scalar_one_or_none()
    if task is None:
        raise NotFound(f"No step {task_id}")
    access.require_act_on(actor, task)
    if task.claimed_by_id not in (None, actor.id):
        raise Conflict("Another user has taken this step.")
    instance = task.instance
    if task.status != "open" or instance.status != "running":
        raise Conflict("This step has already been completed.")
    if expected_lock_version is not None and expected_lock_version != instance.lock_version:
        raise Conflict("The case changed since you opened it. Reload the page to see the current state.")
    version = kz.version(session, instance.version_id)
    schema = version.forms.get(task.form or "", {"type": "object", "properties": {}})
    wf = _load(kz, instance, version)
    if not wfapi.is_ready_user_task(wf, task.task_uuid):
        raise Conflict("This step has already been completed.")
    clean, errors = formlib.validate(schema, data, lang, wfapi.task_data(wf, task.task_uuid))
    if errors:
        kz.keep_workflow(instance.id, instance.revision, wf)
        raise InvalidData(errors, data)
    now = kz.clock.now()
    with wfapi.operator_context(OperatorContext(session, instance, kz.clock)):
        wfapi.complete_user_task(wf, task.task_uuid, clean)
    audit.record(
        session,
        "task_completed",
        at=now,
        actor_id=actor.id,
        instance_id=instance.id,
        process_id=instance.process_id,
        step_id=task.step_id,
        task_id=task.id,
    )
    _save(
        kz,
        session,
        instance,
        wf,
        version,
        now,
        actor_id=actor.id,
        completed_uuid=task.task_uuid,
        claimant=actor,
        claim_role=task.role,
    )
    session.expire(task)  # its row was closed by a Core UPDATE
    return instance


def save_draft(kz: Kyzmat, session: Session, actor: User, task_id: int, data: dict[str, Any]) -> None:
    task = _task_row(session, task_id)
    access.require_act_on(actor, task)
    if task.status != "open":
        raise Conflict("This step has already been completed.")
    if task.claimed_by_id is None:
        task.claimed_by_id = actor.id
    elif task.claimed_by_id != actor.id:
        raise Conflict("Another user has taken this step.")
    task.draft = data
    audit.record(
        session,
        "draft_saved",
        at=kz.clock.now(),
        actor_id=actor.id,
        instance_id=task.instance_id,
        process_id=task.process_id,
        step_id=task.step_id,
        task_id=task.id,
    )
    session.flush()


def claim_task(kz: Kyzmat, session: Session, actor: User, task_id: int) -> HumanTask:
    task = _task_row(session, task_id)
    access.require_act_on(actor, task)
    if task.status != "open":
        raise Conflict("This step has already been completed.")
    if task.claimed_by_id not in (None, actor.id):
        raise Conflict("Another user has already taken this step.")
    task.claimed_by_id = actor.id
    audit.record(
        session,
        "task_claimed",
        at=kz.clock.now(),
        actor_id=actor.id,
        instance_id=task.instance_id,
        process_id=task.process_id,
        step_id=task.step_id,
        task_id=task.id,
    )
    session.flush()
    return task


def unclaim_task(kz: Kyzmat, session: Session, actor: User, task_id: int) -> HumanTask:
    task = _task_row(session, task_id)
    access.require_act_on(actor, task)
    if task.claimed_by_id != actor.id:
        raise Conflict("Only the person who took the step can give it back.")
    task.claimed_by_id = None
    audit.record(
        session,
        "task_unclaimed",
        at=kz.clock.now(),
        actor_id=actor.id,
        instance_id=task.instance_id,
        process_id=task.process_id,
        step_id=task.step_id,
        task_id=task.id,
    )
    session.flush()
    return task


def reassign_task(kz: Kyzmat, session: Session, actor: User, task_id: int, to_user_id: int) -> HumanTask:
    """Hand a step to a colleague who holds the same role for the same municipality."""
    task = _task_row(session, task_id)
    access.require_act_on(actor, task)
    if task.claimed_by_id not in (None, actor.id):
        raise Conflict("Another user has taken this step.")
    colleague = session.get(User, to_user_id)
    if colleague is None or not access.may_act_on(colleague, task):
        raise Forbidden("That person does not hold this step's role in this municipality.")
    before = task.claimed_by_id
    task.claimed_by_id = colleague.id
    audit.record(
        session,
        "task_reassigned",
        at=kz.clock.now(),
        actor_id=actor.id,
        instance_id=task.instance_id,
        process_id=task.process_id,
        step_id=task.step_id,
        task_id=task.id,
        before=before,
        after=colleague.id,
    )
    session.flush()
    return task


# --- timers ----------------------------------------------------------------------------------------


def fire_due_timers(kz: Kyzmat, session: Session, *, now: datetime | None = None, limit: int = 200) -> int:
    """Advance every case with a due timer; return the number of timers that fired."""
    stamp = now  # a caller's fixed `now` is used throughout; otherwise each case records when it fired
    now = now or kz.clock.now()
    due = list(
        session.scalars(
            select(Timer)
            .where(Timer.status == "waiting", Timer.due_at <= now)
            .order_by(Timer.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    fired = 0
    for instance_id in dict.fromkeys(t.instance_id for t in due):
        instance = session.get(ProcessInstance, instance_id)
        if instance is None or instance.status != "running":
            # A case that ended or failed keeps no waiting timers (else the scheduler would wake for them forever).
            session.execute(
                _TIMER.update()
                .where(_TIMER.c.instance_id == instance_id, _TIMER.c.status == "waiting")
                .values(status="cancelled")
            )
            continue
        version = kz.version(session, instance.version_id)
        wf = _load(kz, instance, version)
        with wfapi.operator_context(OperatorContext(session, instance, kz.clock)):
            wfapi.advance(wf)
        fired += _save(kz, session, instance, wf, version, stamp or kz.clock.now(), actor_id=None)
    return fired


def next_timer_due(session: Session) -> datetime | None:
    return session.scalar(select(func.min(Timer.due_at)).where(Timer.status == "waiting"))


# --- listing ---------------------------------------------------------------------------------------

INBOX_VIEWS = ("mine", "available", "overdue", "due_soon", "done")


@dataclass
class Page:
    items: list[Any]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


@dataclass
class InboxFilter:
    view: str = "available"
    process_id: str | None = None
    municipality_id: int | None = None
    q: str | None = None
    page: int = 1
    per_page: int = 25
    sort: str = "due"  # a key of INBOX_SORTS; a leading "-" reverses it


# Inbox columns a user can sort by; the default is the due date, soonest first, undated last.
INBOX_SORTS: dict[str, Any] = {
    "due": HumanTask.due_at,
    "process": HumanTask.process_id,
    "step": HumanTask.step_id,
    "case": ProcessInstance.reference,
    "municipality": HumanTask.municipality_id,
    "priority": HumanTask.priority,
}


def _inbox_order(flt: InboxFilter) -> list[Any]:
    key = flt.sort.lstrip("-")
    column = INBOX_SORTS.get(key)
    if flt.view == "done" and flt.sort in ("", "due"):
        return [HumanTask.completed_at.desc(), HumanTask.id]
    if column is None or flt.sort == "due":
        return [HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.priority != "high", HumanTask.id]
    direction = column.desc() if flt.sort.startswith("-") else column.asc()
    return [column.is_(None), direction, HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.id]


def _grant_condition(actor: User) -> Any:
    clauses = []
    for g in actor.grants:
        if g.municipality_id is None:
            clauses.append(HumanTask.role == g.role)
        else:
            clauses.append(and_(HumanTask.role == g.role, HumanTask.municipality_id == g.municipality_id))
    return or_(*clauses) if clauses else false()


def _inbox_query(kz: Kyzmat, actor: User, view: str, now: datetime) -> Any:
    base = select(HumanTask).join(ProcessInstance, HumanTask.instance_id == ProcessInstance.id)
    mine_or_open = or_(
        HumanTask.claimed_by_id == actor.id, and_(HumanTask.claimed_by_id.is_(None), _grant_condition(actor))
    )
    if view == "mine":
        return base.where(HumanTask.status == "open", HumanTask.claimed_by_id == actor.id)
    if view == "available":
        return base.where(
            HumanTask.status == "open", HumanTask.claimed_by_id.is_(None), _grant_condition(actor)
        )
    if view == "overdue":
        return base.where(HumanTask.status == "open", HumanTask.due_at < now, mine_or_open)
    if view == "due_soon":
        cal = kz.calendar()
        horizon = end_of_day(cal.add_working_days(to_local_date(now), 2))
        return base.where(
            HumanTask.status == "open", HumanTask.due_at >= now, HumanTask.due_at <= horizon, mine_or_open
        )
    if view == "done":
        return base.where(HumanTask.status == "completed", HumanTask.completed_by_id == actor.id)
    raise NotFound(f"No inbox view {view!r}")


def list_tasks(kz: Kyzmat, session: Session, actor: User, flt: InboxFilter) -> Page:
    now = kz.clock.now()
    query = _inbox_query(kz, actor, flt.view, now)
    if flt.process_id:
        query = query.where(HumanTask.process_id == flt.process_id)
    if flt.municipality_id:
        query = query.where(HumanTask.municipality_id == flt.municipality_id)
    if flt.q:
        needle = f"%{flt.q.strip().lower()}%"
        query = query.where(
            or_(
                func.lower(ProcessInstance.reference).like(needle),
                func.lower(ProcessInstance.subject).like(needle),
            )
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    order = _inbox_order(flt)
    rows = session.scalars(query.order_by(*order).offset((flt.page - 1) * flt.per_page).limit(flt.per_page))
    return Page(items=list(rows.unique()), total=total, page=flt.page, per_page=flt.per_page)


def inbox_counts(kz: Kyzmat, session: Session, actor: User) -> dict[str, int]:
    now = kz.clock.now()
    return {
        view: session.scalar(select(func.count()).select_from(_inbox_query(kz, actor, view, now).subquery()))
        or 0
        for view in INBOX_VIEWS
    }


def working_days_left(kz: Kyzmat, due_at: datetime | None) -> int | None:
    """Working days from today to the due date: 0 = due today, negative = that many days late."""
    if due_at is None:
        return None
    cal = kz.calendar()
    return cal.working_days_between(to_local_date(kz.clock.now()), to_local_date(due_at))


# --- cases -----------------------------------------------------------------------------------------


@dataclass
class CaseView:
    instance: ProcessInstance
    process_names: dict[str, str]
    tasks: list[HumanTask]
    events: list[AuditEvent]
    data: dict[str, Any]
    bpmn_xml: str
    current_steps: list[str] = field(default_factory=list)


def get_case(kz: Kyzmat, session: Session, actor: User, instance_id: int) -> CaseView:
    instance = session.get(ProcessInstance, instance_id)
    if instance is None:
        raise NotFound(f"No case {instance_id}")
    access.require_read_case(session, actor, instance)
    return _case_view(kz, session, instance)


def _case_view(kz: Kyzmat, session: Session, instance: ProcessInstance) -> CaseView:
    version = kz.version(session, instance.version_id)
    wf = _load(kz, instance, version)
    data = wfapi.case_data(wf)
    kz.keep_workflow(instance.id, instance.revision, wf)
    tasks = list(
        session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id).order_by(HumanTask.id))
    )
    events = list(
        session.scalars(
            select(AuditEvent).where(AuditEvent.instance_id == instance.id).order_by(AuditEvent.id)
        )
    )
    row = session.get(ProcessVersion, instance.version_id)
    assert row is not None
    return CaseView(
        instance=instance,
        process_names=version.names,
        tasks=tasks,
        events=events,
        data=data,
        bpmn_xml=row.bpmn_xml,
        current_steps=[t.step_id for t in tasks if t.status == "open"],
    )


@dataclass
class CaseFilter:
    process_id: str | None = None
    status: str | None = None
    municipality_id: int | None = None
    overdue: bool = False
    q: str | None = None
    page: int = 1
    per_page: int = 25


def list_cases(kz: Kyzmat, session: Session, actor: User, flt: CaseFilter) -> Page:
    query = select(ProcessInstance)
    scopes = access.municipality_ids(actor)
    if None not in scopes:
        query = query.where(ProcessInstance.municipality_id.in_([s for s in scopes if s is not None]))
    if flt.process_id:
        query = query.where(ProcessInstance.process_id == flt.process_id)
    if flt.status:
        query = query.where(ProcessInstance.status == flt.status)
    if flt.municipality_id:
        query = query.where(ProcessInstance.municipality_id == flt.municipality_id)
    if flt.overdue:
        late = select(HumanTask.instance_id).where(
            HumanTask.status == "open", HumanTask.due_at < kz.clock.now()
        )
        query = query.where(ProcessInstance.id.in_(late))
    if flt.q:
        needle = f"%{flt.q.strip().lower()}%"
        query = query.where(
            or_(
                func.lower(ProcessInstance.reference).like(needle),
                func.lower(ProcessInstance.subject).like(needle),
            )
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(ProcessInstance.started_at.desc(), ProcessInstance.id.desc())
        .offset((flt.page - 1) * flt.per_page)
        .limit(flt.per_page)
    )
    return Page(items=list(rows.unique()), total=total, page=flt.page, per_page=flt.per_page)


def start_options(kz: Kyzmat, session: Session, row: ProcessVersion) -> list[tuple[str, dict[str, str]]]:
    """The ways a case of this version may start, as (start event id, names); [] for a single one."""
    version = kz.version(session, row.id)
    elements = version.info["elements"]
    return [
        (sid, elements.get(sid, {}).get("names") or {"ky": sid})
        for sid in wfapi.start_options(version.bundle)
    ]


def version_to_start(session: Session, row: ProcessVersion, places: list[Municipality]) -> ProcessVersion:
    """The version a start button stands for: where the actor starts in one municipality only, that
    municipality's own variant when it has one (its names and ways to start), else the national one."""
    if len(places) != 1:
        return row
    variant_id = latest_version_id(session, row.process_id, places[0].id)
    if variant_id == row.id:
        return row
    variant = session.get(ProcessVersion, variant_id)
    return variant if variant is not None else row


def startable_processes(session: Session, actor: User) -> list[ProcessVersion]:
    from engine.runtime.versions import latest_versions

    out = []
    for row in latest_versions(session):
        starters = row.info.get("starter_roles", [])
        if any(g.role in starters for g in actor.grants):
            out.append(row)
    return out


# --- loading and saving state ---------------------------------------------------------------------


def _task_row(session: Session, task_id: int) -> HumanTask:
    task = session.get(HumanTask, task_id)
    if task is None:
        raise NotFound(f"No step {task_id}")
    return task


def _load(kz: Kyzmat, instance: ProcessInstance, version: LoadedVersion) -> Any:
    wf = kz.take_workflow(instance.id, instance.revision)
    if wf is None:
        wf = wfapi.restore(instance.state, version.bundle, kz.script_engine())
    return wf


def _dotted(data: dict[str, Any], path: str | None) -> Any:
    value: Any = data
    for part in (path or "").split("."):
        if not part or not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _summary_facts(data: dict[str, Any], paths: str | None) -> dict[str, Any]:
    """The variables a diagram names in `summary_variables`, kept in the instance's summary so
    that reports read them without restoring the workflow (plain JSON values only)."""
    facts: dict[str, Any] = {}
    for path in (paths or "").replace(",", " ").split():
        value = _dotted(data, path)
        if value is None or isinstance(value, str | int | float | bool):
            facts[path] = value
    return facts


def _save(
    kz: Kyzmat,
    session: Session,
    instance: ProcessInstance,
    wf: Any,
    version: LoadedVersion,
    now: datetime,
    *,
    actor_id: int | None,
    completed_uuid: str | None = None,
    claimant: User | None = None,
    claim_role: str | None = None,
) -> int:
    """Write the state and, in the same transaction, the human-task and timer read models.

    Returns the number of timers that fired since the last save.
    """
    snap = wfapi.snapshot(wf)  # ready steps, waiting timers, case data: one walk of the task tree
    ready, waiting, data = snap.ready, snap.waiting, snap.data
    previous_tasks = set(instance.summary.get("open_tasks", []))
    previous_timers: dict[str, str] = instance.summary.get("waiting_timers", {})
    props = version.info.get("properties", {})
    reference = _dotted(data, props.get("reference_variable"))
    subject = _dotted(data, props.get("subject_variable"))
    # The instance row is written by one Core UPDATE guarded by its lock version (optimistic
    # locking without the ORM's flush machinery, see docs/benchmarks.md); the ORM object is then
    # told the new committed values, so nothing is flushed for it again.
    values: dict[str, Any] = {
        "state": wfapi.serialize(wf),
        "revision": new_token(),
        "updated_at": now,
        "reference": str(reference) if reference else instance.reference,
        "subject": str(subject)[:300] if subject else instance.subject,
        "summary": {
            **(instance.summary or {}),
            "open_tasks": sorted(r.uuid for r in ready),
            "waiting_timers": {t.uuid: t.element_id for t in waiting},
        },
    }
    facts = _summary_facts(data, props.get("summary_variables"))
    if facts:
        values["summary"]["facts"] = facts
    completed = snap.completed and instance.status == "running"
    values["status"] = "completed" if completed else instance.status
    values["completed_at"] = now if completed else instance.completed_at
    try:
        if session.new or session.dirty or session.deleted:
            session.flush()  # anything pending on the instance goes first, with the ORM's own version check
    except StaleDataError as err:
        raise Conflict(
            "Someone else changed this case at the same time. Reload the page and try again."
        ) from err
    lock = instance.lock_version
    values["lock_version"] = lock + 1
    result = session.connection().execute(_SAVE_INSTANCE, {"_id": instance.id, "_lock": lock, **values})
    if result.rowcount != 1:
        raise Conflict("Someone else changed this case at the same time. Reload the page and try again.")
    for key, value in values.items():
        set_committed_value(instance, key, value)
    _sync_tasks(
        session, instance, ready, previous_tasks, version, now, actor_id, completed_uuid, claimant, claim_role
    )
    fired = _sync_timers(session, instance, wf, waiting, previous_timers, now)
    opened = [
        (r.uuid, r.step_id) for r in ready if r.uuid not in previous_tasks and r.step_id in kz.hooked_steps
    ]
    if opened:  # steps whose opening the engine prepares (Process E's reports, engine/monitoring/hooks.py)
        run_on_open(kz, session, instance, opened)
    if completed:
        audit.record(
            session,
            "case_completed",
            at=now,
            actor_id=actor_id,
            instance_id=instance.id,
            process_id=instance.process_id,
            end=snap.end_event,
        )
    if not completed:  # a finished case is not worked on again: keep the live cache for running ones
        kz.keep_workflow(instance.id, instance.revision, wf)
    return fired


def _sync_tasks(
    session: Session,
    instance: ProcessInstance,
    ready: list[wfapi.ReadyTask],
    previous: set[str],
    version: LoadedVersion,
    now: datetime,
    actor_id: int | None,
    completed_uuid: str | None,
    claimant: User | None = None,
    claim_role: str | None = None,
) -> None:
    """Insert rows for steps that became ready; close rows of steps that are no longer ready.

    The previous open set is kept in the instance's summary, so no query is needed to diff.
    A new step in the same role as the one just done (or the first steps of a case the claimant
    started) is assigned to the claimant: the citizen is still at the clerk's desk.
    """
    current = {r.uuid for r in ready}
    gone = previous - current
    if completed_uuid in gone:
        gone.discard(completed_uuid)
        session.connection().execute(_COMPLETE_TASK, {"_uuid": completed_uuid, "_at": now, "_by": actor_id})
    if gone:
        session.connection().execute(_CANCEL_TASKS, {"_uuids": sorted(gone), "_at": now})
    elements = version.info["elements"]
    municipality_cache: dict[str, int | None] = {}
    rows = []
    for r in ready:
        if r.uuid in previous:
            continue
        element = elements.get(r.step_id, {})
        role = r.lane or element.get("lane") or ""
        municipality_id = _task_municipality(session, instance, r.data, municipality_cache)
        claimed = (
            claimant is not None
            and (claim_role is None or claim_role == role)
            and access.holds(claimant, role, municipality_id)
        )
        rows.append(
            {
                "instance_id": instance.id,
                "task_uuid": r.uuid,
                "process_id": instance.process_id,
                "step_id": r.step_id,
                "names": element.get("names") or {"ky": r.step_id},
                "role": role,
                "municipality_id": municipality_id,
                "claimed_by_id": claimant.id if claimed and claimant is not None else None,
                "form": element.get("form"),
                "status": "open",
                "priority": "high" if r.data.get("priority") == "high" else "normal",
                "due_at": r.due_at,
                "created_at": now,
            }
        )
    if rows:
        session.connection().execute(_HUMAN_TASK.insert(), rows)


def _task_municipality(
    session: Session, instance: ProcessInstance, data: dict[str, Any], cache: dict[str, int | None]
) -> int | None:
    code = data.get("task_municipality")
    if not code:
        return instance.municipality_id
    if code not in cache:
        cache[code] = session.scalar(select(Municipality.id).where(Municipality.code == code))
    return cache[code] if cache[code] is not None else instance.municipality_id


def _sync_timers(
    session: Session,
    instance: ProcessInstance,
    wf: Any,
    waiting: list[wfapi.WaitingTimer],
    previous: dict[str, str],
    now: datetime,
) -> int:
    """Insert rows for new waiting timers; mark the ones no longer waiting fired or cancelled."""
    current = {t.uuid: t.element_id for t in waiting}
    new = [t for t in waiting if t.uuid not in previous]
    if new:
        session.info["kyzmat_new_timers"] = True  # the scheduler wakes after the commit (engine/scheduler.py)
        session.connection().execute(
            _TIMER.insert(),
            [
                {
                    "instance_id": instance.id,
                    "task_uuid": t.uuid,
                    "element_id": t.element_id,
                    "attached_to": t.attached_to,
                    "due_at": t.due_at,
                    "status": "waiting",
                }
                for t in new
            ],
        )
    fired, cancelled = [], []
    for uuid, element_id in previous.items():
        if uuid in current:
            continue
        if wfapi.task_state(wf, uuid) == "COMPLETED":
            fired.append(uuid)
            audit.record(
                session,
                "timer_fired",
                at=now,
                instance_id=instance.id,
                process_id=instance.process_id,
                step_id=element_id,
                task_uuid=uuid,
            )
        else:
            cancelled.append(uuid)
    if fired:
        session.connection().execute(_FIRE_TIMERS, {"_uuids": fired, "_at": now})
    if cancelled:
        session.connection().execute(_CANCEL_TIMERS, {"_uuids": cancelled})
    return len(fired)


def next_task_for(session: Session, actor: User, instance_id: int) -> HumanTask | None:
    """The open step of this case the actor can do next (so a clerk flows from step to step)."""
    for task in session.scalars(
        select(HumanTask)
        .where(HumanTask.instance_id == instance_id, HumanTask.status == "open")
        .order_by(HumanTask.id)
    ):
        if access.may_act_on(actor, task) and task.claimed_by_id in (None, actor.id):
            return task
    return None


def case_data(kz: Kyzmat, session: Session, instance: ProcessInstance) -> dict[str, Any]:
    """The case's data without an access check: for callers that checked access themselves
    (the public status page holds the case's unguessable token)."""
    version = kz.version(session, instance.version_id)
    wf = _load(kz, instance, version)
    kz.keep_workflow(instance.id, instance.revision, wf)
    return wfapi.case_data(wf)


def colleagues_for(session: Session, actor: User, task: HumanTask) -> list[User]:
    """Active users other than the actor who may do this step (same role, same municipality)."""
    from engine.platform.models import RoleGrant

    ids = select(RoleGrant.user_id).where(
        RoleGrant.role == task.role,
        or_(RoleGrant.municipality_id.is_(None), RoleGrant.municipality_id == task.municipality_id),
    )
    users = session.scalars(
        select(User)
        .where(User.id.in_(ids), User.active.is_(True), User.id != actor.id)
        .order_by(User.full_name)
    )
    return [u for u in users if access.may_act_on(u, task)]


def start_municipalities(session: Session, actor: User, version: ProcessVersion) -> list[Municipality]:
    """Where the actor may start a case of this version: [] for a national process."""
    if version.info.get("scope") == "national":
        return []
    starters = version.info.get("starter_roles", [])
    grants = [g for g in actor.grants if g.role in starters]
    query = select(Municipality).order_by(Municipality.code)
    if not any(g.municipality_id is None for g in grants):
        query = query.where(Municipality.id.in_([g.municipality_id for g in grants]))
    return list(session.scalars(query))
