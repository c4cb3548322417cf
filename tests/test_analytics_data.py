"""The analytics over real cases walked through Process D: the facts it reads, the report's PDF, XLSX and
CSV, the dashboards and who may see them, and the generated demo year."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
import time_machine
from flask import Flask
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import webapp
from engine.citizens import evaluation
from engine.demo import history as demo_history
from engine.demo.data import DEMO_PASSWORD
from engine.monitoring import analytics
from engine.monitoring import report as analytics_report
from engine.monitoring.analytics import CaseFact, Period
from engine.monitoring.words import word
from engine.platform.models import EvaluationSheet, Municipality, ProcessInstance, User
from engine.runtime.context import Kyzmat
from tests.test_process_d_scenarios import ALL_DOCS, Walk, intake

# Tuesday 3 February 2026, 10:00 in Bishkek; 4, 5, 6 and 9 February are working days.
REGISTERED = datetime(2026, 2, 3, 4, 0, tzinfo=UTC)
FULL_ANSWERS = {
    "age": 41,
    "gender": "female",
    "health_limitations": False,
    **dict.fromkeys(
        ("q1_schedule", "q2_premises", "q3_queue", "q4_time", "q5_competence", "q6_politeness", "q7_overall"),
        "fully_satisfied",
    ),
    "q8_information": "not_satisfied",
    "unfounded_actions": True,
    "unfounded_kinds": ["unofficial_queue"],
    "corruption": False,
}


def served(walk: Walk, ready: datetime, username: str = "specialist", *, late: bool = False) -> None:
    """Register an M2 request now, and have the body's result reach the CSC at `ready`."""
    intake(walk, "M2")
    walk.complete("D_06_check_documents", {"documents_received": ALL_DOCS["M2"], "documents_complete": True})
    walk.complete("D_09_issue_receipt", {"receipt_handed_over": True})
    walk.complete("D_10_forward", {"forwarded_to": "Айыл өкмөтү"})
    with time_machine.travel(ready, tick=False):
        if late:
            from engine.runtime import cases

            cases.fire_due_timers(walk.kz, walk.session)
        walk.complete(
            "D_11_prepare_municipal",
            {"outcome": "document", "document_number": "7", "result_transferred_to_csc": True},
            username=username,
        )
        walk.complete(
            "D_13_hand_over",
            {
                "outcome": "document",
                "result_handed_over": True,
                "handed_over_on": ready.date().isoformat(),
                "evaluation_sheet_offered": True,
            },
        )


@pytest.fixture
def dataset(kz: Kyzmat, session: Session, user: Callable[[str], User]) -> dict[str, int]:
    """D. Sadyrbaev: an M2 request served in 2 working days (with a full sheet), an M2 request served in 4
    (term 3: late), a consultation on S1. Kyzyl-Adyr: an M1 request registered, still being prepared."""
    with time_machine.travel(REGISTERED, tick=False):
        on_time = Walk(kz, session, user)
        served(on_time, datetime(2026, 2, 5, 9, 0, tzinfo=UTC))
        ctx = evaluation.sheet_context(kz, session, on_time.instance)
        evaluation.submit_sheet(kz, session, ctx, FULL_ANSWERS)
        served(Walk(kz, session, user), datetime(2026, 2, 9, 9, 0, tzinfo=UTC), late=True)
        consult = Walk(kz, session, user)
        intake(consult, "S1")
        consult.complete(
            "D_04_state_consultation",
            {
                "notification_help_given": True,
                "schedule_and_contacts_given": True,
                "next_step": "visit_state_body",
            },
        )
        other = Walk(kz, session, user)
        other.instance = None
        from engine.runtime import cases

        other.instance = cases.start_case(kz, session, user("operator2"), "citizen_service")
        other.complete(
            "D_02_reception",
            {
                "applicant_name": "Нурбек Осмонов",
                "village": "Борбор",
                "remote_village": False,
                "is_representative": False,
                "appeal_form": "oral",
                "service_code": "M1",
            },
            username="operator2",
        )
        other.complete("D_03_advise", {"documents_help_given": True}, username="operator2")
        other.complete(
            "D_06_check_documents",
            {"documents_received": ["application"], "documents_complete": True},
            username="operator2",
        )
    ids = dict(session.execute(select(Municipality.code, Municipality.id)).all())
    return {"sadyrbaev": ids["sadyrbaev"], "kyzyl-adyr": ids["kyzyl-adyr"]}


def test_case_facts_are_read_from_the_cases(kz: Kyzmat, session: Session, dataset: dict[str, int]) -> None:
    ds, ka = dataset["sadyrbaev"], dataset["kyzyl-adyr"]
    facts = sorted(
        analytics.load_case_facts(session, Period(2026, 1)),
        key=lambda f: (f.municipality_id, f.service_code, f.ready_on or date.min),
    )
    feb = lambda d: date(2026, 2, d)  # noqa: E731
    assert facts == sorted(
        [
            CaseFact(ds, "M2", feb(3), True, feb(6), feb(5), True),
            CaseFact(ds, "M2", feb(3), True, feb(6), feb(9), False),
            CaseFact(ds, "S1", feb(3), False, None, None, None),
            CaseFact(ka, "M1", feb(3), True, feb(6), None, None),  # no step with a deadline is done yet
        ],
        key=lambda f: (f.municipality_id, f.service_code, f.ready_on or date.min),
    )
    assert analytics.load_case_facts(session, Period(2026, 2)) == []
    assert [f.municipality_id for f in analytics.load_case_facts(session, Period(2026), [ka])] == [ka]


def test_report_of_the_cases(kz: Kyzmat, session: Session, dataset: dict[str, int]) -> None:
    with time_machine.travel(datetime(2026, 2, 20, 4, 0, tzinfo=UTC), tick=False):
        report = analytics.monitoring_report(kz, session, Period(2026), [dataset["sadyrbaev"]])
        everywhere = analytics.monitoring_report(kz, session, Period(2026))
    m2 = report.by_service["M2"]
    assert (m2.requests, m2.decided, m2.on_time, m2.avg_days, m2.max_days, m2.max_deviation) == (
        2,
        2,
        1,
        3,
        4,
        1,
    )
    assert report.total.requests == 3 and report.total.sheets == 1 and report.total.unfounded == 1
    assert report.total.shares["q8_information"]["not_satisfied"] == 1
    assert report.demand_ranking == [(1, "M2", 2.0), (2, "S1", 1.0)]
    # Kyzyl-Adyr's M1 request: due 6 Feb, no result by 20 Feb, so overdue and not within the term.
    assert everywhere.total.requests == 4 and everywhere.by_service["M1"].overdue_open == 1
    assert everywhere.by_service["M1"].on_time_share == 0
    assert analytics.years_with_data(session) == [2026]


def test_final_report_pdf_has_the_charts_the_indicators_and_the_annex(
    kz: Kyzmat, session: Session, dataset: dict[str, int]
) -> None:
    pdf = analytics_report.final_report_pdf(kz, session, 2026, "ru")
    reader = PdfReader(io.BytesIO(pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    flat = " ".join(text.split())
    assert "Итоговый доклад о результатах мониторинга качества муниципальных услуг" in flat
    for code in ("QI-1", "QI-2", "QI-3", "QI-4", "QI-5", "QI-6", "QI-7", "QI-8"):
        assert code in flat
    for chart in ("chart_demand", "chart_on_time", "chart_terms", "chart_satisfaction", "chart_quarters"):
        assert word(chart, "ru") in flat, chart
    assert "Справка с места жительства" in flat and "Айыл окмоту" in flat  # FR-1: service and its provider
    annex = flat[flat.index(word("s_annex", "ru")) :]
    assert "3 — Не удовлетворён(а)" in annex  # the legend of the answer numbers
    row = annex[annex.index("2026-02-03") :]
    assert row.split()[:4] == ["2026-02-03", "Айыл", "окмоту", "им."]
    assert "1 1 1 1 1 1 1 3 Да Организация неофициальной очереди Нет" in row
    # the problems noted name the late service
    assert "«Справка с места жительства»: в стандартный срок оказано лишь 50.0%" in flat
    ky = " ".join(analytics_report.final_report_pdf(kz, session, 2026, "ky").decode("latin-1").split())
    assert ky.startswith("%PDF")


def test_xlsx_and_csv(kz: Kyzmat, session: Session, dataset: dict[str, int]) -> None:
    report = analytics.monitoring_report(kz, session, Period(2026))
    book = load_workbook(io.BytesIO(analytics_report.report_xlsx(report, "ru")))
    assert book.sheetnames == [
        "Услуги",
        "Муниципалитеты",
        "Кварталы",
        "Вопросы",
        "Рейтинг",
        "Показатели",
        "Ответы",
    ]
    services = {row[0]: row for row in book["Услуги"].iter_rows(min_row=2, values_only=True)}
    assert set(services) == {"M1", "M2", "S1"}
    assert services["M2"][4] == 2 and services["M2"][5] == 0.5  # requests, share on time
    assert book["Ответы"].max_row == 2 and book["Показатели"].max_row == 9
    assert [r[1] for r in book["Кварталы"].iter_rows(min_row=2, values_only=True)] == [4, 0, 0, 0]
    rows = list(csv.reader(io.StringIO(analytics_report.answers_csv(report, "ky").decode("utf-8-sig"))))
    assert len(rows) == 2 and rows[1][0] == "2026-02-03" and rows[1][2] == "M2"
    assert "Канааттанбайм" in rows[1]


# --- dashboards and permissions --------------------------------------------------------------------


@pytest.fixture
def app(kz: Kyzmat) -> Flask:
    return webapp.create_app({"TESTING": True, "WTF_CSRF_ENABLED": False}, kyzmat=kz)


def client_for(app: Flask, username: str):
    client = app.test_client()
    assert client.post("/login", data={"username": username, "password": DEMO_PASSWORD}).status_code == 302
    return client


def test_council_sees_its_own_csc_only(app: Flask, dataset: dict[str, int]) -> None:
    council = client_for(app, "council")
    page = council.get("/analytics/?year=2026").get_data(as_text=True)
    assert "Д.Садырбаев айыл өкмөтү" in page and "Кызыл-Адыр" not in page
    assert page.count('<figure class="chart"') == 5 and page.count("<svg") >= 5
    assert 'style="' not in page  # the CSP (style-src 'self') would drop inline styles: charts use attributes
    figures = council.get("/analytics/services.csv?year=2026").get_data(as_text=True)
    assert "M1" not in figures  # Kyzyl-Adyr's request is not in the council's figures
    for url in (
        "/analytics/",
        "/analytics/report.pdf",
        "/analytics/report.xlsx",
        "/analytics/answers.csv",
        "/analytics/services.csv",
    ):
        resp = council.get(f"{url}?year=2026&municipality={dataset['kyzyl-adyr']}")
        assert resp.status_code == 403, url
        assert "Сизге муну көрүүгө же аткарууга уруксат жок." in resp.get_data(as_text=True)


def test_ministry_sees_every_municipality(app: Flask, dataset: dict[str, int]) -> None:
    ministry = client_for(app, "ministry")
    page = ministry.get("/analytics/?year=2026").get_data(as_text=True)
    assert "Д.Садырбаев айыл өкмөтү" in page and "Кызыл-Адыр айыл өкмөтү" in page
    assert 'id="municipalities"' in page and page.count('<figure class="chart"') == 5
    one = ministry.get(f"/analytics/?year=2026&quarter=1&municipality={dataset['kyzyl-adyr']}")
    assert one.status_code == 200
    pdf = ministry.get("/analytics/report.pdf?year=2026")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF") and pdf.mimetype == "application/pdf"


def test_others_may_not_see_the_figures(app: Flask) -> None:
    assert app.test_client().get("/analytics/").status_code == 302  # to the login page
    operator = client_for(app, "operator")
    assert operator.get("/analytics/").status_code == 403
    assert operator.get("/analytics/report.pdf?year=2026").status_code == 403
    assert "/analytics/" not in operator.get("/").get_data(as_text=True)  # no menu entry either


def test_bad_filters_are_explained_in_kyrgyz(app: Flask) -> None:
    page = client_for(app, "ministry").get("/analytics/?year=20x6&quarter=9").get_data(as_text=True)
    assert "Жыл же чейрек туура эмес; акыркы жыл көрсөтүлдү." in page


# --- the demo year ---------------------------------------------------------------------------------


def test_demo_year_is_generated_through_the_engine_and_removed(kz: Kyzmat, session: Session) -> None:
    made = demo_history.generate(kz, session, year=2025, count=16, seed=3)
    demo_ids = list(
        session.scalars(
            select(ProcessInstance.id).where(ProcessInstance.summary["demo"].as_boolean().is_(True))
        )
    )
    assert made == 16 and len(demo_ids) == 16
    sheets = session.scalar(select(func.count()).select_from(EvaluationSheet))
    assert sheets > 0
    report = analytics.monitoring_report(kz, session, Period(2025))
    assert report.total.requests == 16 and report.total.sheets == sheets
    assert len(report.by_municipality) >= 2
    counts = demo_history.remove(kz, session)
    assert counts == {"cases": 16, "sheets": sheets, "users": 4, "municipalities": 1}
    assert session.scalar(select(func.count()).select_from(ProcessInstance)) == 0
    assert session.scalar(select(func.count()).select_from(EvaluationSheet)) == 0
    assert session.scalar(select(Municipality.id).where(Municipality.code == "ak-talaa")) is None
    assert session.scalar(select(User.id).where(User.username == "operator")) is not None  # demo logins stay
