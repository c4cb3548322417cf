"""The business calendar: working days of the Kyrgyz Republic and statutory deadlines.

Pure module (no Flask, no SQLAlchemy). The working-day rule is Monday to Friday minus the
public holidays of the `holidays` package, corrected by decree exceptions that win over
both. A deadline date means the end of that local day in Asia/Bishkek.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

import holidays as holidays_package

__all__ = [
    "BISHKEK",
    "MAX_COUNT",
    "MAX_SEARCH_DAYS",
    "Exceptions",
    "WorkingCalendar",
    "end_of_day",
    "iso_deadline",
    "sandbox_helpers",
    "to_local_date",
]

BISHKEK = ZoneInfo("Asia/Bishkek")

# Upper bound for n in add_working_days/add_days: ten years is beyond any statutory term
# and keeps a typo in a diagram from running for minutes.
MAX_COUNT = 3660
# Longest stretch searched for a working day before the calendar is declared broken
# (e.g. an exceptions table that marks every day off).
MAX_SEARCH_DAYS = 3 * 366

_END_OF_DAY = time(23, 59, 59)
_ONE_DAY = timedelta(days=1)
_ACCEPTED = "a date, a datetime or an ISO 8601 string such as '2026-11-20' or '2026-11-20T15:30:00+06:00'"
# The holidays package does not promise thread safety; builds are rare (once per year), so serialise them.
_BUILD_LOCK = threading.Lock()


class Exceptions(Protocol):
    """Decree exceptions: True = forced working day, False = forced day off, None = no exception."""

    def get(self, key: date, /) -> bool | None: ...


@dataclass(frozen=True, slots=True)
class _Year:
    """The law's calendar for one year, as the holidays package gives it."""

    names: Mapping[date, str]
    weekend_workdays: frozenset[date]


# ---------------------------------------------------------------------------
# Parsing and formatting


def _show(value: object) -> str:
    """Return a short repr of a value for an error message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _local_date(value: object, label: str) -> date:
    """Return the Bishkek local date of value, or raise ValueError naming label."""
    if isinstance(value, datetime):
        return _local_datetime(value).date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        # A length cap keeps absurd inputs out of the parser and the error message.
        if 0 < len(text) <= 40:
            try:
                return _local_datetime(datetime.fromisoformat(text)).date()
            except ValueError:
                pass
    raise ValueError(f"{label} must be {_ACCEPTED}, got {_show(value)}")


def _local_datetime(value: datetime) -> datetime:
    """Return value as an aware Bishkek datetime; naive values already are Bishkek local time."""
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=BISHKEK)
    return value.astimezone(BISHKEK)


def _whole_number(value: object, label: str, low: int, high: int) -> int:
    """Return value as an int in [low, high], or raise ValueError naming label."""
    # bool is an int subclass, but True as a day count is always a modelling mistake.
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        # JSON form data may carry whole numbers as floats (5.0).
        number = int(value)
    else:
        number = None
    if number is None or not low <= number <= high:
        raise ValueError(f"{label} must be a whole number from {low} to {high}, got {_show(value)}")
    return number


def to_local_date(value: object) -> date:
    """Return the Bishkek local date of a date, datetime or ISO 8601 string."""
    return _local_date(value, "to_local_date: value")


def end_of_day(d: object) -> datetime:
    """Return the end (23:59:59) of the Bishkek local day of d as an aware datetime."""
    return _end_of(_local_date(d, "end_of_day: d"))


def iso_deadline(d: object) -> str:
    """Return the end of the Bishkek local day of d as an ISO 8601 string."""
    return _end_of(_local_date(d, "iso_deadline: d")).isoformat()


def _end_of(day: date) -> datetime:
    """Return 23:59:59 Bishkek time on day."""
    return datetime.combine(day, _END_OF_DAY, tzinfo=BISHKEK)


# ---------------------------------------------------------------------------
# The law's holidays, cached per country and year


@functools.lru_cache(maxsize=8)
def _coverage(country: str) -> tuple[int, int]:
    """Return the first and last year the holidays package covers for country."""
    try:
        with _BUILD_LOCK:
            calendar = holidays_package.country_holidays(country)
    except NotImplementedError:
        raise ValueError(f"no public holiday calendar for country {country!r}") from None
    return calendar.start_year, calendar.end_year


@functools.cache
def _year(country: str, year: int) -> _Year:
    """Build the law's calendar for one year; slow, hence cached for the process."""
    first, last = _coverage(country)
    if not first <= year <= last:
        raise ValueError(
            f"no public holiday data for {year}: the {country} calendar covers {first} to {last}"
        )
    with _BUILD_LOCK:
        calendar = holidays_package.country_holidays(country, years=year, language="en_US")
        names = {day: calendar[day] for day in sorted(calendar) if day.year == year}
        # Saturdays worked in exchange for a day off elsewhere (substitution decrees).
        weekend_workdays = frozenset(day for day in calendar.weekend_workdays if day.year == year)
    return _Year(names=names, weekend_workdays=weekend_workdays)


# ---------------------------------------------------------------------------
# The calendar


class WorkingCalendar:
    """Working days of a country (Mon-Fri minus public holidays), corrected by decree exceptions."""

    def __init__(
        self,
        exceptions: Mapping[date, bool] | Exceptions | None = None,
        country: str = "KG",
    ) -> None:
        """Create a calendar; exceptions are read live, so edits to them apply at once."""
        _coverage(country)
        if isinstance(exceptions, dict):
            _check_exception_keys(exceptions)
        self.country = country
        self.exceptions: Mapping[date, bool] | Exceptions = exceptions if exceptions is not None else {}

    def __repr__(self) -> str:
        return f"WorkingCalendar(country={self.country!r})"

    # -- queries ---------------------------------------------------------

    def is_working_day(self, d: object) -> bool:
        """Return whether the local date of d is a working day."""
        return self._is_working(_local_date(d, "is_working_day: d"))

    def holidays(self, year: int) -> list[tuple[date, str]]:
        """Return the law's public holidays of a year, sorted, with their English names."""
        year = _whole_number(year, "holidays: year", 1, 9999)
        return list(_year(self.country, year).names.items())

    def holiday_name(self, d: object) -> str | None:
        """Return the law's holiday name of the local date of d, or None (exceptions ignored)."""
        day = _local_date(d, "holiday_name: d")
        return _year(self.country, day.year).names.get(day)

    # -- deadlines -------------------------------------------------------

    def next_working_day(self, d: object) -> date:
        """Return the first working day strictly after the local date of d."""
        return self._step(_local_date(d, "next_working_day: d"), _ONE_DAY, "next_working_day")

    def previous_working_day(self, d: object) -> date:
        """Return the last working day strictly before the local date of d."""
        return self._step(_local_date(d, "previous_working_day: d"), -_ONE_DAY, "previous_working_day")

    def add_working_days(self, d: object, n: int) -> date:
        """Return the n-th working day after the local date of d (d itself never counts)."""
        day = _local_date(d, "add_working_days: d")
        for _ in range(_whole_number(n, "add_working_days: n", 0, MAX_COUNT)):
            day = self._step(day, _ONE_DAY, "add_working_days")
        return day

    def add_days(self, d: object, n: int) -> date:
        """Return the local date of d plus n calendar days, moved forward to a working day."""
        day = _local_date(d, "add_days: d")
        count = _whole_number(n, "add_days: n", 0, MAX_COUNT)
        return self._on_or_after(_shift(day, count, "add_days"), "add_days")

    def fixed_date(self, year: int, month: int, day: int) -> date:
        """Return the given date, moved forward to a working day."""
        y = _whole_number(year, "fixed_date: year", 1, 9999)
        m = _whole_number(month, "fixed_date: month", 1, 12)
        dd = _whole_number(day, "fixed_date: day", 1, 31)
        try:
            target = date(y, m, dd)
        except ValueError:
            raise ValueError(f"fixed_date: {y:04d}-{m:02d}-{dd:02d} is not a valid date") from None
        return self._on_or_after(target, "fixed_date")

    def working_days_between(self, start: object, end: object) -> int:
        """Return the number of working days in (start, end]; negative when end is before start."""
        first = _local_date(start, "working_days_between: start")
        last = _local_date(end, "working_days_between: end")
        if last < first:
            return -self._count_after(last, first)
        return self._count_after(first, last)

    # -- internals -------------------------------------------------------

    def _is_working(self, day: date) -> bool:
        """Return whether day is a working day; O(1) once its year is cached."""
        forced = self.exceptions.get(day)
        if forced is not None:
            return bool(forced)
        law = _year(self.country, day.year)
        if day.weekday() >= 5:
            return day in law.weekend_workdays
        return day not in law.names

    def _step(self, day: date, step: timedelta, caller: str) -> date:
        """Return the first working day strictly beyond day in the direction of step."""
        return self._search(_shift(day, step.days, caller), step, caller)

    def _on_or_after(self, day: date, caller: str) -> date:
        """Return day if it is a working day, else the next one."""
        return self._search(day, _ONE_DAY, caller)

    def _search(self, day: date, step: timedelta, caller: str) -> date:
        """Return the first working day from day on in the direction of step, within a bound."""
        start = day
        for _ in range(MAX_SEARCH_DAYS):
            if self._is_working(day):
                return day
            day = _shift(day, step.days, caller)
        direction = "after" if step.days > 0 else "before"
        raise ValueError(
            f"{caller}: no working day within {MAX_SEARCH_DAYS} days {direction} {start.isoformat()}; "
            "check the calendar exceptions"
        )

    def _count_after(self, first: date, last: date) -> int:
        """Return the number of working days in (first, last], first <= last."""
        count = 0
        day = first
        while day < last:
            day += _ONE_DAY
            count += self._is_working(day)
        return count


def _shift(day: date, days: int, caller: str) -> date:
    """Return day plus days, turning an overflow past year 1 or 9999 into a ValueError."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        raise ValueError(f"{caller}: {day.isoformat()} {days:+d} days is outside the calendar") from None


def _check_exception_keys(exceptions: Mapping[object, object]) -> None:
    """Reject keys that could never match a date lookup (datetimes, strings) and non-bool values."""
    for key, value in exceptions.items():
        # datetime never equals a date, so such a row would silently do nothing.
        if not isinstance(key, date) or isinstance(key, datetime):
            raise ValueError(f"calendar exceptions: keys must be dates, got {_show(key)}")
        if not isinstance(value, bool):
            raise ValueError(
                f"calendar exceptions: {key.isoformat()} must map to True (working day) "
                f"or False (day off), got {_show(value)}"
            )


# ---------------------------------------------------------------------------
# Helpers exposed to BPMN expressions


def sandbox_helpers(calendar: WorkingCalendar, now: Callable[[], datetime]) -> dict[str, Callable]:
    """Return the calendar functions for the expression sandbox; deadlines are ISO strings."""

    def next_working_day(d: object) -> str:
        """Return the end of the next working day after d."""
        return _end_of(calendar.next_working_day(d)).isoformat()

    def add_working_days(d: object, n: int) -> str:
        """Return the end of the n-th working day after d."""
        return _end_of(calendar.add_working_days(d, n)).isoformat()

    def add_days(d: object, n: int) -> str:
        """Return the end of the day n calendar days after d, moved forward to a working day."""
        return _end_of(calendar.add_days(d, n)).isoformat()

    def fixed_date(year: int, month: int, day: int) -> str:
        """Return the end of that date, moved forward to a working day."""
        return _end_of(calendar.fixed_date(year, month, day)).isoformat()

    def quarter_end(year: int, quarter: int) -> str:
        """Return the end of the last day of that calendar quarter, not moved."""
        y = _whole_number(year, "quarter_end: year", 1, 9999)
        q = _whole_number(quarter, "quarter_end: quarter", 1, 4)
        last = date(y, 12, 31) if q == 4 else date(y, 3 * q + 1, 1) - timedelta(days=1)
        return _end_of(last).isoformat()

    def end_of_day(d: object) -> str:
        """Return the end of the local day of d, not moved."""
        return _end_of(_local_date(d, "end_of_day: d")).isoformat()

    def today() -> str:
        """Return the current Bishkek local date as YYYY-MM-DD."""
        return _local_datetime(now()).date().isoformat()

    def now_() -> str:
        """Return the current Bishkek local datetime as an ISO string."""
        return _local_datetime(now()).isoformat(timespec="seconds")

    def year_of(d: object) -> int:
        """Return the year of the local date of d."""
        return _local_date(d, "year_of: d").year

    helpers: dict[str, Callable] = {
        "next_working_day": next_working_day,
        "add_working_days": add_working_days,
        "add_days": add_days,
        "fixed_date": fixed_date,
        "quarter_end": quarter_end,
        "end_of_day": end_of_day,
        "today": today,
        "now": now_,
        "year_of": year_of,
    }
    return {name: _named_errors(name, function) for name, function in helpers.items()}


def _named_errors(name: str, function: Callable) -> Callable:
    """Wrap function so every ValueError it raises starts with the helper's name."""

    @functools.wraps(function)
    def wrapper(*args: object, **kwargs: object) -> object:
        try:
            return function(*args, **kwargs)
        except ValueError as exc:
            message = str(exc)
            if message.startswith(f"{name}:"):
                raise
            # The modeller sees this in the diagram error; the helper name locates the expression.
            raise ValueError(f"{name}: {message}") from None

    wrapper.__name__ = name
    return wrapper
