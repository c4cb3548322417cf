"""The annual start of Process E: one monitoring case per calendar year, started by the system.

The scheduler calls `start_due_annual_cases(kz, session, now)` on every tick; it is idempotent.
A case "of year Y" is a `quality_monitoring` case whose reference (`monitoring_year`) is Y,
whether the system or a national user started it.
"""

from __future__ import annotations

import zlib
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from engine.calendar.days import to_local_date
from engine.platform.errors import NotFound
from engine.platform.models import ProcessInstance
from engine.runtime.cases import start_case
from engine.runtime.context import Kyzmat
from engine.runtime.versions import latest_version

ANNUAL_PROCESSES = ("quality_monitoring",)


def start_due_annual_cases(
    kz: Kyzmat, session: Session, now: datetime | None = None
) -> list[ProcessInstance]:
    """Start this (Bishkek) year's case of every annual process that has none; return the new cases."""
    now = now or kz.clock.now()
    year = to_local_date(now).year
    if to_local_date(kz.clock.now()).year != year:
        # The diagram takes its year from today() (the clock): a different `now` would start a
        # case for another year than the one checked. Say so rather than guess.
        raise ValueError(f"start_due_annual_cases: now {now.isoformat()} is not in the clock's year")
    started = []
    for process_id in ANNUAL_PROCESSES:
        try:
            latest_version(session, process_id)
        except NotFound:
            continue  # not published here
        _lock(session, process_id, year)
        if _year_case(session, process_id, year) is not None:
            continue
        started.append(start_case(kz, session, None, process_id))
    return started


def _year_case(session: Session, process_id: str, year: int) -> ProcessInstance | None:
    return session.scalar(
        select(ProcessInstance)
        .where(ProcessInstance.process_id == process_id, ProcessInstance.reference == str(year))
        .limit(1)
    )


def _lock(session: Session, process_id: str, year: int) -> None:
    """Serialize concurrent starters until commit (SQLite already writes one transaction at a time)."""
    if session.get_bind().dialect.name == "postgresql":
        key = zlib.crc32(f"annual:{process_id}:{year}".encode())
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
