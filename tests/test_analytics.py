"""Monitoring analytics on a fixture whose answers were worked out by hand (see the comments)."""

from __future__ import annotations

from datetime import date

import pytest

from engine.calendar.days import WorkingCalendar
from engine.monitoring.analytics import CaseFact, Figures, Period, SheetFact, build_report, rank

A, B = 1, 2
TERMS = {"M2": 3, "AM1": 10, "S1": 20}
CAL = WorkingCalendar({})
AS_OF = date(2025, 12, 31)

# Every day the fixture counts on is a working day (Mon-Fri, no public holiday): checked below.
DAYS = [date(2025, 2, d) for d in (3, 4, 5, 6, 7, 10)] + [
    date(2025, 6, d) for d in (16, 17, 18, 19, 20, 23, 24, 25, 26, 27, 30)
]

CASES = [
    # c1: registered Mon 3 Feb, result Wed 5 Feb: 2 working days (Tue, Wed) against 3, on time.
    CaseFact(A, "M2", date(2025, 2, 3), True, date(2025, 2, 6), date(2025, 2, 5), True),
    # c2: registered Mon 3 Feb, result Mon 10 Feb: 5 working days (Tue-Fri, Mon), 2 over the term, late.
    CaseFact(A, "M2", date(2025, 2, 3), True, date(2025, 2, 6), date(2025, 2, 10), False),
    # c3: registered Tue 4 Feb, result Fri 7 Feb: 3 working days, exactly the term.
    CaseFact(B, "M2", date(2025, 2, 4), True, date(2025, 2, 7), date(2025, 2, 7), True),
    # c4: a consultation on a state service: never registered, no result date.
    CaseFact(B, "S1", date(2025, 2, 5), False),
    # c5: registered Mon 16 Jun, due Mon 30 Jun (10 working days), result Fri 20 Jun: 4 days, 6 under.
    CaseFact(A, "AM1", date(2025, 6, 16), True, date(2025, 6, 30), date(2025, 6, 20), True),
    # c6: registered Mon 16 Jun, due 30 Jun, no result by the end of the year: overdue.
    CaseFact(B, "AM1", date(2025, 6, 16), True, date(2025, 6, 30), None, False),
    # c7: registered and refused at intake: no result date, not decided.
    CaseFact(A, "M2", date(2025, 6, 17), True),
]

FULLY = dict.fromkeys(
    (
        "q1_schedule",
        "q2_premises",
        "q3_queue",
        "q4_time",
        "q5_competence",
        "q6_politeness",
        "q7_overall",
        "q8_information",
    ),
    "fully_satisfied",
)
PARTLY = dict.fromkeys(FULLY, "partially_satisfied")
SHEETS = [
    # s1: fully on six, "not satisfied" with the queue, "hard to answer" on information; unfounded actions.
    SheetFact(
        A,
        "M2",
        date(2025, 2, 5),
        "full",
        {
            **FULLY,
            "q3_queue": "not_satisfied",
            "q8_information": "hard_to_answer",
            "unfounded_actions": True,
            "unfounded_kinds": ["unofficial_queue", "extra_documents"],
            "corruption": False,
        },
    ),
    # s2: partially on all eight; corruption reported.
    SheetFact(A, "M2", date(2025, 2, 10), "full", {**PARTLY, "unfounded_actions": False, "corruption": True}),
    # s3: the short sheet, fully satisfied.
    SheetFact(B, "M2", date(2025, 2, 7), "short", {"result": "fully_satisfied"}),
    # s4: fully on all eight, nothing reported.
    SheetFact(
        A, "AM1", date(2025, 6, 20), "full", {**FULLY, "unfounded_actions": False, "corruption": False}
    ),
    # s5: the short sheet in the third quarter, not satisfied.
    SheetFact(B, "AM1", date(2025, 7, 1), "short", {"result": "not_satisfied"}),
]


@pytest.fixture(scope="module")
def report():
    return build_report(
        Period(2025), CASES, SHEETS, TERMS, CAL, AS_OF, {A: {"ky": "A"}, B: {"ky": "B"}}, ["M2", "AM1", "S1"]
    )


def test_fixture_days_are_working_days() -> None:
    assert all(CAL.is_working_day(d) for d in DAYS)


def test_totals_demand_and_terms(report) -> None:
    t = report.total
    assert (t.requests, t.registered, t.with_result, t.decided, t.on_time, t.overdue_open) == (
        7,
        6,
        4,
        5,
        3,
        1,
    )
    assert t.on_time_share == pytest.approx(3 / 5)
    # actual working days 2, 5, 3, 4; deviations from the term -1, +2, 0, -6
    assert t.avg_days == pytest.approx(3.5) and t.max_days == 5
    assert t.avg_deviation == pytest.approx(-1.25) and t.max_deviation == 2
    assert t.norm_days == pytest.approx((3 + 3 + 3 + 10 + 10 + 3) / 6)
    # every step met its deadline in c1, c3, c5; not in c2, c6; c4 and c7 had no deadline
    assert t.procedure_share == pytest.approx(3 / 5)


def test_satisfaction_shares_and_reports(report) -> None:
    t = report.total
    assert (t.sheets, t.full_sheets) == (5, 3)
    assert t.shares["q1_schedule"] == pytest.approx(
        {"fully_satisfied": 2 / 3, "partially_satisfied": 1 / 3, "not_satisfied": 0, "hard_to_answer": 0}
    )
    assert t.shares["q3_queue"] == pytest.approx(
        {"fully_satisfied": 1 / 3, "partially_satisfied": 1 / 3, "not_satisfied": 1 / 3, "hard_to_answer": 0}
    )
    assert t.shares["q8_information"]["hard_to_answer"] == pytest.approx(1 / 3)
    assert t.shares["result"] == pytest.approx(
        {"fully_satisfied": 0.5, "partially_satisfied": 0, "not_satisfied": 0.5, "hard_to_answer": 0}
    )
    # rated answers (all but "hard to answer"): 7 + 8 + 1 + 8 + 1 = 25, of which fully 6 + 0 + 1 + 8 + 0 = 15
    assert t.satisfaction_index == pytest.approx(15 / 25)
    assert (t.unfounded, t.corruption) == (1, 1)
    assert dict(t.unfounded_kinds) == {"unofficial_queue": 1, "extra_documents": 1}
    assert t.clean_share == pytest.approx(1 / 3)  # s1 and s2 of the three full sheets reported something
    assert t.quality == pytest.approx((0.6 + 0.6 + 1 / 3) / 3)


def test_per_service_and_ranking(report) -> None:
    m2, am1, s1 = report.by_service["M2"], report.by_service["AM1"], report.by_service["S1"]
    assert list(report.by_service) == ["M2", "AM1", "S1"]
    assert (m2.requests, m2.decided, m2.on_time) == (4, 3, 2)
    assert m2.avg_days == pytest.approx(10 / 3) and m2.max_days == 5 and m2.max_deviation == 2
    assert m2.satisfaction_index == pytest.approx(7 / 16) and m2.clean_share == 0
    assert m2.quality == pytest.approx((2 / 3 + 7 / 16 + 0) / 3)
    assert (am1.requests, am1.decided, am1.on_time, am1.overdue_open) == (2, 2, 1, 1)
    assert am1.avg_days == 4 and am1.max_deviation == -6
    assert am1.quality == pytest.approx((0.5 + 8 / 9 + 1) / 3)
    assert s1.requests == 1 and s1.on_time_share is None and s1.quality is None
    assert [(r, k) for r, k, _v in report.quality_ranking] == [(1, "AM1"), (2, "M2")]
    assert report.demand_ranking == [(1, "M2", 4.0), (2, "AM1", 2.0), (3, "S1", 1.0)]


def test_per_municipality_and_extremes(report) -> None:
    a, b = report.by_municipality[A], report.by_municipality[B]
    assert (a.requests, a.on_time_share) == (4, pytest.approx(2 / 3))
    assert (b.requests, b.on_time_share) == (3, 0.5)
    assert a.satisfaction_index == pytest.approx(14 / 23) and b.satisfaction_index == 0.5
    on_time = report.extremes["on_time_share"]["municipality"]
    assert (on_time.low, on_time.low_keys, on_time.high_keys) == (0.5, (B,), (A,))
    assert on_time.high == pytest.approx(2 / 3)
    q1 = report.extremes["fully:q1_schedule"]["municipality"]  # B has no full sheet: only A has a value
    assert (q1.low_keys, q1.high_keys) == ((A,), (A,)) and q1.low == pytest.approx(2 / 3)
    days = report.extremes["avg_days"]["service"]
    assert (days.low, days.low_keys, days.high, days.high_keys) == (
        pytest.approx(10 / 3),
        ("M2",),
        4,
        ("AM1",),
    )
    pair = report.by_pair[("M2", B)]
    assert (pair.requests, pair.on_time, pair.sheets) == (1, 1, 1)


def test_quarters(report) -> None:
    assert [report.by_quarter[q].requests for q in (1, 2, 3, 4)] == [4, 3, 0, 0]
    assert [report.by_quarter[q].sheets for q in (1, 2, 3, 4)] == [3, 1, 1, 0]
    assert report.by_quarter_municipality[(2, A)].requests == 2


def test_problems_noted(report) -> None:
    codes = [(code, p.get("service") or p.get("question")) for code, p in report.problems]
    assert codes == [
        ("late", "M2"),
        ("deviation", "M2"),
        ("dissatisfied", "M2"),
        ("late", "AM1"),
        ("unfounded", None),
        ("corruption", None),
        ("question", "q3_queue"),
        ("question", "result"),
    ]


def test_ranking_ties_share_a_rank() -> None:
    groups = {"X": Figures(requests=5), "Y": Figures(requests=5), "Z": Figures(requests=2), "W": Figures()}
    assert rank(groups, "demand") == [(1, "X", 5.0), (1, "Y", 5.0), (3, "Z", 2.0)]
    with pytest.raises(ValueError):
        rank(groups, "colour")


def test_periods() -> None:
    assert (Period(2025, 1).start, Period(2025, 1).end) == (date(2025, 1, 1), date(2025, 3, 31))
    assert Period(2024, 1).end == date(2024, 3, 31) and Period(2025, 4).end == date(2025, 12, 31)
    assert len(Period(2025).quarters()) == 4
    with pytest.raises(ValueError):
        Period(2025, 5)
