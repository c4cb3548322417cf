"""Time is an input: engine code asks a clock for `now`, never the wall clock directly."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock, in UTC (tests move it with time-machine)."""

    def now(self) -> datetime:
        return datetime.now(UTC)
