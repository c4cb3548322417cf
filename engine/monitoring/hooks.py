"""Process E's steps that come prepared when they open: the monitoring figures and reports.

When a quarterly step (E-06) opens, the quarter's figures (analytics.quarterly_summary) are written as
the step's draft (results summary) with the quarter's report PDF attached; when the final-report step
(E-09) opens, the year's final report (report.final_report_pdf) and its answers database (XLSX)
are generated and attached to the case, and the step's draft is filled from the same figures. The
executor reviews, edits and completes the step as usual. The documents are in Kyrgyz, the state language.

Registered on the runtime by `engine.bootstrap`; they run inside the engine's save (runtime.step_hooks).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from engine.monitoring.analytics import Period, monitoring_report, quarterly_summary
from engine.monitoring.report import final_report_pdf, indicators, report_pdf, report_xlsx
from engine.monitoring.words import number, problem_text, service_name, word
from engine.platform.models import HumanTask, ProcessInstance
from engine.runtime import attachments
from engine.runtime.context import Kyzmat
from engine.runtime.step_hooks import Hook

LANG = "ky"
_QUARTERS = {f"E_06_q{q}_results": q for q in (1, 2, 3, 4)}
FINAL_REPORT_STEP = "E_09_final_report"
_LIMIT = 2000  # the maxLength of the forms' text fields


def _attach(kz: Kyzmat, session: Session, task: HumanTask, field: str, filename: str, data: bytes) -> str:
    mime = attachments.detect(data[:8192])
    assert mime is not None, filename
    checked = attachments.Checked(filename=filename, data=data, mime=mime)
    token = attachments.write_file(kz, data)
    attachments.add_row(kz, session, task, field, checked, token, None)
    return token


def _year(instance: ProcessInstance) -> int:
    return int(instance.reference or 0)  # the case's reference is its monitoring year (reference_variable)


def quarter_figures_text(report: Any, lang: str = LANG) -> str:
    """The quarter's figures in words: requests, sheets, then the eight indicators of §7.4."""

    t = report.total
    lines = [
        f"{word('requests', lang)}: {t.requests}; {word('sheets', lang)}: {t.sheets}; "
        f"{word('on_time_share', lang)}: {number(t.on_time_share * 100 if t.on_time_share is not None else None, lang)}%"
    ]
    lines += [f"{code} {name}: {value}" for code, name, value in indicators(report, lang)]
    return "\n".join(lines)[:_LIMIT]


def quarterly_results(kz: Kyzmat, session: Session, instance: ProcessInstance, task: HumanTask) -> None:

    quarter, year = _QUARTERS[task.step_id], _year(instance)
    report = quarterly_summary(kz, session, year, quarter)
    token = _attach(
        kz, session, task, "results_file", f"monitoring-{year}-Q{quarter}.pdf", report_pdf(report, LANG)
    )
    task.draft = {"results_summary": quarter_figures_text(report), "results_file": token}
    session.flush()


def final_report(kz: Kyzmat, session: Session, instance: ProcessInstance, task: HumanTask) -> None:

    year = _year(instance)
    report = monitoring_report(kz, session, Period(year))
    pdf = _attach(
        kz,
        session,
        task,
        "final_report_file",
        f"monitoring-{year}-final-report.pdf",
        final_report_pdf(kz, session, year, LANG),
    )
    xlsx = _attach(
        kz, session, task, "answers_database", f"monitoring-{year}-data.xlsx", report_xlsx(report, LANG)
    )
    executors = [
        {
            "service_name": service_name(report, code, LANG)[:300],
            "executor": (report.providers.get(code) or {}).get(LANG, "")[:300] or "—",
        }
        for code in report.services
    ]
    ranking = "\n".join(
        f"{rank}. {service_name(report, code, LANG)}" for rank, code, _ in report.quality_ranking
    )
    problems = "\n".join(problem_text(report, code, params, LANG) for code, params in report.problems)
    task.draft = {
        "final_report_file": pdf,
        "answers_database": xlsx,
        "services_and_executors": executors,
        "ranking": (f"{word('ranking_quality', LANG)}:\n{ranking}")[:_LIMIT] if ranking else "",
        "indicators_achievement": "\n".join(f"{c} {n}: {v}" for c, n, v in indicators(report, LANG))[:_LIMIT],
        "problems_described": (problems or word("no_problems", LANG))[:_LIMIT],
    }
    session.flush()


ON_OPEN: dict[tuple[str, str], Hook] = {
    **{("quality_monitoring", step): quarterly_results for step in _QUARTERS},
    ("quality_monitoring", FINAL_REPORT_STEP): final_report,
}
