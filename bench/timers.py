"""Timer punctuality: with 10,000 timers pending, how late does the scheduler fire the ones that come due?

SQLite in a temporary directory, the in-process scheduler (as `make run` has it) in its thread. 10,000
real cases wait on a one-hour timer (`bench/timer_wait.bpmn`); in each round, `near` of them are
replaced by cases started one transaction at a time (as web requests do) whose timers come due
2 s after their start. Delay = when the case recorded its timer firing minus the timer's due time.
Prints one JSON line; the figures are medians over the rounds."""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select  # noqa: E402

from bench import engine as engine_bench  # noqa: E402
from engine.definitions import publishing as processes
from engine.platform.db import transaction
from engine.platform.models import ProcessInstance, Timer, User
from engine.runtime import cases
from engine.worker import start_in_process

DIAGRAM = Path(__file__).resolve().parent / "timer_wait.bpmn"
PENDING = 10_000


def setup(tmp: Path) -> Any:
    """The engine benchmark's database (schema, shipped processes, demo users) plus the timer diagrams."""
    kz = engine_bench.setup(tmp)
    xml = DIAGRAM.read_bytes()
    short = xml.replace(b'"PT1H"', b'"PT2S"').replace(b'id="timer_wait"', b'id="timer_wait_short"')
    with transaction(kz.sessions) as s:
        for name, content in (("timer_wait.bpmn", xml), ("timer_wait_short.bpmn", short)):
            processes.publish(
                s, content, name, forms_dir=kz.settings.forms_dir, now=kz.clock.now(), note="bench"
            )
    return kz


def start(kz: Any, process_id: str, count: int, per_transaction: int) -> list[int]:
    ids = []
    for first in range(0, count, per_transaction):
        with transaction(kz.sessions) as s:
            admin = s.scalar(select(User).where(User.username == "admin"))
            for _ in range(min(per_transaction, count - first)):
                ids.append(cases.start_case(kz, s, admin, process_id).id)
    return ids


def waiting(kz: Any) -> int:
    with kz.sessions() as s:
        return s.scalar(select(func.count()).select_from(Timer).where(Timer.status == "waiting")) or 0


def main(rounds: int = 5, near: int = 100) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        kz = setup(Path(tmp))
        start(kz, "timer_wait", PENDING - near, per_transaction=500)
        stop = start_in_process(kz)
        medians, p99s, pending_seen = [], [], []
        try:
            for _ in range(rounds):
                pending_seen.append(waiting(kz) + near)
                ids = start(kz, "timer_wait_short", near, per_transaction=1)
                deadline = time.monotonic() + 120
                while True:
                    with kz.sessions() as s:
                        left = s.scalar(
                            select(func.count())
                            .select_from(Timer)
                            .where(Timer.instance_id.in_(ids), Timer.status == "waiting")
                        )
                    if not left or time.monotonic() > deadline:
                        break
                    time.sleep(0.2)
                with kz.sessions() as s:
                    rows = s.execute(
                        select(Timer.due_at, Timer.fired_at).where(Timer.instance_id.in_(ids))
                    ).all()
                    done = s.scalar(
                        select(func.count())
                        .select_from(ProcessInstance)
                        .where(ProcessInstance.id.in_(ids), ProcessInstance.status == "completed")
                    )
                assert done == near, f"only {done} of {near} cases completed"
                delays = sorted((fired - due).total_seconds() for due, fired in rows)
                medians.append(statistics.median(delays))
                p99s.append(delays[min(len(delays) - 1, round(0.99 * (len(delays) - 1)))])
        finally:
            stop.set()
    print(
        json.dumps(
            {
                "benchmark": "timers",
                "pending": min(pending_seen),
                "rounds": rounds,
                "timers_per_round": near,
                "median_delay_s": round(statistics.median(medians), 3),
                "p99_delay_s": round(statistics.median(p99s), 3),
                "median_per_round": [round(m, 3) for m in medians],
                "p99_per_round": [round(p, 3) for p in p99s],
            }
        )
    )


if __name__ == "__main__":
    main()
