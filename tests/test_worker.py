"""`kyzmat worker` after downtime: everything overdue fires on start, in due order, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine
from sqlalchemy import select

from engine import worker as scheduler
from engine.bootstrap import create_kyzmat
from engine.platform.models import AuditEvent, Timer
from tests.conftest import make_settings, prepare_database
from tests.test_cli import cli, env  # noqa: F401 - fixtures
from tests.test_worker_processes import publish_timer_process, start_cases


def test_overdue_timers_fire_on_start_in_due_order(cli, env):  # noqa: F811
    env.var_dir.mkdir(parents=True, exist_ok=True)
    engine = prepare_database(env.url, env.var_dir)
    kz = create_kyzmat(make_settings(env.var_dir, env.url), engine=engine)
    publish_timer_process(kz)
    now = datetime.now(UTC)
    # Five cases started out of order while the worker was down: their one-hour timers fell due
    # 50, 10, 40, 20 and 30 minutes ago.
    for minutes_ago in (50, 10, 40, 20, 30):
        with time_machine.travel(now - timedelta(hours=1, minutes=minutes_ago), tick=False):
            start_cases(kz, 1)
    with time_machine.travel(now, tick=False):
        result = cli("worker", "--once")
    assert result.exit_code == 0, result.output
    assert "timers: 5" in result.output
    with kz.sessions() as s:
        by_instance = {t.instance_id: t.due_at for t in s.scalars(select(Timer))}
        fired = [
            e.instance_id
            for e in s.scalars(
                select(AuditEvent).where(AuditEvent.action == "timer_fired").order_by(AuditEvent.id)
            )
        ]
        assert sorted(by_instance, key=by_instance.__getitem__) == fired
        assert set(s.scalars(select(Timer.status))) == {"fired"}
    with time_machine.travel(now, tick=False):
        assert "timers: 0" in cli("worker", "--once").output  # nothing fires twice
    engine.dispose()


def test_adding_a_job_is_one_line(kz):
    calls = []
    scheduler.JOBS.append(scheduler.Job("annual_cases", lambda k, now: calls.append(now) or 1, every_s=3600))
    try:
        at = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
        assert scheduler.tick(kz, at)["annual_cases"] == 1
        assert scheduler.tick(kz, at, force=False).get("annual_cases") is None  # not again within the hour
        assert calls == [at]
    finally:
        scheduler.JOBS.pop()


def test_a_failing_job_does_not_stop_the_others(kz):
    def broken(k, now):
        raise RuntimeError("boom")

    scheduler.JOBS.insert(0, scheduler.Job("broken", broken))
    try:
        done = scheduler.tick(kz, datetime(2026, 11, 18, 10, 0, tzinfo=UTC))
    finally:
        scheduler.JOBS.pop(0)
    assert "broken" not in done and done["timers"] == 0 and "reminders" in done
