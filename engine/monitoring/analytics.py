"""Monitoring analytics (catalogue §6.5, §7): demand, terms, satisfaction, unfounded actions, rankings.

Two sources, both read without restoring any workflow:
- the CSC cases of Process D: the instance row's `summary["facts"]` (service code, registration time,
  result date; see the diagram's `summary_variables`) and the human-task read model (when the body's
  result reached the CSC, and whether every step with a deadline met it);
- the anonymous evaluation sheets (`evaluation_sheet`).

Loading is two plain SELECTs; everything else is pure functions over the rows (`CaseFact`, `SheetFact`),
so the figures can be checked by hand on a small fixture.

Readings (docs/processes.md, "Monitoring analytics"):
- a *request* is a CSC case for a service, dated by its registration (or, when it was never registered,
  e.g. a consultation on a state service, by the day it was opened);
- the *actual time* is the number of working days from the registration to the day the body's result
  reached the CSC (step D_11 completed); the *normative time* is the service's standard term;
- a case is *served within the term* when that day is on or before the result date of its receipt; a case
  whose result date passed with no result counts as not served within the term (it has no actual time);
- *quality* for the ranking is the mean of the parts that have data: the share served within the term,
  the satisfaction index (share of "fully satisfied" among the answers that rate, i.e. all but
  "hard to answer"), and the share of full sheets that report neither unfounded actions nor corruption.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.calendar.days import WorkingCalendar, to_local_date
from engine.platform.errors import Forbidden
from engine.platform.models import EvaluationSheet, HumanTask, Municipality, ProcessInstance, User
from engine.runtime.context import Kyzmat

__all__ = [
    "ANSWERS",
    "QUESTIONS",
    "UNFOUNDED_KINDS",
    "analytics_scope",
    "CaseFact",
    "Extreme",
    "Figures",
    "Period",
    "Report",
    "SheetFact",
    "build_report",
    "figures",
    "load_case_facts",
    "load_sheet_facts",
    "may_view_analytics",
    "municipality_names",
    "monitoring_report",
    "quarterly_summary",
    "rank",
    "viewable_municipalities",
    "years_with_data",
]

PROCESS = "citizen_service"
RESULT_STEPS = ("D_11_prepare_municipal", "D_11_prepare_state")
# The eight questions of the full sheet, then the short sheet's one (catalogue §6.3, §6.4).
QUESTIONS = (
    "q1_schedule",
    "q2_premises",
    "q3_queue",
    "q4_time",
    "q5_competence",
    "q6_politeness",
    "q7_overall",
    "q8_information",
    "result",
)
ANSWERS = ("fully_satisfied", "partially_satisfied", "not_satisfied", "hard_to_answer")
UNFOUNDED_KINDS = ("unofficial_queue", "paid_elsewhere", "paid_information", "extra_documents", "other")
# Thresholds under which a figure is listed among the problems noted (§7.7 FR-4).
ON_TIME_TARGET = 0.9
SATISFACTION_TARGET = 0.6


# --- periods -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A calendar year, or one of its quarters (1-4)."""

    year: int
    quarter: int | None = None

    def __post_init__(self) -> None:
        if not 2000 <= self.year <= 2100:
            raise ValueError(f"year {self.year} is out of range")
        if self.quarter is not None and self.quarter not in (1, 2, 3, 4):
            raise ValueError(f"quarter {self.quarter} is not 1-4")

    @property
    def start(self) -> date:
        return date(self.year, 1 if self.quarter is None else 3 * self.quarter - 2, 1)

    @property
    def end(self) -> date:
        """The last day of the period."""
        if self.quarter is None or self.quarter == 4:
            return date(self.year, 12, 31)
        return date(self.year, 3 * self.quarter + 1, 1) - timedelta(days=1)

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end

    def quarters(self) -> list[Period]:
        return [self] if self.quarter is not None else [Period(self.year, q) for q in (1, 2, 3, 4)]

    @property
    def label(self) -> str:
        return str(self.year) if self.quarter is None else f"{self.year} Q{self.quarter}"


def quarter_of(day: date) -> int:
    return (day.month - 1) // 3 + 1


# --- rows ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseFact:
    """One CSC case, as the analytics sees it."""

    municipality_id: int
    service_code: str
    requested_on: date
    registered: bool = True
    due_on: date | None = None  # the result date printed on the receipt
    ready_on: date | None = None  # the day the body's result reached the CSC
    deadlines_met: bool | None = None  # every completed step with a due date met it (None: none had one)


@dataclass(frozen=True)
class SheetFact:
    municipality_id: int
    service_code: str
    appeal_date: date
    variant: str
    answers: dict[str, Any]
    source: str = "online"  # online | paper


def _utc_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def load_case_facts(
    session: Session, period: Period, municipality_ids: Iterable[int] | None = None
) -> list[CaseFact]:
    """Process D cases requested in the period (two SELECTs: instances, then their steps)."""
    # Local dates in Bishkek run 6 hours ahead of UTC: widen the window by a day, then filter exactly.
    window = (
        ProcessInstance.process_id == PROCESS,
        ProcessInstance.started_at >= _utc_start(period.start - timedelta(days=1)),
        ProcessInstance.started_at < _utc_start(period.end + timedelta(days=2)),
    )
    scope = () if municipality_ids is None else (ProcessInstance.municipality_id.in_(list(municipality_ids)),)
    rows = session.execute(
        select(
            ProcessInstance.id,
            ProcessInstance.municipality_id,
            ProcessInstance.started_at,
            ProcessInstance.summary,
        ).where(*window, *scope)
    ).all()
    steps: dict[int, list[tuple[str, datetime | None, datetime | None, str]]] = defaultdict(list)
    ids = select(ProcessInstance.id).where(*window, *scope).scalar_subquery()
    for instance_id, step_id, due_at, completed_at, status in session.execute(
        select(
            HumanTask.instance_id,
            HumanTask.step_id,
            HumanTask.due_at,
            HumanTask.completed_at,
            HumanTask.status,
        ).where(HumanTask.instance_id.in_(ids))
    ):
        steps[instance_id].append((step_id, due_at, completed_at, status))
    facts = []
    for instance_id, municipality_id, started_at, summary in rows:
        fact = case_fact(
            municipality_id, started_at, (summary or {}).get("facts") or {}, steps.get(instance_id, [])
        )
        if fact is not None and period.contains(fact.requested_on):
            facts.append(fact)
    return facts


def case_fact(
    municipality_id: int | None,
    started_at: datetime,
    facts: dict[str, Any],
    steps: list[tuple[str, datetime | None, datetime | None, str]],
) -> CaseFact | None:
    """A case's row from its summary facts and its steps; None before a service was chosen."""
    code = facts.get("service_code")
    if municipality_id is None or not isinstance(code, str) or not code:
        return None
    registered_at = facts.get("registration.registered_at")
    due = facts.get("result_due")
    ready = [
        completed
        for step_id, _due, completed, status in steps
        if step_id in RESULT_STEPS and status == "completed" and completed is not None
    ]
    # Steps still open are not judged here (an overdue result counts against the term share instead).
    timed = [
        (due_at, completed)
        for _s, due_at, completed, status in steps
        if due_at is not None and status == "completed" and completed is not None
    ]
    met = all(completed <= due_at for due_at, completed in timed) if timed else None
    return CaseFact(
        municipality_id=municipality_id,
        service_code=code,
        requested_on=to_local_date(registered_at) if registered_at else to_local_date(started_at),
        registered=bool(registered_at),
        due_on=to_local_date(due) if due else None,
        ready_on=to_local_date(min(ready)) if ready else None,
        deadlines_met=met,
    )


def load_sheet_facts(
    session: Session, period: Period, municipality_ids: Iterable[int] | None = None
) -> list[SheetFact]:
    query = select(
        EvaluationSheet.municipality_id,
        EvaluationSheet.service_code,
        EvaluationSheet.appeal_date,
        EvaluationSheet.variant,
        EvaluationSheet.answers,
        EvaluationSheet.source,
    ).where(EvaluationSheet.appeal_date >= period.start, EvaluationSheet.appeal_date <= period.end)
    if municipality_ids is not None:
        query = query.where(EvaluationSheet.municipality_id.in_(list(municipality_ids)))
    return [SheetFact(m, s, d, v, a or {}, src) for m, s, d, v, a, src in session.execute(query)]


# --- figures -------------------------------------------------------------------------------------


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass
class Figures:
    """The monitoring figures of one group of cases and sheets (a service, a municipality, or all)."""

    requests: int = 0
    registered: int = 0
    with_result: int = 0  # the body's result reached the CSC
    decided: int = 0  # with a result, or past the result date without one
    on_time: int = 0
    overdue_open: int = 0
    on_time_share: float | None = None
    norm_days: float | None = None  # the standard term (the mean when several services are grouped)
    avg_days: float | None = None
    max_days: int | None = None
    avg_deviation: float | None = None  # actual minus normative, in working days
    max_deviation: int | None = None
    procedure_share: float | None = None  # QI-1: cases whose every step met its deadline
    sheets: int = 0
    full_sheets: int = 0
    online_sheets: int = 0
    answers: dict[str, Counter[str]] = field(default_factory=dict)  # question -> answer -> count
    shares: dict[str, dict[str, float]] = field(default_factory=dict)  # question -> answer -> share
    satisfaction_index: float | None = None
    unfounded: int = 0
    unfounded_kinds: Counter[str] = field(default_factory=Counter)
    corruption: int = 0
    clean_share: float | None = None
    quality: float | None = None

    def fully_share(self, question: str) -> float | None:
        return self.shares.get(question, {}).get("fully_satisfied")


def figures(
    cases: list[CaseFact],
    sheets: list[SheetFact],
    terms: dict[str, int],
    calendar: WorkingCalendar,
    as_of: date,
) -> Figures:
    """The figures of one group (pure: every input is given)."""
    f = Figures(requests=len(cases), registered=sum(c.registered for c in cases), sheets=len(sheets))
    actual: list[int] = []
    deviation: list[int] = []
    norms: list[int] = []
    for c in cases:
        if c.ready_on is not None:
            f.with_result += 1
            f.decided += 1
            if c.due_on is not None and c.ready_on <= c.due_on:
                f.on_time += 1
            if c.registered:
                days = calendar.working_days_between(c.requested_on, c.ready_on)
                actual.append(days)
                if c.service_code in terms:
                    deviation.append(days - terms[c.service_code])
        elif c.due_on is not None and c.due_on < as_of:
            f.decided += 1
            f.overdue_open += 1
        if c.registered and c.service_code in terms:
            norms.append(terms[c.service_code])
    f.on_time_share = _share(f.on_time, f.decided)
    if actual:
        f.avg_days, f.max_days = sum(actual) / len(actual), max(actual)
    if deviation:
        f.avg_deviation, f.max_deviation = sum(deviation) / len(deviation), max(deviation)
    if norms:
        f.norm_days = sum(norms) / len(norms)
    timed = [c.deadlines_met for c in cases if c.deadlines_met is not None]
    f.procedure_share = _share(sum(timed), len(timed))

    rating = fully = 0
    for s in sheets:
        f.full_sheets += s.variant == "full"
        f.online_sheets += s.source == "online"
        for q in QUESTIONS:
            answer = s.answers.get(q)
            if answer in ANSWERS:
                f.answers.setdefault(q, Counter())[answer] += 1
                if answer != "hard_to_answer":
                    rating += 1
                    fully += answer == "fully_satisfied"
        if s.answers.get("unfounded_actions") is True:
            f.unfounded += 1
            f.unfounded_kinds.update(
                k for k in s.answers.get("unfounded_kinds") or [] if k in UNFOUNDED_KINDS
            )
        if s.answers.get("corruption") is True:
            f.corruption += 1
    f.shares = {q: {a: counts[a] / sum(counts.values()) for a in ANSWERS} for q, counts in f.answers.items()}
    f.satisfaction_index = _share(fully, rating)
    troubled = sum(
        1
        for s in sheets
        if s.variant == "full"
        and (s.answers.get("unfounded_actions") is True or s.answers.get("corruption") is True)
    )
    f.clean_share = None if not f.full_sheets else 1 - troubled / f.full_sheets
    parts = [p for p in (f.on_time_share, f.satisfaction_index, f.clean_share) if p is not None]
    f.quality = sum(parts) / len(parts) if parts else None
    return f


@dataclass(frozen=True)
class Extreme:
    """The lowest and highest value of a figure across groups, with the groups that have them."""

    low: float
    low_keys: tuple[Any, ...]
    high: float
    high_keys: tuple[Any, ...]


def extreme(values: dict[Any, float | None]) -> Extreme | None:
    known = {k: v for k, v in values.items() if v is not None}
    if not known:
        return None
    low, high = min(known.values()), max(known.values())
    return Extreme(
        low,
        tuple(sorted(k for k, v in known.items() if v == low)),
        high,
        tuple(sorted(k for k, v in known.items() if v == high)),
    )


def rank(groups: dict[str, Figures], by: str) -> list[tuple[int, str, float]]:
    """Ranking (rank, key, value), best first; equal values share a rank ("1, 1, 3"); groups without a
    value are left out. `by` is 'quality' or 'demand' (number of requests)."""
    if by == "demand":
        values = {k: float(f.requests) for k, f in groups.items() if f.requests}
    elif by == "quality":
        values = {k: f.quality for k, f in groups.items() if f.quality is not None}  # type: ignore[misc]
    else:
        raise ValueError(by)
    ordered = sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))
    out: list[tuple[int, str, float]] = []
    for i, (key, value) in enumerate(ordered):
        position = out[-1][0] if out and out[-1][2] == value else i + 1
        out.append((position, key, value))
    return out


# --- the report ----------------------------------------------------------------------------------


@dataclass
class Report:
    period: Period
    as_of: date
    municipalities: dict[int, dict[str, str]]  # id -> names
    total: Figures
    by_service: dict[str, Figures]
    by_municipality: dict[int, Figures]
    by_pair: dict[tuple[str, int], Figures]
    by_quarter: dict[int, Figures]
    by_quarter_municipality: dict[tuple[int, int], Figures]
    quality_ranking: list[tuple[int, str, float]]
    demand_ranking: list[tuple[int, str, float]]
    extremes: dict[str, dict[str, Extreme | None]]  # figure -> 'municipality'|'service' -> extreme
    problems: list[tuple[str, dict[str, Any]]]  # (problem code, its parameters)
    sheets: list[SheetFact]
    terms: dict[str, int] = field(default_factory=dict)
    service_names: dict[str, dict[str, str]] = field(default_factory=dict)  # code -> names
    providers: dict[str, dict[str, str]] = field(default_factory=dict)  # code -> the provider's names (FR-1)
    paid: dict[str, bool] = field(default_factory=dict)

    @property
    def services(self) -> list[str]:
        return list(self.by_service)


def build_report(
    period: Period,
    cases: list[CaseFact],
    sheets: list[SheetFact],
    terms: dict[str, int],
    calendar: WorkingCalendar,
    as_of: date,
    municipalities: dict[int, dict[str, str]],
    service_order: list[str] | None = None,
) -> Report:
    """Group the rows every way the report and the dashboards show them (pure)."""

    def group(key: Callable[[Any], Any]) -> dict[Any, Figures]:
        case_groups: dict[Any, list[CaseFact]] = defaultdict(list)
        sheet_groups: dict[Any, list[SheetFact]] = defaultdict(list)
        for c in cases:
            case_groups[key(c)].append(c)
        for s in sheets:
            sheet_groups[key(s)].append(s)
        return {
            k: figures(case_groups.get(k, []), sheet_groups.get(k, []), terms, calendar, as_of)
            for k in set(case_groups) | set(sheet_groups)
        }

    order = {code: i for i, code in enumerate(service_order or [])}
    by_service = dict(
        sorted(group(lambda r: r.service_code).items(), key=lambda kv: (order.get(kv[0], 1e9), kv[0]))
    )
    by_municipality = dict(sorted(group(lambda r: r.municipality_id).items()))

    def date_of(r: Any) -> date:
        return r.requested_on if isinstance(r, CaseFact) else r.appeal_date

    grouped_q = group(lambda r: quarter_of(date_of(r)))
    by_quarter = {
        q.quarter: grouped_q.get(q.quarter) or figures([], [], terms, calendar, as_of)
        for q in period.quarters()
        if q.quarter is not None
    }
    report = Report(
        period=period,
        as_of=as_of,
        municipalities=municipalities,
        total=figures(cases, sheets, terms, calendar, as_of),
        by_service=by_service,
        by_municipality=by_municipality,
        by_pair=group(lambda r: (r.service_code, r.municipality_id)),
        by_quarter=by_quarter,
        by_quarter_municipality=group(lambda r: (quarter_of(date_of(r)), r.municipality_id)),
        quality_ranking=rank(by_service, "quality"),
        demand_ranking=rank(by_service, "demand"),
        extremes={},
        problems=[],
        sheets=sheets,
        terms=dict(terms),
    )
    picks: dict[str, Callable[[Figures], float | None]] = {
        "on_time_share": lambda f: f.on_time_share,
        "avg_days": lambda f: f.avg_days,
        "satisfaction_index": lambda f: f.satisfaction_index,
    }
    for question in QUESTIONS:
        picks[f"fully:{question}"] = partial(Figures.fully_share, question=question)
    for name, pick in picks.items():
        report.extremes[name] = {
            "municipality": extreme({k: pick(f) for k, f in by_municipality.items()}),
            "service": extreme({k: pick(f) for k, f in by_service.items()}),
        }
    report.problems = problems(report)
    return report


def problems(report: Report) -> list[tuple[str, dict[str, Any]]]:
    """The problems the figures show (§7.7 FR-4), as codes with parameters the report words."""
    found: list[tuple[str, dict[str, Any]]] = []
    for code, f in report.by_service.items():
        if f.on_time_share is not None and f.on_time_share < ON_TIME_TARGET:
            found.append(("late", {"service": code, "share": f.on_time_share, "late": f.decided - f.on_time}))
        if f.max_deviation is not None and f.max_deviation > 0:
            found.append(("deviation", {"service": code, "days": f.max_deviation}))
        if f.satisfaction_index is not None and f.satisfaction_index < SATISFACTION_TARGET:
            found.append(("dissatisfied", {"service": code, "share": f.satisfaction_index}))
    t = report.total
    if t.unfounded:
        kinds = ", ".join(k for k, _n in t.unfounded_kinds.most_common())
        found.append(("unfounded", {"count": t.unfounded, "kinds": kinds}))
    if t.corruption:
        found.append(("corruption", {"count": t.corruption}))
    for q, counts in t.answers.items():
        total = sum(counts.values())
        if total and counts["not_satisfied"] / total >= 0.2:
            found.append(("question", {"question": q, "share": counts["not_satisfied"] / total}))
    return found


def monitoring_report(
    kz: Kyzmat, session: Session, period: Period, municipality_ids: Iterable[int] | None = None
) -> Report:
    """The report of a period over the given municipalities (all when None)."""
    ids = None if municipality_ids is None else sorted(set(municipality_ids))
    cases = load_case_facts(session, period, ids)
    sheets = load_sheet_facts(session, period, ids)
    query = select(Municipality.id, Municipality.names)
    if ids is not None:
        query = query.where(Municipality.id.in_(ids))
    municipalities = {m_id: names for m_id, names in session.execute(query)}
    terms = {s.code: s.standard_term_days for s in kz.catalogue}
    report = build_report(
        period,
        cases,
        sheets,
        terms,
        kz.calendar(),
        to_local_date(kz.clock.now()),
        municipalities,
        [s.code for s in kz.catalogue],
    )
    report.service_names = {s.code: dict(s.names) for s in kz.catalogue}
    report.providers = {s.code: dict(s.provider.names) for s in kz.catalogue}
    report.paid = {s.code: s.paid for s in kz.catalogue}
    return report


def quarterly_summary(
    kz: Kyzmat, session: Session, year: int, quarter: int, municipality_ids: Iterable[int] | None = None
) -> Report:
    """The quarter's results for the responsible executor (Process E, step E-06)."""
    return monitoring_report(kz, session, Period(year, quarter), municipality_ids)


def years_with_data(session: Session) -> list[int]:
    """The years that have CSC cases or evaluation sheets, newest first."""
    first, last = session.execute(
        select(func.min(ProcessInstance.started_at), func.max(ProcessInstance.started_at)).where(
            ProcessInstance.process_id == PROCESS
        )
    ).one()
    low, high = session.execute(
        select(func.min(EvaluationSheet.appeal_date), func.max(EvaluationSheet.appeal_date))
    ).one()
    ends = [to_local_date(d).year for d in (first, last) if d is not None]
    ends += [d.year for d in (low, high) if d is not None]
    return list(range(max(ends), min(ends) - 1, -1)) if ends else []


# --- who sees which figures ----------------------------------------------------------------------

# The council monitors its own CSC (Model Regulation §6, catalogue §6.5) with the aiyl okmotu's head;
# the authorized body's responsible executor and head see every municipality (Process E).
MUNICIPAL_VIEWERS = ("council_secretary", "ao_head")
NATIONAL_VIEWERS = ("monitoring_executor", "authorized_body_head", "admin")


def viewable_municipalities(user: User) -> list[int] | None:
    """The municipalities whose figures the user may see: None for all, [] for none."""
    if not user.active:
        return []
    if any(g.role in NATIONAL_VIEWERS and g.municipality_id is None for g in user.grants):
        return None
    return sorted(
        {
            g.municipality_id
            for g in user.grants
            if g.role in MUNICIPAL_VIEWERS + NATIONAL_VIEWERS and g.municipality_id is not None
        }
    )


def may_view_analytics(user: User) -> bool:
    return viewable_municipalities(user) != []


def analytics_scope(user: User, municipality_id: int | None) -> list[int] | None:
    """The municipalities a request covers: the one asked for, or all the user may see.

    Forbidden when the user may not see that municipality (or any)."""
    allowed = viewable_municipalities(user)
    if allowed == []:
        raise Forbidden("The monitoring figures are for the council and the authorized body.")
    if municipality_id is None:
        return allowed
    if allowed is not None and municipality_id not in allowed:
        raise Forbidden("These figures belong to another municipality.")
    return [municipality_id]


def municipality_names(session: Session, ids: list[int] | None) -> list[tuple[int, dict[str, str]]]:
    """(id, names) of the given municipalities (all when None), in code order, for the filters."""
    query = select(Municipality.id, Municipality.names).order_by(Municipality.code)
    if ids is not None:
        query = query.where(Municipality.id.in_(ids))
    return [(m_id, names) for m_id, names in session.execute(query)]
