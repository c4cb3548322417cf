"""Process E's reports from the analytics, through the engine: the quarterly step (E-06) opens with the
quarter's figures and its PDF; the final-report step (E-09) opens with the year's final report PDF and the
answers database attached to the case, shown on the case page."""

# ruff: noqa: F811 - fixtures come from the modules imported below
from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy.orm import Session

import webapp
from engine.demo.data import DEMO_PASSWORD
from engine.monitoring import report as analytics_report
from engine.monitoring.analytics import quarterly_summary
from engine.monitoring.annual import start_due_annual_cases
from engine.monitoring.words import word
from engine.platform.models import User
from engine.runtime import attachments, cases
from engine.runtime.context import Kyzmat
from tests.test_analytics_data import dataset  # noqa: F401
from tests.test_process_e_scenarios import (  # noqa: F401
    ANALYSIS,
    QUARTER,
    Walk,
    clock,
    providers,
    report,
    up_to_reports,
    walk,
)


def files_of(kz: Kyzmat, session: Session, walk: Walk) -> dict[str, tuple[str, bytes]]:
    """The case's attachments by form field: (file name, content)."""
    assert walk.instance is not None
    out = {}
    for row in attachments.for_case(session, walk.instance.id):
        out[row.field] = (row.filename, attachments.path_of(kz, row.token).read_bytes())
    return out


def pdf_text(data: bytes) -> str:
    return " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages).split())


def test_the_quarterly_step_opens_with_the_quarters_figures(
    walk: Walk,
    kz: Kyzmat,
    session: Session,
    clock: Any,
    dataset: dict[str, int],
    providers: None,
    user: Callable[[str], User],
) -> None:
    (walk.instance,) = start_due_annual_cases(kz, session)
    up_to_reports(walk)
    assert files_of(kz, session, walk) == {}
    clock.move_to(datetime(2026, 3, 31, 18, 0, 1, tzinfo=UTC))  # the first quarter has ended
    walk.fire()
    task = walk.open_task("E_06_q1_results")
    view = cases.get_task(kz, session, user("monitoring"), task.id)
    summary = view.data["results_summary"]
    # The four February requests of the analytics fixture, one sheet, one of two decided M2 requests in time.
    assert summary.startswith("Кайрылуулар: 4; Баракчалар: 1;")
    assert "QI-7" in summary and "QI-8" in summary and "1 баракча" in summary
    name, pdf = files_of(kz, session, walk)["results_file"]
    assert name == "monitoring-2026-Q1.pdf" and view.data["results_file"]
    # The quarter's report from the analytics (quarterly_summary), as of the moment the step opened.
    assert pdf_text(pdf) == pdf_text(
        analytics_report.report_pdf(quarterly_summary(kz, session, 2026, 1), "ky")
    )
    # The executor completes the step with the prepared figures and the attached file.
    walk.complete(
        "E_06_q1_results",
        {
            **{k: view.data[k] for k in ("results_summary", "results_file")},
            "published_to": ["authorized_body"],
            "corrective_measures": "—",
        },
        "monitoring",
    )
    assert "E_06_q1_results" not in walk.open_steps()


def test_the_final_report_step_attaches_the_analytics_final_report(
    walk: Walk,
    kz: Kyzmat,
    session: Session,
    clock: Any,
    dataset: dict[str, int],
    providers: None,
    user: Callable[[str], User],
) -> None:
    (walk.instance,) = start_due_annual_cases(kz, session)
    up_to_reports(walk)
    clock.move_to(datetime(2026, 10, 15, 5, tzinfo=UTC))
    for code, username, n in (
        ("sadyrbaev", "specialist", 40),
        ("kyzyl-adyr", "specialist_ka", 25),
        ("ak-suu", "specialist_as", 12),
    ):
        walk.complete("E_07_submit_reports", report(n), username, code)
    for quarter in (1, 2, 3):
        if f"E_06_q{quarter}_results" in walk.open_steps():
            walk.complete(f"E_06_q{quarter}_results", QUARTER, "monitoring")
    assert "final_report_file" not in files_of(kz, session, walk)
    clock.move_to(datetime(2026, 11, 10, 5, tzinfo=UTC))
    walk.complete("E_08_analysis", ANALYSIS, "monitoring")
    task = walk.open_task("E_09_final_report")
    files = files_of(kz, session, walk)
    name, pdf = files["final_report_file"]
    assert name == "monitoring-2026-final-report.pdf"
    text = pdf_text(pdf)
    assert word("title", "ky").split()[0] in text
    for code in ("QI-1", "QI-4", "QI-8"):
        assert code in text
    assert word("chart_demand", "ky") in text and word("s_annex", "ky") in text
    assert "2026-02-03" in text  # the answers database annex has the February sheet
    # The same report the analytics page gives for the year.
    expected = pdf_text(analytics_report.final_report_pdf(kz, session, 2026, "ky"))
    assert text == expected
    xlsx_name, xlsx = files["answers_database"]
    assert xlsx_name == "monitoring-2026-data.xlsx"
    book = load_workbook(io.BytesIO(xlsx), read_only=True)
    assert len(book.sheetnames) == len(analytics_report.SHEETS)
    view = cases.get_task(kz, session, user("monitoring"), task.id)
    assert view.data["final_report_file"] and view.data["answers_database"]
    # FR-1: every service of the year with its responsible executor (the provider), from the catalogue.
    assert view.data["services_and_executors"] == [
        {"service_name": "Үй-бүлөсүнүн курамы жөнүндө", "executor": "Айыл өкмөтү"},
        {"service_name": "Жашаган жеринен", "executor": "Айыл өкмөтү"},
        {"service_name": "Никени каттоо", "executor": "ЗАГС (жарандык абалдын актыларын каттоо органы)"},
    ]
    assert view.data["ranking"].startswith(word("ranking_quality", "ky") + ":\n1. ")
    assert "«Жашаган жеринен»" in view.data["problems_described"]  # the late M2 request
    assert "QI-7" in view.data["indicators_achievement"]
    # Completed as prepared: the report travels on to the submission step.
    walk.complete(
        "E_09_final_report",
        {
            k: view.data[k]
            for k in (
                "services_and_executors",
                "ranking",
                "indicators_achievement",
                "problems_described",
                "final_report_file",
                "answers_database",
            )
        },
        "monitoring",
    )
    assert walk.open_steps() == ["E_10_submit_report"]
    # The case page lists the report for the monitoring executor.
    session.commit()
    app = webapp.create_app({"TESTING": True, "WTF_CSRF_ENABLED": False}, kyzmat=kz)
    client = app.test_client()
    assert (
        client.post("/login", data={"username": "monitoring", "password": DEMO_PASSWORD}).status_code == 302
    )
    page = client.get(f"/cases/{walk.instance.id}").get_data(as_text=True)
    assert "monitoring-2026-final-report.pdf" in page and "monitoring-2026-data.xlsx" in page
