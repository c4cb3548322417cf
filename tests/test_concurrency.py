"""Two people completing the same step at the same moment, on real separate connections.

These tests need committed data seen by other connections, so they do not use the rolled-back `kz`
fixture: each builds its own database (a SQLite file in tmp_path; on PostgreSQL a database of its
own, created and dropped here, so the suite's shared `test` database is never touched).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from engine import cases
from engine.bpmn import workflow as wfapi
from engine.context import Kyzmat, create_kyzmat
from engine.db import make_engine, transaction
from engine.errors import Conflict
from engine.models import AuditEvent, HumanTask, ProcessInstance, User
from tests.conftest import BACKENDS, POSTGRES_URL, make_settings, prepare_database

PG_DATABASE = "kyzmat_concurrency"
BARRIER_TIMEOUT_S = 60  # only reached if a thread is stuck: the test then fails instead of hanging

RECEPTION = {
    "applicant_name": "Асель Бекова",
    "village": "Кара-Булак",
    "remote_village": False,
    "is_representative": False,
    "appeal_form": "written",
    "service_code": "M2",
}
ADVICE = {"documents_help_given": True}  # completing D_03 registers the case in the journal


def _postgres_url() -> str:
    """A fresh database beside the suite's; skip (with the reason) when the server will not make one."""
    assert POSTGRES_URL is not None
    admin = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{PG_DATABASE}"'))
    except (OperationalError, ProgrammingError) as err:
        pytest.skip(f"cannot create the PostgreSQL database {PG_DATABASE!r} for the concurrency tests: {err.orig}")
    finally:
        admin.dispose()
    return make_url(POSTGRES_URL).set(database=PG_DATABASE).render_as_string(hide_password=False)


def _drop_postgres() -> None:
    assert POSTGRES_URL is not None
    admin = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def committed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Kyzmat]:
    """A runtime on a database of its own whose sessions really commit."""
    backend = request.param
    url = f"sqlite:///{tmp_path / 'concurrency.sqlite3'}" if backend == "sqlite" else _postgres_url()
    engine = prepare_database(url, tmp_path)
    try:
        yield create_kyzmat(make_settings(tmp_path, url), engine=engine)
    finally:
        engine.dispose()
        if backend == "postgres":
            _drop_postgres()


def _user(session: Session, username: str) -> User:
    found = session.scalar(select(User).where(User.username == username))
    assert found is not None
    return found


def _open_task(session: Session, instance_id: int, step_id: str) -> HumanTask:
    rows = session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                   HumanTask.status == "open", HumanTask.step_id == step_id)).all()
    assert len(rows) == 1, (step_id, rows)
    return rows[0]


def _start(kz: Kyzmat) -> int:
    with transaction(kz.sessions) as s:
        return cases.start_case(kz, s, _user(s, "operator"), "citizen_service").id


def _complete(kz: Kyzmat, instance_id: int, step_id: str, data: dict[str, Any]) -> None:
    with transaction(kz.sessions) as s:
        task = _open_task(s, instance_id, step_id)
        cases.complete_task(kz, s, _user(s, "operator"), task.id, data)


@dataclass
class Snapshot:
    lock_version: int
    revision: str
    state: str
    open_steps: list[str]
    completed_events: int


def _snapshot(kz: Kyzmat, instance_id: int) -> Snapshot:
    with kz.sessions() as s:
        inst = s.get(ProcessInstance, instance_id)
        assert inst is not None
        return Snapshot(
            lock_version=inst.lock_version,
            revision=inst.revision,
            state=inst.state,
            open_steps=sorted(s.scalars(select(HumanTask.step_id).where(
                HumanTask.instance_id == instance_id, HumanTask.status == "open"))),
            completed_events=s.scalar(select(func.count()).select_from(AuditEvent).where(
                AuditEvent.instance_id == instance_id, AuditEvent.action == "task_completed")) or 0,
        )


def _race(workers: list[Callable[[threading.Barrier], Any]]) -> list[tuple[str, Any]]:
    """Run the workers in threads that meet at a barrier; return ("ok", value) or ("error", exception)."""
    barrier = threading.Barrier(len(workers), timeout=BARRIER_TIMEOUT_S)
    with ThreadPoolExecutor(max_workers=len(workers)) as pool:
        futures = [pool.submit(work, barrier) for work in workers]
        outcomes: list[tuple[str, Any]] = []
        for future in futures:
            err = future.exception()
            outcomes.append(("ok", future.result()) if err is None else ("error", err))
    return outcomes


def _only_conflicts(outcomes: list[tuple[str, Any]]) -> None:
    for kind, value in outcomes:
        if kind == "error" and not isinstance(value, Conflict):
            raise value


# --- the same step, twice at once -------------------------------------------------------------------


def _double_completion(kz: Kyzmat, *, read_inside_the_write: bool, pass_lock_version: bool) -> None:
    instance_id = _start(kz)
    before = _snapshot(kz, instance_id)
    assert before.open_steps == ["D_02_reception"]
    with kz.sessions() as s:
        task_id = _open_task(s, instance_id, "D_02_reception").id

    def complete_once(barrier: threading.Barrier) -> int:
        if read_inside_the_write:
            # Both write transactions read the open step and its lock_version before either writes.
            with kz.sessions() as s:
                actor = _user(s, "operator")
                task = s.get(HumanTask, task_id)
                assert task is not None and task.status == "open"
                seen = task.instance.lock_version
                barrier.wait()
                cases.complete_task(kz, s, actor, task_id, RECEPTION,
                                    expected_lock_version=seen if pass_lock_version else None)
                s.commit()
                return seen
        # As two browser tabs: each reads the page (a read-only session), then posts the form.
        with kz.read_sessions() as r:
            task = r.get(HumanTask, task_id)
            assert task is not None and task.status == "open"
            seen = task.instance.lock_version
        barrier.wait()
        with transaction(kz.sessions) as s:
            cases.complete_task(kz, s, _user(s, "operator"), task_id, RECEPTION,
                                expected_lock_version=seen if pass_lock_version else None)
        return seen

    outcomes = _race([complete_once, complete_once])
    _only_conflicts(outcomes)
    kinds = sorted(kind for kind, _ in outcomes)
    assert kinds == ["error", "ok"], outcomes

    after = _snapshot(kz, instance_id)
    assert after.lock_version == before.lock_version + 1  # advanced exactly once
    assert after.open_steps == ["D_03_advise"]
    assert after.completed_events == 1
    with kz.sessions() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.instance_id == instance_id,
                                                    AuditEvent.action == "task_completed")).all()
        assert [e.step_id for e in events] == ["D_02_reception"]
        done = s.get(HumanTask, task_id)
        assert done is not None and done.status == "completed"
        assert s.scalar(select(func.count()).select_from(HumanTask).where(
            HumanTask.instance_id == instance_id)) == 2
        inst = s.get(ProcessInstance, instance_id)
        assert inst is not None
        version = kz.version(s, inst.version_id)
        wf = wfapi.restore(inst.state, version.bundle, kz.script_engine())
        assert [t.step_id for t in wfapi.ready_user_tasks(wf)] == ["D_03_advise"]
    # The case goes on from the one completion.
    _complete(kz, instance_id, "D_03_advise", ADVICE)
    assert _snapshot(kz, instance_id).open_steps == ["D_06_check_documents"]


@pytest.mark.parametrize("pass_lock_version", [True, False], ids=["with-lock-version", "without-lock-version"])
def test_two_tabs_complete_the_same_step(committed: Kyzmat, pass_lock_version: bool) -> None:
    """Both read the open step, then both submit: one completes it, the other gets Conflict.

    On SQLite the second writer waits for the first's write lock (BEGIN IMMEDIATE) and then finds the
    step closed; on PostgreSQL it may also be stopped by the lock_version of the case.
    """
    _double_completion(committed, read_inside_the_write=False, pass_lock_version=pass_lock_version)


@pytest.mark.parametrize("pass_lock_version", [True, False], ids=["with-lock-version", "without-lock-version"])
def test_two_transactions_read_then_complete_the_same_step(committed: Kyzmat, pass_lock_version: bool) -> None:
    """Both write transactions have read the open step before either writes: the stale
    lock_version of the second must make it a Conflict (not a duplicate step, not a 500)."""
    if committed.db.dialect.name == "sqlite":
        pytest.skip("SQLite takes the write lock at BEGIN IMMEDIATE: two write transactions cannot both read "
                    "first (the other test covers SQLite)")
    _double_completion(committed, read_inside_the_write=True, pass_lock_version=pass_lock_version)


def test_a_stale_expected_lock_version_changes_nothing(committed: Kyzmat) -> None:
    instance_id = _start(committed)
    before = _snapshot(committed, instance_id)
    with committed.sessions() as s:
        task_id = _open_task(s, instance_id, "D_02_reception").id
    for stale in (before.lock_version - 1, before.lock_version + 1):
        with pytest.raises(Conflict):
            with transaction(committed.sessions) as s:
                cases.complete_task(committed, s, _user(s, "operator"), task_id, RECEPTION,
                                    expected_lock_version=stale)
        assert _snapshot(committed, instance_id) == before
    # The right one goes through.
    with transaction(committed.sessions) as s:
        cases.complete_task(committed, s, _user(s, "operator"), task_id, RECEPTION,
                            expected_lock_version=before.lock_version)
    after = _snapshot(committed, instance_id)
    assert after.lock_version == before.lock_version + 1
    assert after.open_steps == ["D_03_advise"]
    assert after.completed_events == 1


# --- two cases registered at once ---------------------------------------------------------------------


def test_two_cases_registered_at_once_get_different_journal_numbers(committed: Kyzmat) -> None:
    """The journal's first number of the year, taken by two cases at the same moment."""
    ids = []
    for _ in range(2):
        instance_id = _start(committed)
        _complete(committed, instance_id, "D_02_reception", RECEPTION)
        ids.append(instance_id)

    def register(instance_id: int) -> Callable[[threading.Barrier], str | None]:
        def work(barrier: threading.Barrier) -> str | None:
            with kz_read(committed) as r:
                task_id = _open_task(r, instance_id, "D_03_advise").id
            barrier.wait()
            with transaction(committed.sessions) as s:
                inst = cases.complete_task(committed, s, _user(s, "operator"), task_id, ADVICE)
                return inst.reference
        return work

    outcomes = _race([register(ids[0]), register(ids[1])])
    _only_conflicts(outcomes)  # a retryable Conflict is acceptable; a database error is not
    numbers = [value for kind, value in outcomes if kind == "ok"]
    assert numbers, outcomes
    assert len(set(numbers)) == len(numbers)
    with committed.sessions() as s:
        references = s.scalars(select(ProcessInstance.reference).where(ProcessInstance.id.in_(ids))).all()
    assert sorted(r for r in references if r) == sorted(numbers)


def test_the_first_number_of_the_year_taken_twice_at_once(committed: Kyzmat) -> None:
    """Both transactions look for the year's journal counter before either has created it."""
    if committed.db.dialect.name == "sqlite":
        pytest.skip("SQLite serialises writers at BEGIN IMMEDIATE, so the two cannot look at once")
    ids = []
    for _ in range(2):
        instance_id = _start(committed)
        _complete(committed, instance_id, "D_02_reception", RECEPTION)
        ids.append(instance_id)
    with committed.sessions() as s:
        tasks = [_open_task(s, i, "D_03_advise").id for i in ids]
    looked = threading.Barrier(2, timeout=BARRIER_TIMEOUT_S)
    waiting = threading.local()

    def after_execute(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if "FROM journal_counter" in statement and "FOR UPDATE" in statement and not getattr(waiting, "done", False):
            waiting.done = True
            try:
                looked.wait()
            except threading.BrokenBarrierError:
                pass  # the other thread did not get here (it failed or finished first)

    def register(task_id: int) -> Callable[[threading.Barrier], str | None]:
        def work(barrier: threading.Barrier) -> str | None:
            barrier.wait()
            with transaction(committed.sessions) as s:
                return cases.complete_task(committed, s, _user(s, "operator"), task_id, ADVICE).reference
        return work

    event.listen(committed.db, "after_cursor_execute", after_execute)
    try:
        outcomes = _race([register(tasks[0]), register(tasks[1])])
    finally:
        event.remove(committed.db, "after_cursor_execute", after_execute)
    _only_conflicts(outcomes)  # a retryable Conflict is acceptable; an IntegrityError (a 500) is not
    numbers = [value for kind, value in outcomes if kind == "ok"]
    assert numbers and len(set(numbers)) == len(numbers), outcomes


def kz_read(kz: Kyzmat) -> Session:
    return kz.read_sessions()
