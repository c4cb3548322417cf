"""SpiffWorkflow behind a few functions: create, restore, advance, complete, and read what is waiting.

Everything handed back is a plain dataclass; callers never see SpiffWorkflow objects except the
opaque workflow handle they pass back in.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple
from uuid import UUID

import orjson
from SpiffWorkflow import TaskState
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import (
    BpmnSubWorkflowConverter,
    BpmnWorkflowConverter,
    TaskConverter,
    WorkflowConverter,
)
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.util.subworkflow import BpmnSubWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException, WorkflowException
from SpiffWorkflow.spiff.serializer import DEFAULT_CONFIG as SPIFF_CONFIG
from SpiffWorkflow.task import Task

from engine.platform.errors import ScriptFailed

from .sandbox import (
    SandboxEnvironment,
    SandboxScriptEngine,
    ScriptLimitExceeded,
    ScriptRefused,
    ScriptTimeout,
    find_sandbox_error,
)

Workflow = BpmnWorkflow


# --- serialization: the spec is stored once per version, an instance stores only its own state ----


_CACHE = "_kyzmat_converted_tasks"


class _CachedTasksMixin:
    """Convert a workflow's task mapping reusing finished tasks' dicts (see `_CompletedTaskCachingConverter`).

    The same as `mapping_to_dict(workflow.tasks)` (the same keys, order and dicts), without
    formatting each UUID again and going through the registry for a task whose dict is cached."""

    registry: Any

    def mapping_to_dict(self, mapping: dict[Any, Any], **kwargs: Any) -> dict[str, Any]:
        first = next(iter(mapping.values()), None) if mapping else None
        if not isinstance(first, Task) or not self.registry._encoder_mode:
            return super().mapping_to_dict(mapping, **kwargs)  # type: ignore[misc]
        cache = first.workflow.__dict__.get(_CACHE)
        if not cache:
            return super().mapping_to_dict(mapping, **kwargs)  # type: ignore[misc]
        convert = self.registry.convert
        out: dict[str, Any] = {}
        for key, task in mapping.items():
            hit = _cache_hit(task, cache)
            if hit is not None:
                out[hit.id_text] = hit.converted
            else:
                out[str(key)] = convert(task, **kwargs)
        return out


class _StateOnlyWorkflowConverter(_CachedTasksMixin, BpmnWorkflowConverter):
    """Leave the spec out of an instance's state; put the cached spec objects back on restore."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict[str, Any]) -> BpmnWorkflow:
        # `spec` and `subprocess_specs` arrive as live objects (see restore()).
        spec = dct.pop("spec")
        subprocess_specs = dct.pop("subprocess_specs")
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


class _StateOnlySubWorkflowConverter(_CachedTasksMixin, BpmnSubWorkflowConverter):
    """A sub-workflow's tasks, with the same reuse of finished tasks' dicts."""


class _Converted(NamedTuple):
    """A finished task's converted dict, its id as text, and what the dict was computed from."""

    parent: Any
    changed: float
    parent_changed: float
    triggered: bool
    children: list[UUID]
    data: dict[str, Any]
    data_len: int
    parent_data: dict[str, Any]
    parent_data_len: int
    internal: dict[str, Any]
    internal_len: int
    converted: dict[str, Any]
    id_text: str


def _cache_entry(task: Any, parent: Any, dct: dict[str, Any]) -> _Converted:
    return _Converted(
        parent,
        task.last_state_change,
        parent.last_state_change,
        task.triggered,
        list(task._children),
        task.data,
        len(task.data),
        parent.data,
        len(parent.data),
        task.internal_data,
        len(task.internal_data),
        dct,
        dct["id"],
    )


def _cache_hit(task: Any, cache: dict[Any, _Converted]) -> _Converted | None:
    """The cached entry of a finished task if everything it was computed from is unchanged."""
    hit = cache.get(task.id)
    if hit is None:
        return None
    parent = hit.parent
    if (
        task._state != TaskState.COMPLETED
        or parent._state != TaskState.COMPLETED
        or task.last_state_change != hit.changed
        or parent.last_state_change != hit.parent_changed
        or task.triggered != hit.triggered
        or task._children != hit.children
        or task.data is not hit.data
        or len(task.data) != hit.data_len
        or parent.data is not hit.parent_data
        or len(parent.data) != hit.parent_data_len
        or task.internal_data is not hit.internal
        or len(task.internal_data) != hit.internal_len
        or task.workflow.tasks.get(task._parent) is not parent
    ):
        return None
    return hit


class _CompletedTaskCachingConverter(TaskConverter):
    """Convert a finished part of the tree once per live workflow instead of on every save.

    SpiffWorkflow stores each task's data as a delta from its parent's, computed by comparing
    both dicts; every save did this for every task of the case. A task that is COMPLETED under
    a COMPLETED parent no longer changes: SpiffWorkflow replaces, never edits, the data of a
    finished task (a reset gives it new data, state and time), scripts work on deep copies
    (engine/bpmn/sandbox.py) and forms write into READY tasks. Its converted dict is kept on its
    workflow object and reused while everything it was computed from is still the same: the
    task's and its parent's state-change times, the task's children and trigger flag, and the
    very same data and internal-data dicts of the task and its parent (held, so compared by
    identity) with the same numbers of keys. Only `serialize` (the encoder mode) uses it; a
    restored workflow starts with nothing cached. tests/test_state_cache.py checks, on every step
    of every Process D path, that the result is byte for byte the uncached one.
    """

    def to_dict(self, task: Any) -> dict[str, Any]:
        parent = task.parent
        if (
            parent is None
            or task._state != TaskState.COMPLETED
            or parent._state != TaskState.COMPLETED
            or not self.registry._encoder_mode
        ):
            return super().to_dict(task)
        cache = task.workflow.__dict__.setdefault(_CACHE, {})
        hit = _cache_hit(task, cache)
        if hit is not None:
            return hit.converted
        dct = super().to_dict(task)
        cache[task.id] = _cache_entry(task, parent, dct)
        return dct


def converted_tasks_cached(wf: BpmnWorkflow) -> int:
    """How many converted tasks a live workflow keeps (for tests)."""
    return len(wf.__dict__.get(_CACHE, {}))


def forget_converted_tasks(wf: BpmnWorkflow) -> None:
    """Drop what serialize() cached on this workflow and its sub-workflows (for tests)."""
    for owner in [wf, *wf.subprocesses.values()]:
        owner.__dict__.pop(_CACHE, None)


def _make_serializer(state_only: bool) -> BpmnWorkflowSerializer:
    config = dict(SPIFF_CONFIG)
    if state_only:
        config[BpmnWorkflow] = _StateOnlyWorkflowConverter
        config[Task] = _CompletedTaskCachingConverter
        config[BpmnSubWorkflow] = _StateOnlySubWorkflowConverter
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))


_STATE = _make_serializer(state_only=True)
_SPEC = _make_serializer(state_only=False)


@dataclass
class SpecBundle:
    """A parsed process spec with the specs of the subprocesses it calls."""

    spec: Any
    subprocess_specs: dict[str, Any]


def spec_to_json(bundle: SpecBundle) -> str:
    """Serialize a spec once, for the version row."""
    return json.dumps(
        {
            "spec": _SPEC.registry.convert(bundle.spec),
            "subprocess_specs": {k: _SPEC.registry.convert(v) for k, v in bundle.subprocess_specs.items()},
        }
    )


def spec_from_json(text: str) -> SpecBundle:
    dct = json.loads(text)
    return SpecBundle(
        spec=_SPEC.registry.restore(dct["spec"]),
        subprocess_specs={k: _SPEC.registry.restore(v) for k, v in dct["subprocess_specs"].items()},
    )


# Dates, dataclasses and subclasses of str/int/dict/list go through SpiffWorkflow's registry
# exactly as with its json encoder, so they come back as the same types on restore.
_ORJSON_OPTIONS = (
    orjson.OPT_NON_STR_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def _encode_other(value: Any) -> Any:
    """What orjson cannot write natively goes through SpiffWorkflow's own type registry."""
    converted = _STATE.registry.convert(value)
    if converted is value:
        raise TypeError(f"cannot serialize {type(value).__name__}")
    return converted


def serialize(wf: BpmnWorkflow) -> str:
    """The instance state as JSON, without the spec (orjson: ~15x faster than json with
    SpiffWorkflow's encoder class, and every step of every case pays for it)."""
    registry = _STATE.registry
    registry._encoder_mode = True
    try:
        dct = _STATE.to_dict(wf)
        dct[_STATE.VERSION_KEY] = _STATE.VERSION
        try:
            return orjson.dumps(dct, default=_encode_other, option=_ORJSON_OPTIONS).decode()
        except orjson.JSONEncodeError:  # integers beyond 64 bits, NaN-free edge cases: the slow, general path
            return json.dumps(dct, cls=_STATE._encoder_cls, separators=(",", ":"))
    finally:
        registry._encoder_mode = False


def restore(state: str, bundle: SpecBundle, script_engine: PythonScriptEngine) -> BpmnWorkflow:
    """Rebuild a workflow from its state and RE-ATTACH the sandboxed script engine.

    SpiffWorkflow gives a restored workflow a fresh, unrestricted default engine; forgetting
    to replace it would silently drop the sandbox.
    """
    dct = json.loads(state)  # not orjson: it reads integers beyond 64 bits as floats
    _STATE.migrate(dct)
    dct["spec"] = bundle.spec
    dct["subprocess_specs"] = bundle.subprocess_specs
    wf = _STATE.from_dict(dct)
    attach_script_engine(wf, script_engine)
    return wf


def attach_script_engine(wf: BpmnWorkflow, script_engine: PythonScriptEngine) -> None:
    wf.script_engine = script_engine
    # Sub-workflows (embedded and multi-instance sub-processes) have no engine of their own: their
    # `script_engine` is a read-only property that returns the top workflow's, which is set above.
    for sub in wf.subprocesses.values():
        if sub.script_engine is not script_engine:
            raise RuntimeError("a sub-workflow does not use the top workflow's script engine")


# --- the script engine: sandboxed expressions plus our service-task operators --------------------

Operator = Callable[[dict[str, Any], dict[str, Any]], Any]
_operator_context: ContextVar[Any] = ContextVar("kyzmat_operator_context", default=None)


class KyzmatScriptEngine(SandboxScriptEngine):
    """Sandboxed evaluation; service tasks dispatch to named operators with the caller's context."""

    def __init__(
        self, helpers: dict[str, Callable[..., Any]], operators: dict[str, Callable[..., Any]], **limits: Any
    ):
        super().__init__(environment=SandboxEnvironment(helpers, **limits))
        self.operators = operators

    def call_service(
        self, task: Any, operation_name: str | None = None, operation_params: dict | None = None, **_: Any
    ) -> str:
        operator = self.operators.get(operation_name or "")
        if operator is None:
            raise ScriptFailed(f"Unknown service operator {operation_name!r}", task.task_spec.bpmn_id)
        params = {k: v["value"] for k, v in (operation_params or {}).items()}
        result = operator(_operator_context.get(), dict(task.data), params)
        return json.dumps(result)


@contextmanager
def operator_context(value: Any) -> Iterator[None]:
    """Make `value` visible to service operators while the engine runs."""
    token = _operator_context.set(value)
    try:
        yield
    finally:
        _operator_context.reset(token)


# --- running ------------------------------------------------------------------------------------


def new_workflow(
    bundle: SpecBundle, script_engine: PythonScriptEngine, data: dict[str, Any] | None = None
) -> BpmnWorkflow:
    wf = BpmnWorkflow(bundle.spec, bundle.subprocess_specs, script_engine=script_engine)
    if data:
        for task in wf.get_tasks(state=TaskState.READY):
            task.data.update(data)
    return wf


def start_options(bundle: SpecBundle) -> list[str]:
    """Ids of the top-level start events that wait for a condition: the ways a case may start.

    A diagram with several ways to start (Process A's five initiative sources) gives each start
    event the condition `start_event == "<its id>"`; `start_case` puts the chosen id in the data.
    """
    from SpiffWorkflow.bpmn.specs.event_definitions.conditional import ConditionalEventDefinition
    from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent

    return sorted(
        spec.bpmn_id
        for spec in bundle.spec.task_specs.values()
        if isinstance(spec, StartEvent)
        and isinstance(getattr(spec, "event_definition", None), ConditionalEventDefinition)
    )


def advance(wf: BpmnWorkflow) -> None:
    """Fire what is due and run every automatic step until the workflow waits for people or time."""
    with _translated_errors():
        wf.refresh_timers()
        wf.do_engine_steps()
        # do_engine_steps() refreshes timers only at its end: a timer that became due there
        # is READY now and runs on the next pass.
        while wf.get_tasks(state=TaskState.READY, manual=False):
            wf.do_engine_steps()


def complete_user_task(wf: BpmnWorkflow, task_uuid: str, data: dict[str, Any]) -> None:
    task = _ready_user_task(wf, task_uuid)
    task.data.update(data)
    with _translated_errors():
        task.run()
    advance(wf)


def task_data(wf: BpmnWorkflow, task_uuid: str) -> dict[str, Any]:
    return dict(_find_task(wf, task_uuid).data)


def is_ready_user_task(wf: BpmnWorkflow, task_uuid: str) -> bool:
    try:
        _ready_user_task(wf, task_uuid)
    except ScriptFailed:
        return False
    return True


def case_data(wf: BpmnWorkflow) -> dict[str, Any]:
    """The data a case shows: what its open steps carry (or its last step's), plus what side
    branches that already ended recorded (e.g. `forwarding_overdue` set when a deadline passed)."""
    ready = [t for t in _tasks(wf, TaskState.READY) if t.task_spec.manual]
    return _merged_data(wf, ready, _end_events(wf))


def _merged_data(wf: BpmnWorkflow, ready: list[Any], ends: list[Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    if ready:
        for task in ready:
            merged.update(task.data)
    elif wf.last_task is not None:
        merged.update(wf.last_task.data)
    else:
        merged.update(wf.data)
    for task in sorted(ends, key=lambda t: t.last_state_change):
        for key, value in task.data.items():
            merged.setdefault(key, value)
    return merged


def is_completed(wf: BpmnWorkflow) -> bool:
    return bool(wf.is_completed())


@dataclass(frozen=True)
class ReadyTask:
    uuid: str
    step_id: str
    lane: str | None
    due_at: datetime | None
    data: dict[str, Any]


@dataclass(frozen=True)
class WaitingTimer:
    uuid: str
    element_id: str
    attached_to: str | None
    due_at: datetime


@dataclass(frozen=True)
class CompletedStep:
    uuid: str
    step_id: str


def ready_user_tasks(wf: BpmnWorkflow) -> list[ReadyTask]:
    return [_ready_task(task) for task in _tasks(wf, TaskState.READY) if task.task_spec.manual]


def _ready_task(task: Any) -> ReadyTask:
    return ReadyTask(
        uuid=str(task.id),
        step_id=task.task_spec.bpmn_id,
        lane=task.task_spec.lane,
        due_at=_attached_timer_due(task),
        data=task.data,
    )


def waiting_timers(wf: BpmnWorkflow) -> list[WaitingTimer]:
    return [timer for task in _tasks(wf, TaskState.WAITING) if (timer := _waiting_timer(task)) is not None]


def _waiting_timer(task: Any) -> WaitingTimer | None:
    definition = getattr(task.task_spec, "event_definition", None)
    if not isinstance(definition, TimerEventDefinition):
        return None
    due = _timer_due(task)
    if due is None:
        return None
    return WaitingTimer(str(task.id), task.task_spec.bpmn_id, _attached_id(task), due)


@dataclass(frozen=True)
class Snapshot:
    """What a save writes besides the state, from one walk of the task tree."""

    ready: list[ReadyTask]  # = ready_user_tasks(wf)
    waiting: list[WaitingTimer]  # = waiting_timers(wf)
    data: dict[str, Any]  # = case_data(wf)
    completed: bool  # = is_completed(wf)
    end_event: str | None  # = reached_end_event(wf) when completed, else None


def snapshot(wf: BpmnWorkflow) -> Snapshot:
    """`ready_user_tasks`, `waiting_timers`, `case_data` and `is_completed` from two walks (the
    definite tasks, the completed ones) instead of one walk each; tests/test_state_cache.py
    compares it with the separate functions at every save."""
    ready, waiting, unfinished = [], [], False
    for task in _tasks(wf, TaskState.DEFINITE_MASK):
        unfinished = True
        if task._state == TaskState.READY and task.task_spec.manual:
            ready.append(task)
        elif task._state == TaskState.WAITING and (timer := _waiting_timer(task)) is not None:
            waiting.append(timer)
    ends = _end_events(wf)
    # A definite task left means not completed; else SpiffWorkflow decides (predicted tasks count too).
    completed = wf.completed or (not unfinished and wf.is_completed())
    return Snapshot(
        ready=[_ready_task(t) for t in ready],
        waiting=waiting,
        data=_merged_data(wf, ready, ends),
        completed=completed,
        end_event=_last_end(ends) if completed else None,
    )


def timer_due(task: Any) -> datetime | None:
    """When a timer task is (or was) due, once its expression has been evaluated."""
    return _timer_due(task)


def computed_timers(wf: BpmnWorkflow) -> Iterator[tuple[str, datetime, dict[str, Any]]]:
    """Every timer event whose due time the workflow has computed: (element id, due, the task's data)."""
    for task in wf.get_tasks():
        if not isinstance(getattr(task.task_spec, "event_definition", None), TimerEventDefinition):
            continue
        due = _timer_due(task)
        if due is not None:
            yield task.task_spec.bpmn_id, due, task.data


def pass_intermediate_timers(wf: BpmnWorkflow) -> bool:
    """Let waiting intermediate timers (not deadlines attached to a step) fire, as time would; any fired?"""
    fired = False
    for task in wf.get_tasks(state=TaskState.WAITING):
        if not isinstance(getattr(task.task_spec, "event_definition", None), TimerEventDefinition):
            continue
        if _is_boundary(task):
            continue
        task._set_internal_data(event_fired=True)
        fired = True
    return fired


def timer_date(value: str) -> datetime:
    """A timer expression's value (an ISO 8601 date-time) read as SpiffWorkflow reads it."""
    return TimerEventDefinition.get_datetime(value)


def failing_element(err: BaseException) -> str | None:
    """The element SpiffWorkflow was working on when `err` was raised (innermost task in the traceback)."""
    tb, found = err.__traceback__, None
    while tb is not None:
        for name in ("my_task", "task"):
            spec = getattr(tb.tb_frame.f_locals.get(name), "task_spec", None)
            if getattr(spec, "bpmn_id", None):
                found = spec.bpmn_id
        tb = tb.tb_next
    return found


def task_state(wf: BpmnWorkflow, task_uuid: str) -> str | None:
    task = wf.get_task_from_id(UUID(task_uuid))
    return None if task is None else TaskState.get_name(task.state)


# --- internals ----------------------------------------------------------------------------------


def _tasks(wf: BpmnWorkflow, state: int) -> Iterator[Any]:
    """The tasks in `state`, in the order and with the pruning of `wf.get_tasks(state=state)`.

    SpiffWorkflow's iterator pops the head of a list and hashes every child's UUID through
    properties; each save walks the tree several times, so this walk does the same with a stack
    (tests/test_workflow_walk.py compares both on every step of every Process D path).
    """
    if state & TaskState.PREDICTED_MASK:
        min_state = TaskState.MAYBE
    elif state & TaskState.DEFINITE_MASK:
        min_state = TaskState.FUTURE
    else:
        min_state = TaskState.COMPLETED
    finished_only = state <= TaskState.FINISHED_MASK
    subprocesses = wf.subprocesses
    stack = [wf.task_tree]
    while stack:
        task = stack.pop()
        task_state = task._state
        if task_state & state:
            yield task
        sub = subprocesses.get(task.id) if subprocesses else None
        if sub is None:
            if task._children and task_state >= min_state:
                tasks = task.workflow.tasks
                stack.extend(tasks.get(child) for child in reversed(task._children))
            continue
        # A task that runs a sub-workflow: its children, and the sub-workflow's tree first unless it finished.
        tasks = task.workflow.tasks
        stack.extend(tasks.get(child) for child in reversed(task._children))
        if not (task_state >= TaskState.FINISHED_MASK and finished_only):
            stack.append(sub.task_tree)


def _find_task(wf: BpmnWorkflow, task_uuid: str) -> Any:
    try:
        task = wf.get_task_from_id(UUID(task_uuid))
    except (ValueError, KeyError, WorkflowException):
        task = None
    if task is None:
        raise ScriptFailed(f"No step {task_uuid} in this case")
    return task


def _ready_user_task(wf: BpmnWorkflow, task_uuid: str) -> Any:
    task = _find_task(wf, task_uuid)
    if not (task.state == TaskState.READY and task.task_spec.manual):
        raise ScriptFailed(f"Step {task.task_spec.bpmn_id} is not waiting for anyone")
    return task


def _timer_due(task: Any) -> datetime | None:
    value = task.internal_data.get("event_value")
    if value is None:
        return None
    if isinstance(value, dict):  # a cycle timer
        value = value.get("next")
    try:
        return TimerEventDefinition.get_datetime(value).astimezone(UTC)
    except (TypeError, ValueError):
        return None


def _is_boundary(task: Any) -> bool:
    return task.parent is not None and task.parent.task_spec.name.endswith(".BoundaryEventSplit")


def _attached_id(task: Any) -> str | None:
    if not _is_boundary(task):
        return None
    return task.parent.task_spec.name[: -len(".BoundaryEventSplit")]


def _attached_timer_due(task: Any) -> datetime | None:
    """The due time of the first timer attached to this task (its statutory deadline).

    A multi-instance branch's task hangs under its multi-instance activity, to which the
    timer is attached: every branch shares the activity's deadline.
    """
    parent = task.parent
    if parent is not None and parent.task_spec.bpmn_id == task.task_spec.bpmn_id and parent is not task:
        task, parent = parent, parent.parent
    if parent is None or not parent.task_spec.name.endswith(".BoundaryEventSplit"):
        return None
    for sibling in parent.children:
        if sibling is task or not isinstance(sibling.task_spec, CatchingEvent):
            continue
        if isinstance(getattr(sibling.task_spec, "event_definition", None), TimerEventDefinition):
            due = _timer_due(sibling)
            if due is not None:
                return due
    return None


def _root_cause(err: BaseException) -> BaseException:
    seen = set()
    while id(err) not in seen:
        seen.add(id(err))
        inner = getattr(err, "exception", None) or err.__cause__
        if inner is None or inner is err:
            break
        err = inner
    return err


@contextmanager
def _translated_errors() -> Iterator[None]:
    """Turn SpiffWorkflow's errors into ScriptFailed naming the element, with a readable cause."""
    try:
        yield
    except ScriptFailed:
        raise
    except (SpiffWorkflowException, ScriptRefused, ScriptTimeout) as err:
        cause = find_sandbox_error(err) or _root_cause(err)
        task = getattr(err, "task", None)
        element = getattr(getattr(task, "task_spec", None), "bpmn_id", None)
        if isinstance(cause, ScriptLimitExceeded):
            message = f"A script exceeded a size limit and was stopped: {cause}"
        elif isinstance(cause, ScriptTimeout):
            message = f"A script ran too long and was stopped: {cause}"
        elif isinstance(cause, ScriptRefused):
            message = f"A script was refused by the sandbox: {cause}"
        else:
            message = f"{type(cause).__name__}: {cause}"
        raise ScriptFailed(message, element) from err


def reached_end_event(wf: BpmnWorkflow) -> str | None:
    """The id of the end event the case reached last (e.g. served, refused, consulted)."""
    return _last_end(_end_events(wf))


def _end_events(wf: BpmnWorkflow) -> list[Any]:
    """The completed end events (of the top workflow and of sub-workflows the COMPLETED walk reaches)."""
    from SpiffWorkflow.bpmn.specs.defaults import EndEvent

    return [t for t in _tasks(wf, TaskState.COMPLETED) if isinstance(t.task_spec, EndEvent)]


def _last_end(ends: list[Any]) -> str | None:
    return max(ends, key=lambda t: t.last_state_change).task_spec.bpmn_id if ends else None
