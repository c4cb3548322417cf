"""Monitoring dashboards and the final report's downloads: charts drawn on the server (SVG), so the pages
print and need no JavaScript. Who sees which municipality is decided by `engine.monitoring.analytics.analytics_scope`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, g, render_template, request
from flask_babel import gettext as _

from engine.calendar.days import to_local_date
from engine.monitoring import analytics, words
from engine.monitoring import report as analytics_report
from engine.monitoring.charts import charts, svg
from engine.platform.errors import Forbidden

from .auth import db, kz, login_required
from .templating import lang

bp = Blueprint("analytics", __name__, url_prefix="/analytics")


@bp.errorhandler(Forbidden)
def _forbidden(err: Forbidden) -> Any:
    return render_template("error.html", code=403, message=_("You may not see or do this.")), 403


@bp.app_template_global()
def may_view_analytics() -> bool:
    user = g.get("user")
    return user is not None and analytics.may_view_analytics(user)


@dataclass
class Query:
    year: int
    quarter: int | None
    municipality_id: int | None
    error: str | None = None

    @property
    def period(self) -> analytics.Period:
        return analytics.Period(self.year, self.quarter)

    def args(self, **extra: Any) -> dict[str, Any]:
        out = {"year": self.year, "quarter": self.quarter or "", "municipality": self.municipality_id or ""}
        return {**out, **extra}


def _query(years: list[int]) -> Query:
    """The filters of the request; a bad value falls back to the default and says so."""
    default_year = years[0] if years else to_local_date(kz().clock.now()).year
    q = Query(default_year, None, None)
    raw_year, raw_quarter = request.args.get("year", ""), request.args.get("quarter", "")
    raw_municipality = request.args.get("municipality", "")
    try:
        if raw_year:
            q.year = int(raw_year)
            analytics.Period(q.year)
        if raw_quarter:
            q.quarter = int(raw_quarter)
            analytics.Period(q.year, q.quarter)
        if raw_municipality:
            q.municipality_id = int(raw_municipality)
    except ValueError:
        q = Query(default_year, None, None, _("The year or quarter is not valid; showing the latest year."))
    return q


def _report(q: Query) -> tuple[analytics.Report, list[int] | None]:
    scope = analytics.analytics_scope(g.user, q.municipality_id)  # Forbidden for another municipality
    return analytics.monitoring_report(kz(), db(), q.period, scope), scope


@bp.route("/")
@login_required
def dashboard() -> Any:
    allowed = analytics.viewable_municipalities(g.user)
    if allowed == []:
        raise Forbidden("no analytics role")
    years = analytics.years_with_data(db())
    q = _query(years)
    report, _scope = _report(q)
    municipalities = analytics.municipality_names(db(), allowed)
    language = lang()
    return render_template(
        "analytics/dashboard.html",
        report=report,
        q=q,
        years=years or [q.year],
        municipalities=municipalities,
        national=allowed is None,
        charts={name: svg(drawing, name) for name, drawing in charts(report, language).items()},
        indicators=analytics_report.indicators(report, language),
        problems=[words.problem_text(report, code, params, language) for code, params in report.problems],
        w=lambda key: words.word(key, language),
        pct=lambda v: words.percent(v, language),
        num=lambda v: words.number(v, language),
        service=lambda code: words.service_name(report, code, language),
        place=lambda m: words.municipality_name(report, m, language),
        question=lambda key: words.question_label(key, language),
        answer=lambda key: words.answer_label(key, language),
        QUESTIONS=analytics.QUESTIONS,
        ANSWERS=analytics.ANSWERS,
    )


def _download(body: bytes, mimetype: str, name: str) -> Response:
    return Response(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


def _filename(q: Query, ext: str, stem: str = "monitoring") -> str:
    scope = f"-m{q.municipality_id}" if q.municipality_id else ""
    return f"{stem}-{q.period.label.replace(' ', '-')}{scope}-{lang()}.{ext}"


def _scoped_report() -> tuple[Query, analytics.Report]:
    q = _query(analytics.years_with_data(db()))
    return q, _report(q)[0]


@bp.route("/report.pdf")
@login_required
def report_pdf() -> Any:
    q, report = _scoped_report()
    title = None if q.quarter is None else f"{words.word('quarter_title', lang())}: {q.period.label}"
    return _download(
        analytics_report.report_pdf(report, lang(), title=title), "application/pdf", _filename(q, "pdf")
    )


@bp.route("/report.xlsx")
@login_required
def report_xlsx() -> Any:
    q, report = _scoped_report()
    return _download(
        analytics_report.report_xlsx(report, lang()),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        _filename(q, "xlsx"),
    )


@bp.route("/<any(answers, services):table>.csv")
@login_required
def table_csv(table: str) -> Any:
    """The database of answers (the report's annex) or the figures per service."""
    q, report = _scoped_report()
    make = analytics_report.answers_csv if table == "answers" else analytics_report.services_csv
    return _download(make(report, lang()), "text/csv", _filename(q, "csv", table))
