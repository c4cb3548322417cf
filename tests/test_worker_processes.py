"""Several `kyzmat worker` processes on one PostgreSQL database: 2,000 due timers, one worker killed
with SIGKILL halfway; every timer fires exactly once (counted in the audit trail).

Needs KYZMAT_TEST_POSTGRES_URL; the test creates and drops a database of its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import func, select

from engine.bootstrap import create_kyzmat
from engine.definitions import publishing as processes
from engine.platform.config import REPO_ROOT
from engine.platform.db import transaction
from engine.platform.models import AuditEvent, ProcessInstance, Timer, User
from engine.runtime import cases
from tests.conftest import POSTGRES_URL, make_settings, prepare_database
from tests.test_concurrency import _pg_admin, _pg_url

pytestmark = pytest.mark.slow

TIMERS = 2000
WORKERS = 3
PG_DATABASE = f"kyzmat_workers_{os.getpid()}"
DIAGRAM = REPO_ROOT / "bench" / "timer_wait.bpmn"  # start -> timer "PT1H" -> end
KYZMAT = str(Path(sys.executable).with_name("kyzmat"))


def publish_timer_process(kz) -> None:
    with transaction(kz.sessions) as s:
        processes.publish(
            s,
            DIAGRAM.read_bytes(),
            DIAGRAM.name,
            forms_dir=kz.settings.forms_dir,
            now=kz.clock.now(),
            note="a timer and nothing else",
        )


def start_cases(kz, count: int, batch: int = 250) -> None:
    for first in range(0, count, batch):
        with transaction(kz.sessions) as s:
            admin = s.scalar(select(User).where(User.username == "admin"))
            for _ in range(min(batch, count - first)):
                cases.start_case(kz, s, admin, "timer_wait")


@pytest.mark.skipif(not POSTGRES_URL, reason="needs KYZMAT_TEST_POSTGRES_URL (PostgreSQL)")
def test_three_workers_one_killed_every_timer_fires_once(tmp_path):
    _pg_admin(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)', f'CREATE DATABASE "{PG_DATABASE}"')
    url = _pg_url(PG_DATABASE)
    engine = prepare_database(url, tmp_path)
    workers: list[subprocess.Popen] = []
    logs = []
    try:
        kz = create_kyzmat(make_settings(tmp_path, url), engine=engine)
        publish_timer_process(kz)
        # Started two hours ago, so every one-hour timer is an hour overdue: the workers find them all due.
        t0 = time.monotonic()
        with time_machine.travel(datetime.now(UTC) - timedelta(hours=2), tick=True):
            start_cases(kz, TIMERS)
        print(f"{TIMERS} cases started in {time.monotonic() - t0:.1f} s")
        with kz.sessions() as s:
            assert (
                s.scalar(select(func.count()).select_from(Timer).where(Timer.status == "waiting")) == TIMERS
            )

        env = {
            **os.environ,
            "KYZMAT_DATABASE_URL": url,
            "KYZMAT_VAR_DIR": str(tmp_path),
            "KYZMAT_SECRET_KEY": "test",
            "KYZMAT_SCHEDULER": "0",
        }
        logs = [open(tmp_path / f"worker{i}.log", "wb") for i in range(WORKERS)]  # noqa: SIM115
        started = time.monotonic()
        workers = [
            subprocess.Popen([KYZMAT, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)
            for log in logs
        ]

        def fired() -> int:
            with kz.sessions() as s:
                return s.scalar(select(func.count()).select_from(Timer).where(Timer.status == "fired")) or 0

        deadline = time.monotonic() + 300
        while fired() < TIMERS // 2:  # waiting on real processes, not on time
            assert time.monotonic() < deadline, "the workers did not fire half the timers in 5 minutes"
            assert all(w.poll() is None for w in workers), "a worker exited"
            time.sleep(0.05)
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(10)
        at_kill = fired()
        assert at_kill < TIMERS, "the timers were all fired before the kill: the test proves nothing"
        while fired() < TIMERS:
            assert time.monotonic() < deadline, f"only {fired()} of {TIMERS} timers fired"
            time.sleep(0.05)

        print(
            f"{TIMERS} timers fired by {WORKERS} workers in {time.monotonic() - started:.1f} s; "
            f"worker 0 killed at {at_kill}"
        )
        with kz.sessions() as s:
            events = s.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "timer_fired")
            )
            distinct = s.scalar(
                select(func.count(func.distinct(AuditEvent.instance_id))).where(
                    AuditEvent.action == "timer_fired"
                )
            )
            completed = s.scalar(
                select(func.count())
                .select_from(ProcessInstance)
                .where(ProcessInstance.process_id == "timer_wait", ProcessInstance.status == "completed")
            )
            waiting = s.scalar(select(func.count()).select_from(Timer).where(Timer.status == "waiting"))
        assert (events, distinct, completed, waiting) == (TIMERS, TIMERS, TIMERS, 0)
    finally:
        for w in workers:
            if w.poll() is None:
                w.terminate()
                w.wait(10)
        for log in logs:
            log.close()
        engine.dispose()
        _pg_admin(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')
