"""The background scheduler: wakes for the next due timer and fires what is due."""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from .cases import fire_due_timers, next_timer_due
from .context import Kyzmat
from .db import transaction
from .errors import KyzmatError

log = logging.getLogger(__name__)


def tick(kz: Kyzmat, now: datetime | None = None) -> int:
    """One unit of work: fire every due timer (in batches, each batch one transaction)."""
    total = 0
    while True:
        try:
            with transaction(kz.sessions) as session:
                fired = fire_due_timers(kz, session, now=now or kz.clock.now())
        except KyzmatError:
            log.exception("firing due timers failed")
            return total
        total += fired
        if fired == 0:
            return total


def seconds_until_next(kz: Kyzmat, cap: float = 30.0) -> float:
    with kz.sessions() as session:
        due = next_timer_due(session)
    if due is None:
        return cap
    return max(0.0, min(cap, (due - kz.clock.now()).total_seconds()))


def run_forever(kz: Kyzmat, stop: threading.Event) -> None:
    while not stop.is_set():
        tick(kz)
        # Sleep until the next timer is due (re-checked at least every 30 s for newly created timers).
        stop.wait(seconds_until_next(kz) + 0.05)


def start_in_process(kz: Kyzmat) -> threading.Event:
    """Run the scheduler in a daemon thread beside the web server (the embedded set-up)."""
    stop = threading.Event()
    threading.Thread(target=run_forever, args=(kz, stop), name="kyzmat-scheduler", daemon=True).start()
    return stop
