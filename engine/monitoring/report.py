"""The final monitoring report of a year (catalogue §7.7) as PDF with its charts, and its data as XLSX and CSV.

`final_report_pdf(kz, session, year, lang)` is what Process E's final-report step (E-09) attaches.
Contents, in the order of §7.7: FR-1 services with their responsible executors (the provider, AMB-E9),
FR-2 the rankings by quality and by demand, FR-3 the eight indicators of §7.4, the figures behind them,
FR-4 the problems noted, FR-5 the charts, FR-6 the database of answers as an annex.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from engine.monitoring.analytics import ANSWERS, QUESTIONS, Period, Report, monitoring_report
from engine.monitoring.charts import charts
from engine.monitoring.words import (
    INDICATORS,
    answer_label,
    indicator_name,
    kind_label,
    municipality_name,
    number,
    percent,
    problem_text,
    question_label,
    service_name,
    word,
)
from engine.platform.pdf_fonts import pdf_fonts
from engine.runtime.context import Kyzmat

__all__ = ["answers_csv", "final_report_pdf", "indicators", "report_pdf", "report_xlsx", "services_csv"]


def indicators(report: Report, lang: str) -> list[tuple[str, str, str]]:
    """The eight quality indicators of §7.4: (code, name, what the data says)."""
    t = report.total
    values = {
        "QI-1": word("qi1_value", lang).format(share=percent(t.procedure_share, lang)),
        "QI-2": word("qi2_value", lang).format(
            share=percent(t.on_time_share, lang),
            avg=number(t.avg_days, lang),
            norm=number(t.norm_days, lang),
            dev=number(t.max_deviation, lang),
        ),
        "QI-3": word("qi3_value", lang).format(paid=sum(1 for c in report.by_service if report.paid.get(c))),
        "QI-4": word("qi4_value", lang).format(
            share=percent(t.online_sheets / t.sheets if t.sheets else None, lang)
        ),
        "QI-5": word("not_recorded", lang),
        "QI-6": word("qi6_value", lang).format(share=percent(t.fully_share("q8_information"), lang)),
        "QI-7": word("qi7_value", lang).format(share=percent(t.satisfaction_index, lang), sheets=t.sheets),
        "QI-8": word("qi8_value", lang).format(unfounded=t.unfounded, corruption=t.corruption),
    }
    return [(code, indicator_name(code, lang), values[code]) for code in INDICATORS]


# --- rows shared by the PDF, the XLSX and the CSV ---------------------------------------------------


def service_rows(report: Report, lang: str) -> tuple[list[str], list[list[Any]]]:
    head = [
        word(k, lang)
        for k in (
            "code",
            "service",
            "provider",
            "norm_days",
            "requests",
            "on_time_share",
            "avg_days",
            "max_days",
            "max_deviation",
            "overdue_open",
            "sheets",
            "satisfaction_index",
            "unfounded",
            "corruption",
            "quality",
        )
    ]
    rows = []
    for code, f in report.by_service.items():
        rows.append(
            [
                code,
                service_name(report, code, lang),
                _provider(report, code, lang),
                report.terms.get(code),
                f.requests,
                _ratio(f.on_time_share),
                _round(f.avg_days),
                f.max_days,
                f.max_deviation,
                f.overdue_open,
                f.sheets,
                _ratio(f.satisfaction_index),
                f.unfounded,
                f.corruption,
                _ratio(f.quality),
            ]
        )
    return head, rows


def municipality_rows(report: Report, lang: str) -> tuple[list[str], list[list[Any]]]:
    head = [
        word(k, lang)
        for k in (
            "municipality",
            "requests",
            "on_time_share",
            "avg_days",
            "max_days",
            "max_deviation",
            "sheets",
            "satisfaction_index",
            "unfounded",
            "corruption",
        )
    ]
    rows = [
        [
            municipality_name(report, m, lang),
            f.requests,
            _ratio(f.on_time_share),
            _round(f.avg_days),
            f.max_days,
            f.max_deviation,
            f.sheets,
            _ratio(f.satisfaction_index),
            f.unfounded,
            f.corruption,
        ]
        for m, f in report.by_municipality.items()
    ]
    return head, rows


def question_rows(report: Report, lang: str) -> tuple[list[str], list[list[Any]]]:
    """Shares per answer option for each question, with the lowest and highest "fully satisfied" share
    across municipalities and across services."""
    head = (
        [word("question", lang), word("answers", lang)]
        + [answer_label(a, lang) for a in ANSWERS]
        + [
            f"{word('min', lang)} ({word('municipality', lang)})",
            f"{word('max', lang)} ({word('municipality', lang)})",
            f"{word('min', lang)} ({word('service', lang)})",
            f"{word('max', lang)} ({word('service', lang)})",
        ]
    )
    rows = []
    for q in QUESTIONS:
        counts = report.total.answers.get(q)
        if not counts:
            continue
        shares = report.total.shares[q]
        ext = report.extremes.get(f"fully:{q}", {})
        by_m, by_s = ext.get("municipality"), ext.get("service")

        def names(keys: Iterable[Any], kind: str) -> str:
            return ", ".join(
                municipality_name(report, k, lang) if kind == "m" else service_name(report, k, lang)
                for k in keys
            )

        rows.append(
            [question_label(q, lang), sum(counts.values())]
            + [_ratio(shares[a]) for a in ANSWERS]
            + [
                f"{percent(by_m.low, lang)}: {names(by_m.low_keys, 'm')}" if by_m else "",
                f"{percent(by_m.high, lang)}: {names(by_m.high_keys, 'm')}" if by_m else "",
                f"{percent(by_s.low, lang)}: {names(by_s.low_keys, 's')}" if by_s else "",
                f"{percent(by_s.high, lang)}: {names(by_s.high_keys, 's')}" if by_s else "",
            ]
        )
    return head, rows


def quarter_rows(report: Report, lang: str) -> tuple[list[str], list[list[Any]]]:
    head = [
        word("period", lang),
        word("requests", lang),
        word("on_time_share", lang),
        word("avg_days", lang),
        word("sheets", lang),
        word("satisfaction_index", lang),
        word("unfounded", lang),
        word("corruption", lang),
    ]
    rows = [
        [
            f"{report.period.year} {word('quarter_short', lang)}{q}",
            f.requests,
            _ratio(f.on_time_share),
            _round(f.avg_days),
            f.sheets,
            _ratio(f.satisfaction_index),
            f.unfounded,
            f.corruption,
        ]
        for q, f in sorted(report.by_quarter.items())
    ]
    return head, rows


def ranking_rows(report: Report, lang: str) -> tuple[list[str], list[list[Any]]]:
    head = [
        word("rank", lang),
        word("service", lang),
        word("quality", lang),
        word("rank", lang),
        word("service", lang),
        word("requests", lang),
    ]
    q, d = report.quality_ranking, report.demand_ranking
    rows = []
    for i in range(max(len(q), len(d))):
        left = [q[i][0], service_name(report, q[i][1], lang), _ratio(q[i][2])] if i < len(q) else ["", "", ""]
        right = [d[i][0], service_name(report, d[i][1], lang), int(d[i][2])] if i < len(d) else ["", "", ""]
        rows.append(left + right)
    return head, rows


def answer_rows(report: Report, lang: str, *, compact: bool = False) -> tuple[list[str], list[list[Any]]]:
    """The annex: one row per evaluation sheet, anonymous (FR-6, AMB-E15). `compact` gives the answers
    as their number on the sheet (1-4), for the narrow columns of the PDF."""
    head = [
        word("date", lang),
        word("municipality", lang),
        word("code", lang),
        word("service", lang),
        word("variant", lang),
        word("age", lang),
        word("gender", lang),
        word("health", lang),
    ]
    head += [question_label(q, lang) for q in QUESTIONS]
    head += [
        word("unfounded", lang),
        word("unfounded_kinds", lang),
        word("corruption", lang),
        word("comment", lang),
    ]
    yes_no = {True: word("yes", lang), False: word("no", lang), None: ""}
    rows = []
    for s in sorted(report.sheets, key=lambda s: (s.appeal_date, s.municipality_id, s.service_code)):
        a = s.answers
        rows.append(
            [
                s.appeal_date.isoformat(),
                municipality_name(report, s.municipality_id, lang),
                s.service_code,
                service_name(report, s.service_code, lang),
                s.variant,
                a.get("age", ""),
                a.get("gender", ""),
                yes_no.get(a.get("health_limitations"), ""),
            ]
            + [
                (str(ANSWERS.index(a[q]) + 1) if compact else answer_label(a[q], lang))
                if a.get(q) in ANSWERS
                else ""
                for q in QUESTIONS
            ]
            + [
                yes_no.get(a.get("unfounded_actions"), ""),
                "; ".join(kind_label(k, lang) for k in a.get("unfounded_kinds") or []),
                yes_no.get(a.get("corruption"), ""),
                " ".join(str(a.get(k) or "") for k in ("comment", "corruption_details")).strip(),
            ]
        )
    return head, rows


def _provider(report: Report, code: str, lang: str) -> str:
    names = report.providers.get(code) or {}
    return names.get(lang) or names.get("ky", "")


def _ratio(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


# --- PDF -------------------------------------------------------------------------------------------


def report_pdf(report: Report, lang: str, *, title: str | None = None) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import (
        KeepTogether,
        LongTable,
        PageBreak,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        TableStyle,
    )

    regular, bold = pdf_fonts()
    base = ParagraphStyle("base", fontName=regular, fontSize=9, leading=12)
    cell = ParagraphStyle("cell", parent=base, fontSize=7, leading=8.5)
    h1 = ParagraphStyle("h1", parent=base, fontName=bold, fontSize=15, leading=19, spaceAfter=6)
    h2 = ParagraphStyle(
        "h2", parent=base, fontName=bold, fontSize=11.5, leading=15, spaceBefore=10, spaceAfter=5
    )
    h3 = ParagraphStyle("h3", parent=base, fontName=bold, fontSize=9.5, spaceBefore=6, spaceAfter=3)

    def esc(value: Any) -> str:
        text = "" if value is None else (number(value, lang) if isinstance(value, float) else str(value))
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    def table(
        head: list[str],
        rows: list[list[Any]],
        widths: list[float] | None = None,
        percents: Iterable[int] = (),
    ) -> LongTable:
        pcols = set(percents)
        data = [[Paragraph(esc(h), ParagraphStyle("th", parent=cell, fontName=bold)) for h in head]]
        for row in rows:
            data.append(
                [
                    Paragraph(esc(percent(v, lang) if i in pcols and isinstance(v, float | int) else v), cell)
                    for i, v in enumerate(row)
                ]
            )
        t = LongTable(data, colWidths=widths, repeatRows=1)
        t.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#999999")),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef4")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        return t

    buffer = io.BytesIO()
    page = landscape(A4)
    doc = SimpleDocTemplate(
        buffer,
        pagesize=page,
        leftMargin=14 * mm,
        rightMargin=14 * mm,
        topMargin=14 * mm,
        bottomMargin=14 * mm,
        title=title or word("title", lang),
        author="Kyzmat",
    )
    story: list[Any] = [Paragraph(esc(title or word("title", lang)), h1)]
    story.append(
        Paragraph(
            esc(
                f"{word('period', lang)}: {report.period.label}. "
                f"{word('prepared_on', lang)}: {report.as_of.isoformat()}."
            ),
            base,
        )
    )
    story.append(
        Paragraph(
            esc(
                f"{word('scope', lang)}: "
                + ", ".join(municipality_name(report, m, lang) for m in report.municipalities)
            ),
            base,
        )
    )
    story.append(Paragraph(esc(word("sources", lang)), base))

    story.append(Paragraph(esc(word("s_services", lang)), h2))
    used = list(report.by_service)
    story.append(
        table(
            [word(k, lang) for k in ("code", "service", "provider", "norm_days", "paid")],
            [
                [
                    c,
                    service_name(report, c, lang),
                    _provider(report, c, lang),
                    report.terms.get(c),
                    word("yes" if report.paid.get(c) else "no", lang),
                ]
                for c in used
            ],
            [16 * mm, 120 * mm, 70 * mm, 30 * mm, 25 * mm],
        )
    )

    story.append(Paragraph(esc(word("s_ranking", lang)), h2))
    story.append(Paragraph(esc(word("ranking_note", lang)), base))
    story.append(Spacer(1, 4))
    head, rows = ranking_rows(report, lang)
    story.append(Paragraph(esc(f"{word('ranking_quality', lang)} / {word('ranking_demand', lang)}"), h3))
    story.append(table(head, rows, [14 * mm, 100 * mm, 24 * mm, 14 * mm, 100 * mm, 20 * mm], percents=[2]))

    story.append(Paragraph(esc(word("s_indicators", lang)), h2))
    story.append(
        table(
            [word("code", lang), word("indicator", lang), word("value", lang)],
            [list(row) for row in indicators(report, lang)],
            [16 * mm, 130 * mm, 120 * mm],
        )
    )

    story.append(Paragraph(esc(word("s_figures", lang)), h2))
    head, rows = service_rows(report, lang)
    story.append(table(head, rows, [11 * mm, 52 * mm, 28 * mm] + [15.5 * mm] * 12, percents=[5, 11, 14]))
    story.append(Spacer(1, 6))
    head, rows = municipality_rows(report, lang)
    story.append(table(head, rows, [60 * mm] + [22 * mm] * 9, percents=[2, 7]))
    story.append(Spacer(1, 6))
    head, rows = quarter_rows(report, lang)
    story.append(table(head, rows, [30 * mm] + [25 * mm] * 7, percents=[2, 5]))

    story.append(Paragraph(esc(word("s_questions", lang)), h2))
    head, rows = question_rows(report, lang)
    story.append(table(head, rows, [40 * mm, 15 * mm] + [22 * mm] * 4 + [30 * mm] * 4, percents=[2, 3, 4, 5]))

    story.append(Paragraph(esc(word("s_problems", lang)), h2))
    if report.problems:
        for code, params in report.problems:
            story.append(Paragraph("• " + esc(problem_text(report, code, params, lang)), base))
    else:
        story.append(Paragraph(esc(word("no_problems", lang)), base))

    story.append(PageBreak())
    story.append(Paragraph(esc(word("s_charts", lang)), h2))
    for drawing in charts(report, lang).values():
        story.append(KeepTogether([drawing, Spacer(1, 10)]))

    story.append(PageBreak())
    story.append(Paragraph(esc(word("s_annex", lang)), h2))
    story.append(Paragraph(esc(word("annex_note", lang)), base))
    story.append(
        Paragraph(esc("; ".join(f"{i} — {answer_label(a, lang)}" for i, a in enumerate(ANSWERS, 1))), base)
    )
    story.append(Spacer(1, 4))
    head, rows = answer_rows(report, lang, compact=True)
    story.append(
        table(
            head,
            rows,
            [19 * mm, 26 * mm, 10 * mm, 32 * mm, 12 * mm, 9 * mm, 12 * mm, 13 * mm]
            + [9.5 * mm] * 9
            + [16 * mm, 28 * mm, 16 * mm, 20 * mm],
        )
    )
    doc.build(story)
    return buffer.getvalue()


def final_report_pdf(
    kz: Kyzmat, session: Session, year: int, lang: str, municipality_ids: Iterable[int] | None = None
) -> bytes:
    """The final report of the year (all municipalities unless given) as PDF: Process E (E-09) attaches it."""
    return report_pdf(monitoring_report(kz, session, Period(year), municipality_ids), lang)


# --- XLSX and CSV ----------------------------------------------------------------------------------

SHEETS = ("services", "municipalities", "quarters", "questions", "ranking", "indicators", "answers")
SHEET_TITLES = {
    "services": {"ky": "Кызматтар", "ru": "Услуги", "en": "Services"},
    "municipalities": {"ky": "Муниципалитеттер", "ru": "Муниципалитеты", "en": "Municipalities"},
    "quarters": {"ky": "Чейректер", "ru": "Кварталы", "en": "Quarters"},
    "questions": {"ky": "Суроолор", "ru": "Вопросы", "en": "Questions"},
    "ranking": {"ky": "Рейтинг", "ru": "Рейтинг", "en": "Ranking"},
    "indicators": {"ky": "Көрсөткүчтөр", "ru": "Показатели", "en": "Indicators"},
    "answers": {"ky": "Жооптор", "ru": "Ответы", "en": "Answers"},
}


def _tables(report: Report, lang: str) -> dict[str, tuple[list[str], list[list[Any]]]]:
    return {
        "services": service_rows(report, lang),
        "municipalities": municipality_rows(report, lang),
        "quarters": quarter_rows(report, lang),
        "questions": question_rows(report, lang),
        "ranking": ranking_rows(report, lang),
        "indicators": (
            [word("code", lang), word("indicator", lang), word("value", lang)],
            [list(r) for r in indicators(report, lang)],
        ),
        "answers": answer_rows(report, lang),
    }


def report_xlsx(report: Report, lang: str) -> bytes:
    """The report's tables, one worksheet each; shares are numbers formatted as percentages."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    book.remove(book.active)
    percent_headers = {word(k, lang) for k in ("on_time_share", "satisfaction_index", "quality")}
    percent_headers |= {answer_label(a, lang) for a in ANSWERS}
    for name, (head, rows) in _tables(report, lang).items():
        sheet = book.create_sheet(SHEET_TITLES[name].get(lang) or SHEET_TITLES[name]["en"])
        sheet.append(head)
        for c in sheet[1]:
            c.font = Font(bold=True)
        for row in rows:
            sheet.append(row)
        for col, title in enumerate(head, start=1):
            if title in percent_headers:
                for (c,) in sheet.iter_rows(min_row=2, min_col=col, max_col=col):
                    c.number_format = "0.0%"
            sheet.column_dimensions[sheet.cell(1, col).column_letter].width = min(60, max(10, len(title) + 2))
        sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _csv(head: list[str], rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(head)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    return out.getvalue().encode("utf-8-sig")  # the BOM makes spreadsheet programs read UTF-8


def answers_csv(report: Report, lang: str) -> bytes:
    """The annex (the database of answers) as CSV."""
    return _csv(*answer_rows(report, lang))


def services_csv(report: Report, lang: str) -> bytes:
    return _csv(*service_rows(report, lang))
