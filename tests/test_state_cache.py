"""Saving a case reuses the converted dicts of finished tasks and walks the task tree itself:
both must give exactly what SpiffWorkflow gives without them, on every step of every Process D path.

Every Process D scenario runs again here with `serialize` checked at each save: the state written
from the live workflow (with its cache) must equal, byte for byte, the state written with the
cache emptied, and a workflow restored from it must serialize to the same text. The engine's
task walk is compared with `get_tasks` for every state at the same moments.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from SpiffWorkflow import TaskState

from engine.bpmn import workflow as wfapi
from tests.test_process_d_scenarios import (  # noqa: F401  (the fixture and the paths, re-run below)
    Walk,
    intake,
    test_document_issued_by_a_state_body_under_an_agreement,
    test_document_issued_by_the_aiyl_okmotu,
    test_forwarding_overdue_timer_fires_once,
    test_friday_registration_before_the_may_holidays,
    test_friday_registration_before_the_new_year_week,
    test_journal_numbers_are_sequential_per_municipality,
    test_refused_at_intake_keeps_the_journal_entry,
    test_refused_by_the_body,
    test_remote_village_gets_out_of_queue_priority,
    test_state_keeps_types_through_serialization,
    test_state_service_is_consultation_only,
    walk,
)

STATES = [
    TaskState.MAYBE,
    TaskState.LIKELY,
    TaskState.FUTURE,
    TaskState.WAITING,
    TaskState.READY,
    TaskState.STARTED,
    TaskState.COMPLETED,
    TaskState.ERROR,
    TaskState.CANCELLED,
    TaskState.FINISHED_MASK,
    TaskState.NOT_FINISHED_MASK,
    TaskState.DEFINITE_MASK,
    TaskState.ANY_MASK,
]


def _uncached(serialize: Any, wf: Any) -> str:
    """The state as SpiffWorkflow alone writes it, leaving the live workflow's cache as it was."""
    owners = [wf, *wf.subprocesses.values()]
    kept = [owner.__dict__.get("_kyzmat_converted_tasks") for owner in owners]
    wfapi.forget_converted_tasks(wf)
    try:
        return serialize(wf)
    finally:
        for owner, cache in zip(owners, kept, strict=True):
            if cache is not None:
                owner.__dict__["_kyzmat_converted_tasks"] = cache


def checked(kz: Any, real: Any, seen: dict[str, int], *, same_key_order: bool = True) -> Any:
    """`serialize` that checks each save: cached == uncached byte for byte, the restored workflow
    writes the same state (as text, or as JSON values where SpiffWorkflow restores sub-workflows'
    data with another key order), the engine's task walk equals `get_tasks` for every state, and
    the one-walk snapshot a save takes equals the separate functions."""

    def serialize(wf: Any) -> str:
        reused = wfapi.converted_tasks_cached(wf)
        text = real(wf)
        assert text == _uncached(real, wf)
        restored = wfapi.restore(text, wfapi.SpecBundle(wf.spec, wf.subprocess_specs), kz.script_engine())
        if same_key_order:
            assert real(restored) == text
        else:
            assert json.loads(real(restored)) == json.loads(text)
        for state in STATES:
            assert list(wfapi._tasks(wf, state)) == wf.get_tasks(state=state), TaskState.get_name(state)
        completed = wfapi.is_completed(wf)
        assert wfapi.snapshot(wf) == wfapi.Snapshot(
            ready=wfapi.ready_user_tasks(wf),
            waiting=wfapi.waiting_timers(wf),
            data=wfapi.case_data(wf),
            completed=completed,
            end_event=wfapi.reached_end_event(wf) if completed else None,
        )
        seen["saves"] += 1
        seen["reused"] += reused > 0
        return text

    return serialize


@pytest.fixture(autouse=True)
def checked_saves(monkeypatch: pytest.MonkeyPatch, kz: Any) -> Any:
    seen = {"saves": 0, "reused": 0}
    monkeypatch.setattr(wfapi, "serialize", checked(kz, wfapi.serialize, seen))
    yield seen
    assert seen["saves"] > 0


def test_the_cache_is_used_from_the_second_save_on(walk: Walk, checked_saves: dict[str, int]) -> None:  # noqa: F811 (the imported fixture)
    intake(walk, "M2")  # start and two steps, one live workflow
    assert checked_saves["reused"] >= 2
    wf = walk.kz.take_workflow(walk.instance.id, walk.instance.revision)
    assert wf is not None and wfapi.converted_tasks_cached(wf) > 0


def test_a_reset_workflow_is_written_as_spiffworkflow_writes_it(walk: Walk) -> None:  # noqa: F811 (the imported fixture)
    """Resetting to an earlier step gives finished tasks new data, state and children: nothing stale may be reused."""
    intake(walk, "M2")
    wf = walk.kz.take_workflow(walk.instance.id, walk.instance.revision)
    assert wf is not None
    before = wfapi.serialize(wf)
    assert wfapi.converted_tasks_cached(wf) > 0
    reception = next(
        t for t in wf.get_tasks(state=TaskState.COMPLETED) if t.task_spec.bpmn_id == "D_02_reception"
    )
    wf.reset_from_task_id(reception.id)
    after = wfapi.serialize(wf)  # the fixture compares it with the uncached text
    assert after != before
    assert [t.step_id for t in wfapi.ready_user_tasks(wf)] == ["D_02_reception"]


def test_a_finished_task_changed_by_hand_is_converted_again(walk: Walk) -> None:  # noqa: F811 (the imported fixture)
    """Whatever a converted finished task was computed from, changing it makes the next save convert it again
    (SpiffWorkflow does not do this to finished tasks today; the cache must not rely on it silently)."""
    intake(walk, "M2")
    wf = walk.kz.take_workflow(walk.instance.id, walk.instance.revision)
    assert wf is not None
    task = next(t for t in wf.get_tasks(state=TaskState.COMPLETED) if t.task_spec.bpmn_id == "D_02_reception")
    assert task.parent.state == TaskState.COMPLETED
    changes = [
        lambda: setattr(task, "data", {**task.data, "note": "new dict"}),
        lambda: task.data.update(added="in place"),
        lambda: setattr(task.parent, "data", {**task.parent.data, "from_parent": 1}),
        lambda: task.parent.data.update(parent_added=2),
        lambda: setattr(task, "internal_data", {"mark": 1}),
        lambda: task.internal_data.update(other=2),
        lambda: setattr(task, "triggered", True),
        lambda: setattr(task, "last_state_change", task.last_state_change + 1),
        lambda: setattr(task.parent, "last_state_change", task.parent.last_state_change + 1),
    ]
    texts = [wfapi.serialize(wf)]
    for change in changes:
        change()
        texts.append(wfapi.serialize(wf))  # the fixture compares each with the uncached text
    assert len(set(texts)) == len(texts)
