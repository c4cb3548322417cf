"""The scheduler's annual job starts the year's monitoring case (Process E) once."""

from __future__ import annotations

from sqlalchemy import func, select

from engine import worker as scheduler
from engine.platform.models import ProcessInstance


def test_the_scheduler_starts_the_years_monitoring_case_once(kz):
    def count() -> int:
        with kz.sessions() as s:
            return s.scalar(
                select(func.count())
                .select_from(ProcessInstance)
                .where(ProcessInstance.process_id == "quality_monitoring")
            )

    before = count()
    job = next(j for j in scheduler.JOBS if j.name == "annual_cases")
    assert job.run(kz, kz.clock.now()) == 1
    assert job.run(kz, kz.clock.now()) == 0
    assert count() == before + 1
