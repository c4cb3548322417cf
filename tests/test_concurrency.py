"""Two people completing the same step at the same moment, on real separate connections.

These tests need committed data seen by other connections, so they do not use the rolled-back `kz`
fixture: each builds its own database (a SQLite file in tmp_path; on PostgreSQL a database of its
own, created and dropped here, so the suite's shared `test` database is never touched).
"""

from __future__ import annotations

import os
import shutil
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

from engine.bootstrap import create_kyzmat
from engine.bpmn import workflow as wfapi
from engine.calendar.days import BISHKEK
from engine.platform.db import make_engine, transaction
from engine.platform.errors import Conflict
from engine.platform.models import AuditEvent, HumanTask, ProcessInstance, User
from engine.runtime import cases
from engine.runtime.context import Kyzmat
from tests.conftest import BACKENDS, POSTGRES_URL, RECEPTION, make_settings, prepare_database

# Named per process, so two test runs against the same server do not drop each other's databases.
PG_DATABASE = f"kyzmat_concurrency_{os.getpid()}"
PG_TEMPLATE = f"kyzmat_concurrency_template_{os.getpid()}"
BARRIER_TIMEOUT_S = 60  # only reached if a thread is stuck: the test then fails instead of hanging

ADVICE = {"documents_help_given": True}  # completing D_03 registers the case in the journal


def _pg_url(database: str) -> str:
    assert POSTGRES_URL is not None
    return make_url(POSTGRES_URL).set(database=database).render_as_string(hide_password=False)


def _pg_admin(*statements: str) -> None:
    """Run statements on the server's suite database outside a transaction (CREATE/DROP DATABASE)."""
    assert POSTGRES_URL is not None
    admin = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        admin.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def template(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A prepared database (schema, processes, demo users) that each test copies: a SQLite file, or on
    PostgreSQL a template database of its own, so the suite's shared `test` database is never touched."""
    backend = request.param
    var_dir = tmp_path_factory.mktemp(f"concurrency-{backend}")
    if backend == "sqlite":
        path = var_dir / "template.sqlite3"
        prepare_database(
            f"sqlite:///{path}", var_dir
        ).dispose()  # disposing checkpoints the WAL into the file
        yield str(path)
        return
    try:
        _pg_admin(
            f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)',
            f'DROP DATABASE IF EXISTS "{PG_TEMPLATE}" WITH (FORCE)',
            f'CREATE DATABASE "{PG_TEMPLATE}"',
        )
    except (OperationalError, ProgrammingError) as err:
        pytest.skip(f"cannot create PostgreSQL databases for the concurrency tests: {err.orig}")
    prepare_database(_pg_url(PG_TEMPLATE), var_dir).dispose()
    yield PG_TEMPLATE
    _pg_admin(
        f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)', f'DROP DATABASE IF EXISTS "{PG_TEMPLATE}"'
    )


@pytest.fixture
def committed(template: str, tmp_path: Path) -> Iterator[Kyzmat]:
    """A runtime on a fresh copy of the template whose sessions really commit."""
    if template.endswith(".sqlite3"):
        url = f"sqlite:///{tmp_path / 'concurrency.sqlite3'}"
        shutil.copyfile(template, tmp_path / "concurrency.sqlite3")
    else:
        _pg_admin(
            f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)',
            f'CREATE DATABASE "{PG_DATABASE}" TEMPLATE "{PG_TEMPLATE}"',
        )
        url = _pg_url(PG_DATABASE)
    engine = make_engine(url)
    try:
        yield create_kyzmat(make_settings(tmp_path, url), engine=engine)
    finally:
        engine.dispose()


def _user(session: Session, username: str) -> User:
    found = session.scalar(select(User).where(User.username == username))
    assert found is not None
    return found


def _open_task(session: Session, instance_id: int, step_id: str) -> HumanTask:
    rows = session.scalars(
        select(HumanTask).where(
            HumanTask.instance_id == instance_id, HumanTask.status == "open", HumanTask.step_id == step_id
        )
    ).all()
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
            open_steps=sorted(
                s.scalars(
                    select(HumanTask.step_id).where(
                        HumanTask.instance_id == instance_id, HumanTask.status == "open"
                    )
                )
            ),
            completed_events=s.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.instance_id == instance_id, AuditEvent.action == "task_completed")
            )
            or 0,
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
                cases.complete_task(
                    kz,
                    s,
                    actor,
                    task_id,
                    RECEPTION,
                    expected_lock_version=seen if pass_lock_version else None,
                )
                s.commit()
                return seen
        # As two browser tabs: each reads the page (a read-only session), then posts the form.
        with kz.read_sessions() as r:
            task = r.get(HumanTask, task_id)
            assert task is not None and task.status == "open"
            seen = task.instance.lock_version
        barrier.wait()
        with transaction(kz.sessions) as s:
            cases.complete_task(
                kz,
                s,
                _user(s, "operator"),
                task_id,
                RECEPTION,
                expected_lock_version=seen if pass_lock_version else None,
            )
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
        events = s.scalars(
            select(AuditEvent).where(
                AuditEvent.instance_id == instance_id, AuditEvent.action == "task_completed"
            )
        ).all()
        assert [e.step_id for e in events] == ["D_02_reception"]
        done = s.get(HumanTask, task_id)
        assert done is not None and done.status == "completed"
        assert (
            s.scalar(select(func.count()).select_from(HumanTask).where(HumanTask.instance_id == instance_id))
            == 2
        )
        inst = s.get(ProcessInstance, instance_id)
        assert inst is not None
        version = kz.version(s, inst.version_id)
        wf = wfapi.restore(inst.state, version.bundle, kz.script_engine())
        assert [t.step_id for t in wfapi.ready_user_tasks(wf)] == ["D_03_advise"]
    # The case goes on from the one completion.
    _complete(kz, instance_id, "D_03_advise", ADVICE)
    assert _snapshot(kz, instance_id).open_steps == ["D_06_check_documents"]


@pytest.mark.parametrize(
    "pass_lock_version", [True, False], ids=["with-lock-version", "without-lock-version"]
)
def test_two_tabs_complete_the_same_step(committed: Kyzmat, pass_lock_version: bool) -> None:
    """Both read the open step, then both submit: one completes it, the other gets Conflict.

    On SQLite the second writer waits for the first's write lock (BEGIN IMMEDIATE) and then finds the
    step closed; on PostgreSQL it may also be stopped by the lock_version of the case.
    """
    _double_completion(committed, read_inside_the_write=False, pass_lock_version=pass_lock_version)


@pytest.mark.parametrize(
    "pass_lock_version", [True, False], ids=["with-lock-version", "without-lock-version"]
)
def test_two_transactions_read_then_complete_the_same_step(
    committed: Kyzmat, pass_lock_version: bool
) -> None:
    """Both write transactions have read the open step before either writes: the stale
    lock_version of the second must make it a Conflict (not a duplicate step, not a 500)."""
    if committed.db.dialect.name == "sqlite":
        pytest.skip(
            "SQLite takes the write lock at BEGIN IMMEDIATE: two write transactions cannot both read "
            "first (the other test covers SQLite)"
        )
    _double_completion(committed, read_inside_the_write=True, pass_lock_version=pass_lock_version)


def test_a_stale_expected_lock_version_changes_nothing(committed: Kyzmat) -> None:
    instance_id = _start(committed)
    before = _snapshot(committed, instance_id)
    with committed.sessions() as s:
        task_id = _open_task(s, instance_id, "D_02_reception").id
    for stale in (before.lock_version - 1, before.lock_version + 1):
        with pytest.raises(Conflict):
            with transaction(committed.sessions) as s:
                cases.complete_task(
                    committed, s, _user(s, "operator"), task_id, RECEPTION, expected_lock_version=stale
                )
        assert _snapshot(committed, instance_id) == before
    # The right one goes through.
    with transaction(committed.sessions) as s:
        cases.complete_task(
            committed, s, _user(s, "operator"), task_id, RECEPTION, expected_lock_version=before.lock_version
        )
    after = _snapshot(committed, instance_id)
    assert after.lock_version == before.lock_version + 1
    assert after.open_steps == ["D_03_advise"]
    assert after.completed_events == 1


# --- two cases registered at once ---------------------------------------------------------------------


def _at_advice(kz: Kyzmat, count: int) -> list[int]:
    """Start cases and bring each to D_03, whose completion registers it in the journal."""
    ids = []
    for _ in range(count):
        instance_id = _start(kz)
        _complete(kz, instance_id, "D_02_reception", RECEPTION)
        ids.append(instance_id)
    return ids


def _register_at_once(kz: Kyzmat, ids: list[int]) -> list[str]:
    def register(instance_id: int) -> Callable[[threading.Barrier], str | None]:
        def work(barrier: threading.Barrier) -> str | None:
            with kz.read_sessions() as r:
                task_id = _open_task(r, instance_id, "D_03_advise").id
            barrier.wait()
            with transaction(kz.sessions) as s:
                return cases.complete_task(kz, s, _user(s, "operator"), task_id, ADVICE).reference

        return work

    outcomes = _race([register(i) for i in ids])
    _only_conflicts(outcomes)  # a retryable Conflict is acceptable; a database error (a 500) is not
    numbers = [value for kind, value in outcomes if kind == "ok"]
    assert numbers and len(set(numbers)) == len(numbers), outcomes
    with kz.sessions() as s:
        references = s.scalars(select(ProcessInstance.reference).where(ProcessInstance.id.in_(ids))).all()
    assert sorted(r for r in references if r) == sorted(numbers)
    return numbers


def test_cases_registered_at_once_get_different_journal_numbers(committed: Kyzmat) -> None:
    first, *racing = _at_advice(committed, 3)
    _complete(committed, first, "D_03_advise", ADVICE)  # the year's counter exists from here on
    numbers = _register_at_once(committed, racing)
    assert set(numbers) <= {f"DS-{_year(committed)}-00002", f"DS-{_year(committed)}-00003"}


def test_the_first_number_of_the_year_taken_twice_at_once(committed: Kyzmat) -> None:
    """Both transactions look for the year's journal counter before either has created it
    (a SELECT ... FOR UPDATE alone locks nothing then, and both INSERT the counter)."""
    if committed.db.dialect.name == "sqlite":
        pytest.skip(
            "SQLite serialises writers at BEGIN IMMEDIATE, so two cannot look for the counter at once"
        )
    ids = _at_advice(committed, 2)
    # Hold each transaction just before it inserts into journal_counter until the other gets there too.
    both_there = threading.Barrier(2, timeout=10)

    def before_execute(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO JOURNAL_COUNTER"):
            try:
                both_there.wait()
            except threading.BrokenBarrierError:
                pass  # the other one never inserts (the counter is created some other way): no race to stage

    event.listen(committed.db, "before_cursor_execute", before_execute)
    try:
        numbers = _register_at_once(committed, ids)
    finally:
        event.remove(committed.db, "before_cursor_execute", before_execute)
    assert set(numbers) <= {f"DS-{_year(committed)}-00001", f"DS-{_year(committed)}-00002"}


def _year(kz: Kyzmat) -> int:
    return kz.clock.now().astimezone(BISHKEK).year
