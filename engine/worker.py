"""The background worker: fires due timers, sends due reminders and digests, delivers the e-mail
outbox. It sleeps until the next due timer (or the next periodic job) rather than polling.

Several workers may run at once on PostgreSQL: timers and e-mails are claimed with row locks
(`FOR UPDATE SKIP LOCKED`), notifications are written with an idempotency key. On SQLite every
write transaction takes the single write lock, so workers simply queue.

Adding a periodic job is one line: `JOBS.append(Job("name", function, every_s=...))`, where
`function(kz, now) -> int` opens its own transactions and returns how much it did."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import event
from sqlalchemy.orm import Session

from engine.deadlines import reminders
from engine.monitoring import annual
from engine.notifications import mailer
from engine.platform.db import transaction
from engine.platform.errors import KyzmatError
from engine.runtime.cases import fire_due_timers, next_timer_due
from engine.runtime.context import Kyzmat

log = logging.getLogger(__name__)

IDLE_CAP_S = 5.0  # re-check at least this often, for timers other processes created meanwhile

# Schedulers of this process, woken when a transaction that created a timer commits (a new timer may be
# due before the one they sleep for). Workers in other processes see it within IDLE_CAP_S.
_sleepers: set[threading.Event] = set()
_sleepers_lock = threading.Lock()


@event.listens_for(Session, "after_commit")
def _wake_on_new_timer(session: Session) -> None:
    if session.info.pop("kyzmat_new_timers", False):
        with _sleepers_lock:
            for sleeper in _sleepers:
                sleeper.set()


@event.listens_for(Session, "after_rollback")
def _forget_new_timer(session: Session) -> None:
    session.info.pop("kyzmat_new_timers", None)


def tick_timers(kz: Kyzmat, now: datetime | None = None) -> int:
    """Fire every due timer, earliest first (in batches, each batch one transaction)."""
    total = 0
    while True:
        try:
            with transaction(kz.sessions) as session:
                fired = fire_due_timers(kz, session, now=now)
        except KyzmatError:
            log.exception("firing due timers failed")
            return total
        total += fired
        if fired == 0:
            return total


def in_transaction(verb: Callable[[Kyzmat, Session, datetime], int]) -> Callable[[Kyzmat, datetime], int]:
    """Run an engine verb `(kz, session, now)` as a job: one transaction per run."""

    def job(kz: Kyzmat, now: datetime) -> int:
        with transaction(kz.sessions) as session:
            return verb(kz, session, now)

    job.__name__ = verb.__name__
    return job


@dataclass
class Job:
    name: str
    run: Callable[[Kyzmat, datetime], int]
    every_s: float = 0.0  # 0: on every wake-up; otherwise at most this often
    last_run: dict[int, float] = field(default_factory=dict)  # per Kyzmat context (monotonic seconds)


JOBS: list[Job] = [
    Job("timers", lambda kz, now: tick_timers(kz)),
    Job("reminders", in_transaction(reminders.send_due_reminders), every_s=60),
    Job("digests", in_transaction(reminders.send_digests), every_s=60),
    Job("outbox", mailer.deliver_outbox),
    # Process E starts itself for the year once the year has begun (engine/annual.py).
    Job(
        "annual_cases",
        in_transaction(lambda kz, s, now: len(annual.start_due_annual_cases(kz, s, now))),
        every_s=3600,
    ),
]


def tick(kz: Kyzmat, now: datetime | None = None, *, force: bool = True) -> dict[str, int]:
    """One wake-up: run every job that is due (all of them when `force`); a failing job is logged and
    never stops the others."""
    done: dict[str, int] = {}
    for job in list(JOBS):
        last = job.last_run.get(id(kz))
        if not force and job.every_s and last is not None and time.monotonic() - last < job.every_s:
            continue
        job.last_run[id(kz)] = time.monotonic()
        try:
            if job.name == "timers" and now is not None:
                done[job.name] = tick_timers(kz, now)
            else:
                done[job.name] = job.run(kz, now or kz.clock.now())
        except Exception:
            log.exception("background job %s failed", job.name)
    return done


def seconds_until_next(kz: Kyzmat, cap: float = IDLE_CAP_S) -> float:
    """Seconds until the next timer or outbox retry is due, at most `cap` (and the next periodic job)."""
    with kz.read_sessions() as session:
        now = kz.clock.now()
        outbox = mailer.next_attempt_due(session, now) if kz.settings.smtp_host else None
        candidates = [due for due in (next_timer_due(session), outbox) if due]
    wait = min([cap] + [(due - now).total_seconds() for due in candidates])
    for job in JOBS:
        last = job.last_run.get(id(kz))
        if job.every_s and last is not None:
            wait = min(wait, job.every_s - (time.monotonic() - last))
    return max(0.0, wait)


def run_forever(kz: Kyzmat, stop: threading.Event) -> None:
    """Work until `stop` is set. The first wake-up runs everything: after downtime whatever is overdue
    fires at once, in due order."""
    wake = threading.Event()
    with _sleepers_lock:
        _sleepers.add(wake)
    force = True
    try:
        while not stop.is_set():
            wake.clear()
            done = tick(kz, force=force)
            force = False
            try:
                wait = seconds_until_next(kz)
            except Exception:
                log.exception("reading the next due time failed")
                wait = IDLE_CAP_S
            if wait == 0 and not any(done.values()):
                wait = (
                    1.0  # something is due but could not be done now (a conflict, a busy server): no spinning
                )
            deadline = time.monotonic() + wait + 0.005
            # Wake for a new timer at once; look at `stop` at least twice a second.
            while not stop.is_set() and not wake.is_set() and (left := deadline - time.monotonic()) > 0:
                wake.wait(min(left, 0.5))
    finally:
        with _sleepers_lock:
            _sleepers.discard(wake)


def start_in_process(kz: Kyzmat) -> threading.Event:
    """Run the scheduler in a daemon thread beside the web server (the embedded set-up)."""
    stop = threading.Event()
    threading.Thread(target=run_forever, args=(kz, stop), name="kyzmat-scheduler", daemon=True).start()
    return stop
