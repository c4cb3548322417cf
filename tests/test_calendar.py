"""Tests for the business calendar (engine/calendar.py).

Expected dates come from the KG holidays of `holidays==0.109`:
2026: 1-7 Jan, 8 Mar (Sun), 20 Mar (Eid al-Fitr), 21 Mar (Sat), 1-9 May, 27 May (Eid al-Adha), 31 Aug.
2027: 1-7 Jan, 8 Mar, 9 Mar (Eid al-Fitr, estimated), 21 Mar (Sun), 1-9 May, 16 May (Sun, estimated), 31 Aug.
"""

from __future__ import annotations

import time as wall_clock
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import time_machine

import engine.calendar.days as calendar_module
from engine.calendar.days import (
    BISHKEK,
    MAX_COUNT,
    WorkingCalendar,
    end_of_day,
    iso_deadline,
    sandbox_helpers,
    to_local_date,
)

D = date


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return WorkingCalendar()


@pytest.fixture
def helpers(cal: WorkingCalendar) -> dict:
    return sandbox_helpers(cal, lambda: datetime.now(BISHKEK))


class AllDaysOff:
    """An exceptions table that forces every day off (a broken decree import)."""

    def get(self, key: date, /) -> bool | None:
        return False


# ---------------------------------------------------------------------------
# The law's holidays


def test_holidays_2026_match_the_law(cal: WorkingCalendar) -> None:
    listed = cal.holidays(2026)
    assert listed == sorted(listed)
    days = [day for day, _ in listed]
    assert days == [
        *(D(2026, 1, d) for d in range(1, 8)),
        D(2026, 3, 8),
        D(2026, 3, 20),
        D(2026, 3, 21),
        *(D(2026, 5, d) for d in range(1, 10)),
        D(2026, 5, 27),
        D(2026, 8, 31),
    ]
    assert (D(2026, 3, 21), "Nooruz Holiday") in listed
    assert (D(2026, 8, 31), "Independence Day") in listed


def test_holidays_2027_include_estimated_islamic_dates(cal: WorkingCalendar) -> None:
    names = dict(cal.holidays(2027))
    assert names[D(2027, 3, 9)] == "Eid al-Fitr (estimated)"
    assert names[D(2027, 5, 16)] == "Eid al-Adha (estimated)"
    assert len(names) == 21


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("2026-01-01", "New Year's Day"),
        ("2026-05-05", "Constitution Day"),
        (D(2026, 5, 27), "Eid al-Adha"),
        ("2026-08-31T12:00:00+06:00", "Independence Day"),
        ("2026-11-20", None),
        # 7 Nov is a commemoration day that has been a working day since 2025.
        ("2026-11-07", None),
    ],
)
def test_holiday_name(cal: WorkingCalendar, value: object, name: str | None) -> None:
    assert cal.holiday_name(value) == name


@pytest.mark.parametrize(
    ("value", "working"),
    [
        ("2026-11-20", True),  # Friday
        ("2026-11-21", False),  # Saturday
        ("2026-11-22", False),  # Sunday
        ("2026-01-08", True),  # first working day of 2026
        ("2026-03-20", False),  # Eid al-Fitr, a Friday
        ("2026-05-27", False),  # Eid al-Adha, a Wednesday
        ("2027-03-09", False),  # Eid al-Fitr 2027 (estimated), a Tuesday
        ("2027-01-08", True),
        # Substitution decree in the package: 2 Jan 2025 off, Saturday 11 Jan 2025 worked.
        ("2025-01-02", False),
        ("2025-01-11", True),
    ],
)
def test_is_working_day(cal: WorkingCalendar, value: str, working: bool) -> None:
    assert cal.is_working_day(value) is working


@pytest.mark.parametrize(
    ("start", "end", "count"), [("2025-12-31", "2026-12-31", 247), ("2026-12-31", "2027-12-31", 248)]
)
def test_working_days_per_year(cal: WorkingCalendar, start: str, end: str, count: int) -> None:
    # 261 weekdays in each year, minus 14 (2026) and 13 (2027) holidays that fall on a weekday.
    assert cal.working_days_between(start, end) == count


# ---------------------------------------------------------------------------
# Counting rules


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ("2026-11-20", D(2026, 11, 23)),  # Friday -> Monday
        ("2026-11-19", D(2026, 11, 20)),  # Thursday -> Friday
        ("2026-11-21", D(2026, 11, 23)),  # Saturday -> Monday
        ("2026-12-31", D(2027, 1, 8)),  # Thursday before the New Year holidays 2027
        ("2026-04-30", D(2026, 5, 11)),  # across the May holidays (1-9 May)
        ("2026-05-01", D(2026, 5, 11)),  # from inside the May holidays
        ("2026-03-19", D(2026, 3, 23)),  # Eid al-Fitr Fri 20, Nooruz Sat 21
        ("2026-08-28", D(2026, 9, 1)),  # weekend, then Independence Day on Monday
        ("2027-03-05", D(2027, 3, 10)),  # Mon 8 Mar and Tue 9 Mar (Eid al-Fitr, estimated)
    ],
)
def test_next_working_day(cal: WorkingCalendar, start: str, expected: date) -> None:
    assert cal.next_working_day(start) == expected


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ("2026-11-23", D(2026, 11, 20)),  # Monday -> Friday
        ("2026-05-11", D(2026, 4, 30)),  # back across the May holidays
        ("2027-01-08", D(2026, 12, 31)),  # back across the New Year holidays
        ("2026-09-01", D(2026, 8, 28)),  # back across Independence Day
        ("2026-11-22", D(2026, 11, 20)),  # Sunday -> Friday
    ],
)
def test_previous_working_day(cal: WorkingCalendar, start: str, expected: date) -> None:
    assert cal.previous_working_day(start) == expected


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        ("2026-08-24", 5, D(2026, 9, 1)),  # weekend and Independence Day (Mon 31 Aug)
        ("2026-05-26", 5, D(2026, 6, 3)),  # Eid al-Adha (Wed 27 May) and a weekend
        ("2027-03-05", 5, D(2027, 3, 16)),  # weekend, 8 Mar, 9 Mar (estimated Eid)
        ("2026-12-30", 3, D(2027, 1, 11)),  # 31 Dec, then 1-7 Jan off, Fri 8, Mon 11
        ("2026-11-16", 3, D(2026, 11, 19)),  # §8 #2: three working days, no day off in between
        ("2026-11-18", 5, D(2026, 11, 25)),  # §8 #3: five working days over a weekend
        ("2026-11-21", 1, D(2026, 11, 23)),  # from a Saturday: Monday is the first
        ("2026-11-20", 0, D(2026, 11, 20)),
        ("2026-11-21", 0, D(2026, 11, 21)),  # n == 0 keeps a non-working day unchanged
        ("2026-11-20T20:00:00Z", 0, D(2026, 11, 21)),  # ... as its Bishkek local date
    ],
)
def test_add_working_days(cal: WorkingCalendar, start: str, n: int, expected: date) -> None:
    assert cal.add_working_days(start, n) == expected


def test_add_working_days_is_consistent_with_the_other_rules(cal: WorkingCalendar) -> None:
    day = D(2026, 1, 1)
    while day <= D(2027, 12, 31):
        following = cal.next_working_day(day)
        assert cal.add_working_days(day, 1) == following
        assert cal.is_working_day(following)
        previous = cal.previous_working_day(following)
        assert previous == day if cal.is_working_day(day) else previous < day
        assert cal.working_days_between(day, cal.add_working_days(day, 7)) == 7
        day += timedelta(days=1)


def test_add_working_days_accepts_the_largest_count(cal: WorkingCalendar) -> None:
    start = D(2026, 1, 1)
    result = cal.add_working_days(start, MAX_COUNT)
    assert cal.working_days_between(start, result) == MAX_COUNT


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        # §8 #1: 30 calendar days after the council approval.
        ("2026-10-01", 30, D(2026, 11, 2)),  # lands on Sat 31 Oct -> Mon 2 Nov
        ("2026-08-01", 30, D(2026, 9, 1)),  # lands on Independence Day (Mon) -> Tue
        ("2026-04-04", 30, D(2026, 5, 11)),  # lands on 4 May, inside the May holidays
        ("2026-12-03", 30, D(2027, 1, 8)),  # lands on Sat 2 Jan 2027, inside the New Year holidays
        ("2027-02-07", 30, D(2027, 3, 10)),  # lands on 9 Mar 2027 (estimated Eid al-Fitr)
        ("2026-11-02", 30, D(2026, 12, 2)),  # lands on a working Wednesday: unchanged
        # §8 #4: two weeks = 14 calendar days.
        ("2026-11-10", 14, D(2026, 11, 24)),
        ("2026-04-23", 14, D(2026, 5, 11)),  # lands on 7 May (May holidays)
        ("2026-05-13", 14, D(2026, 5, 28)),  # lands on Eid al-Adha (27 May)
        ("2027-04-23", 14, D(2027, 5, 10)),  # lands on Fri 7 May 2027 (May holidays)
        ("2026-11-21", 0, D(2026, 11, 23)),  # n == 0 still moves a Saturday forward
    ],
)
def test_add_days(cal: WorkingCalendar, start: str, n: int, expected: date) -> None:
    assert cal.add_days(start, n) == expected


@pytest.mark.parametrize(
    ("year", "month", "day", "expected"),
    [
        (2026, 4, 20, D(2026, 4, 20)),  # §8 #11, Monday
        (2026, 10, 20, D(2026, 10, 20)),  # §8 #14, Tuesday
        (2026, 11, 15, D(2026, 11, 16)),  # §8 #16, Sunday -> Monday
        (2026, 11, 20, D(2026, 11, 20)),  # §8 #17, Friday
        (2026, 11, 30, D(2026, 11, 30)),  # §8 #18, Monday
        (2027, 4, 20, D(2027, 4, 20)),  # Tuesday
        (2027, 10, 20, D(2027, 10, 20)),  # Wednesday
        (2027, 11, 15, D(2027, 11, 15)),  # Monday
        (2027, 11, 20, D(2027, 11, 22)),  # Saturday -> Monday
        (2027, 11, 30, D(2027, 11, 30)),  # Tuesday
        (2026, 8, 31, D(2026, 9, 1)),  # a public holiday moves forward too
    ],
)
def test_fixed_date(cal: WorkingCalendar, year: int, month: int, day: int, expected: date) -> None:
    assert cal.fixed_date(year, month, day) == expected


@pytest.mark.parametrize(
    ("start", "end", "count"),
    [
        ("2026-11-16", "2026-11-18", 2),  # "2 working days left"
        ("2026-11-18", "2026-11-16", -2),
        ("2026-11-18", "2026-11-18", 0),
        ("2026-11-21", "2026-11-22", 0),  # a weekend only
        ("2026-11-20", "2026-11-23", 1),  # start excluded, end included
        ("2026-04-30", "2026-05-11", 1),  # only Mon 11 May
        ("2026-12-25", "2027-01-11", 6),  # 28-31 Dec, 8 Jan, 11 Jan
        ("2027-01-11", "2026-12-25", -6),  # "6 working days late"
        ("2026-11-19T18:00:00Z", "2026-11-23", 1),  # start is Friday in Bishkek
    ],
)
def test_working_days_between(cal: WorkingCalendar, start: str, end: str, count: int) -> None:
    assert cal.working_days_between(start, end) == count


# ---------------------------------------------------------------------------
# Decree exceptions


def test_extra_day_off_moves_a_deadline() -> None:
    decree = WorkingCalendar({D(2026, 11, 23): False})
    assert not decree.is_working_day("2026-11-23")
    assert decree.next_working_day("2026-11-20") == D(2026, 11, 24)
    assert decree.add_working_days("2026-11-19", 2) == D(2026, 11, 24)
    assert decree.fixed_date(2026, 11, 23) == D(2026, 11, 24)
    assert decree.working_days_between("2026-11-20", "2026-11-24") == 1


def test_working_saturday_counts() -> None:
    decree = WorkingCalendar({D(2026, 11, 21): True})
    assert decree.is_working_day("2026-11-21")
    assert decree.next_working_day("2026-11-20") == D(2026, 11, 21)
    assert decree.add_working_days("2026-11-20", 2) == D(2026, 11, 23)
    assert decree.add_days("2026-11-14", 7) == D(2026, 11, 21)
    assert decree.previous_working_day("2026-11-23") == D(2026, 11, 21)


def test_exception_overrides_a_public_holiday() -> None:
    decree = WorkingCalendar({D(2026, 8, 31): True})
    assert decree.is_working_day("2026-08-31")
    assert decree.next_working_day("2026-08-28") == D(2026, 8, 31)
    assert decree.fixed_date(2026, 8, 31) == D(2026, 8, 31)
    # The law's name stays: exceptions decide working days, not what the law calls a day.
    assert decree.holiday_name("2026-08-31") == "Independence Day"


def test_exceptions_are_read_live_and_accept_any_getter() -> None:
    table: dict[date, bool] = {}
    decree = WorkingCalendar(table)
    assert decree.next_working_day("2026-11-20") == D(2026, 11, 23)
    table[D(2026, 11, 23)] = False  # the lead's table is edited while the app runs
    assert decree.next_working_day("2026-11-20") == D(2026, 11, 24)


@pytest.mark.parametrize(
    "table",
    [{datetime(2026, 11, 23, 0, 0): False}, {"2026-11-23": False}, {D(2026, 11, 23): 0}],
    ids=["datetime-key", "string-key", "int-value"],
)
def test_exceptions_with_unusable_entries_are_rejected(table: dict) -> None:
    with pytest.raises(ValueError, match="calendar exceptions"):
        WorkingCalendar(table)


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("next_working_day", ("2026-11-20",)),
        ("previous_working_day", ("2026-11-20",)),
        ("add_working_days", ("2026-11-20", MAX_COUNT)),
        ("add_days", ("2026-11-20", 3)),
        ("fixed_date", (2026, 10, 20)),
    ],
)
def test_calendar_with_every_day_off_raises_instead_of_hanging(method: str, args: tuple) -> None:
    broken = WorkingCalendar(AllDaysOff())
    started = wall_clock.perf_counter()
    with pytest.raises(
        ValueError, match=rf"{method}: no working day within \d+ days .*check the calendar exceptions"
    ):
        getattr(broken, method)(*args)
    assert wall_clock.perf_counter() - started < 2


# ---------------------------------------------------------------------------
# Inputs, time zone, formatting


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (D(2026, 11, 20), D(2026, 11, 20)),
        ("2026-11-20", D(2026, 11, 20)),
        (" 2026-11-20 ", D(2026, 11, 20)),
        ("2026-11-20T15:30:00+00:00", D(2026, 11, 20)),
        ("2026-11-20T17:59:59Z", D(2026, 11, 20)),  # 23:59:59 in Bishkek
        ("2026-11-20T18:00:00Z", D(2026, 11, 21)),  # 00:00 the next day in Bishkek
        ("2026-11-20T20:00:00Z", D(2026, 11, 21)),
        ("2026-11-20T23:30:00", D(2026, 11, 20)),  # naive = Bishkek local
        ("2026-11-21T00:30:00+06:00", D(2026, 11, 21)),
        (datetime(2026, 11, 20, 18, 0, tzinfo=UTC), D(2026, 11, 21)),
        (datetime(2026, 11, 20, 23, 30), D(2026, 11, 20)),
        (datetime(2026, 11, 21, 1, 0, tzinfo=timezone(timedelta(hours=9))), D(2026, 11, 20)),  # Tokyo
    ],
)
def test_to_local_date(value: object, expected: date) -> None:
    assert to_local_date(value) == expected


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ("2026-11-19T17:59:59Z", D(2026, 11, 20)),  # still Thursday in Bishkek
        ("2026-11-19T18:00:00Z", D(2026, 11, 23)),  # already Friday in Bishkek
        (datetime(2026, 11, 19, 23, 59, 59), D(2026, 11, 20)),  # naive Thursday night
        (datetime(2026, 11, 19, 18, 0, tzinfo=UTC), D(2026, 11, 23)),
    ],
)
def test_datetime_inputs_count_from_the_bishkek_date(
    cal: WorkingCalendar, start: object, expected: date
) -> None:
    assert cal.next_working_day(start) == expected


def test_end_of_day_and_iso_deadline() -> None:
    end = end_of_day("2026-11-20T20:00:00Z")
    assert end == datetime(2026, 11, 21, 23, 59, 59, tzinfo=BISHKEK)
    assert end.utcoffset() == timedelta(hours=6)
    assert iso_deadline(D(2026, 11, 23)) == "2026-11-23T23:59:59+06:00"
    assert datetime.fromisoformat(iso_deadline("2026-11-23")) == datetime(
        2026, 11, 23, 17, 59, 59, tzinfo=UTC
    )


@pytest.mark.parametrize(
    "value",
    [None, 20261120, True, "", "not a date", "2026-02-30", "2026-11-20" * 10, 1.5],
)
def test_to_local_date_rejects_other_values(value: object) -> None:
    with pytest.raises(
        ValueError, match=r"^to_local_date: value must be a date, a datetime or an ISO 8601 string"
    ):
        to_local_date(value)


# ---------------------------------------------------------------------------
# Sandbox helpers


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("next_working_day", ("2026-11-20",), "2026-11-23T23:59:59+06:00"),
        ("next_working_day", ("2026-11-19T18:00:00Z",), "2026-11-23T23:59:59+06:00"),
        ("add_working_days", ("2026-08-24", 5), "2026-09-01T23:59:59+06:00"),
        ("add_working_days", ("2026-11-20T15:30:00+06:00", 0), "2026-11-20T23:59:59+06:00"),
        ("add_days", ("2026-10-01", 30), "2026-11-02T23:59:59+06:00"),
        ("add_days", ("2026-11-10", 14.0), "2026-11-24T23:59:59+06:00"),  # JSON may give 14.0
        ("fixed_date", (2027, 11, 20), "2027-11-22T23:59:59+06:00"),
        ("end_of_day", ("2026-11-21",), "2026-11-21T23:59:59+06:00"),  # a Saturday, not moved
        ("end_of_day", ("2026-11-20T20:00:00Z",), "2026-11-21T23:59:59+06:00"),
    ],
)
def test_sandbox_deadline_helpers_return_iso_strings(
    helpers: dict, name: str, args: tuple, expected: str
) -> None:
    result = helpers[name](*args)
    assert isinstance(result, str)
    assert result.endswith("T23:59:59+06:00")
    assert result == expected


def test_sandbox_helper_names(helpers: dict) -> None:
    assert set(helpers) == {
        "next_working_day",
        "add_working_days",
        "add_days",
        "fixed_date",
        "quarter_end",
        "end_of_day",
        "today",
        "now",
        "year_of",
    }
    assert helpers["add_days"].__name__ == "add_days"


@pytest.mark.parametrize(
    ("moment", "today", "now"),
    [
        (datetime(2026, 11, 20, 20, 0, tzinfo=UTC), "2026-11-21", "2026-11-21T02:00:00+06:00"),
        (datetime(2026, 12, 31, 17, 59, 59, tzinfo=UTC), "2026-12-31", "2026-12-31T23:59:59+06:00"),
        (datetime(2026, 12, 31, 18, 0, 0, tzinfo=UTC), "2027-01-01", "2027-01-01T00:00:00+06:00"),
    ],
)
def test_sandbox_today_and_now_follow_the_clock(
    helpers: dict, moment: datetime, today: str, now: str
) -> None:
    with time_machine.travel(moment, tick=False):
        assert helpers["today"]() == today
        assert helpers["now"]() == now
        assert helpers["next_working_day"](helpers["today"]()) == iso_deadline(
            WorkingCalendar().next_working_day(today)
        )


def test_sandbox_now_treats_a_naive_clock_as_bishkek(cal: WorkingCalendar) -> None:
    helpers = sandbox_helpers(cal, lambda: datetime(2026, 11, 20, 23, 30))
    assert helpers["today"]() == "2026-11-20"
    assert helpers["now"]() == "2026-11-20T23:30:00+06:00"


@pytest.mark.parametrize(
    ("value", "year"),
    [("2026-11-20", 2026), ("2026-12-31T18:00:00Z", 2027), (D(2027, 3, 9), 2027)],
)
def test_sandbox_year_of(helpers: dict, value: object, year: int) -> None:
    assert helpers["year_of"](value) == year


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        (
            "add_working_days",
            ("2026-11-20", -1),
            "add_working_days: n must be a whole number from 0 to 3660, got -1",
        ),
        (
            "add_working_days",
            ("2026-11-20", 3661),
            "add_working_days: n must be a whole number from 0 to 3660, got 3661",
        ),
        (
            "add_working_days",
            ("2026-11-20", "5"),
            "add_working_days: n must be a whole number from 0 to 3660, got '5'",
        ),
        (
            "add_working_days",
            ("2026-11-20", True),
            "add_working_days: n must be a whole number from 0 to 3660, got True",
        ),
        ("add_days", ("2026-11-20", 1.5), "add_days: n must be a whole number from 0 to 3660, got 1.5"),
        ("add_days", ("20.11.2026", 3), "add_days: d must be a date, a datetime or an ISO 8601 string"),
        ("next_working_day", (None,), "next_working_day: d must be a date, a datetime or an ISO 8601 string"),
        ("end_of_day", ("tomorrow",), "end_of_day: d must be a date, a datetime or an ISO 8601 string"),
        ("year_of", (2026,), "year_of: d must be a date, a datetime or an ISO 8601 string"),
        ("fixed_date", (2026, 2, 30), "fixed_date: 2026-02-30 is not a valid date"),
        ("fixed_date", (2026, 13, 1), "fixed_date: month must be a whole number from 1 to 12, got 13"),
        (
            "fixed_date",
            ("2026", 10, 20),
            "fixed_date: year must be a whole number from 1 to 9999, got '2026'",
        ),
        (
            "fixed_date",
            (2101, 1, 1),
            "fixed_date: no public holiday data for 2101: the KG calendar covers 1992 to 2100",
        ),
        ("next_working_day", ("2100-12-31",), "next_working_day: no public holiday data for 2101"),
        ("add_days", ("9999-12-31", 1), "add_days: 9999-12-31 +1 days is outside the calendar"),
    ],
)
def test_sandbox_helpers_reject_bad_arguments(helpers: dict, name: str, args: tuple, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        helpers[name](*args)
    assert str(caught.value).startswith(message)


def test_unknown_country_is_rejected() -> None:
    with pytest.raises(ValueError, match="no public holiday calendar for country 'XX'"):
        WorkingCalendar(country="XX")


# ---------------------------------------------------------------------------
# Performance


def test_holidays_are_built_once_per_year(monkeypatch: pytest.MonkeyPatch) -> None:
    builds: list[object] = []
    real = calendar_module.holidays_package.country_holidays

    def counting(*args: object, **kwargs: object) -> object:
        if "years" in kwargs:
            builds.append(kwargs["years"])
        return real(*args, **kwargs)

    calendar_module._year.cache_clear()
    monkeypatch.setattr(calendar_module.holidays_package, "country_holidays", counting)
    try:
        cal = WorkingCalendar()
        for _ in range(50):  # an inbox page: 50 rows, each counting working days left
            cal.working_days_between("2026-11-02", "2027-02-26")
        WorkingCalendar().is_working_day("2027-01-04")  # a new calendar reuses the cache
    finally:
        calendar_module._year.cache_clear()
    assert sorted(builds) == [2026, 2027]


def test_quarter_end_is_the_last_day_of_the_quarter_not_moved(helpers: dict) -> None:
    assert helpers["quarter_end"](2026, 2) == "2026-06-30T23:59:59+06:00"  # a Tuesday
    assert helpers["quarter_end"](2026, 3) == "2026-09-30T23:59:59+06:00"
    assert helpers["quarter_end"](2028, 1) == "2028-03-31T23:59:59+06:00"  # a Friday
    assert helpers["quarter_end"](2029, 3) == "2029-09-30T23:59:59+06:00"  # a Sunday: not moved
    with pytest.raises(ValueError, match="quarter_end: quarter"):
        helpers["quarter_end"](2026, 5)
