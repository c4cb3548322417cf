"""The monitoring charts, drawn once with reportlab's graphics: the PDF report embeds the drawings, the
dashboards show the same drawings as SVG (renderSVG), so both print and neither needs JavaScript."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import escape

from reportlab.graphics import renderSVG
from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors

from engine.monitoring.analytics import ANSWERS, QUESTIONS, Report
from engine.monitoring.words import answer_label, municipality_name, question_label, service_name, word
from engine.platform.pdf_fonts import pdf_fonts

__all__ = ["CHARTS", "charts", "svg"]

WIDTH = 480
PALETTE = [colors.HexColor(c) for c in ("#2f6f9f", "#e39b2f", "#5b9e4d", "#b44b4b", "#7b68a6", "#8c8c8c")]
ANSWER_COLOURS = dict(
    zip(
        ANSWERS,
        (
            colors.HexColor("#3c8d40"),
            colors.HexColor("#a8c66c"),
            colors.HexColor("#c9463d"),
            colors.HexColor("#b8b8b8"),
        ),
        strict=True,
    )
)


def _short(text: str, limit: int = 34) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _frame(title: str, height: int) -> Drawing:
    regular, bold = pdf_fonts()
    d = Drawing(WIDTH, height)
    d.add(String(0, height - 14, title, fontName=bold, fontSize=11, fillColor=colors.HexColor("#222222")))
    return d


def _empty(d: Drawing, lang: str) -> Drawing:
    regular, _bold = pdf_fonts()
    d.add(
        String(
            WIDTH / 2,
            d.height / 2,
            word("no_data", lang),
            fontName=regular,
            fontSize=10,
            textAnchor="middle",
            fillColor=colors.grey,
        )
    )
    return d


def _style_axes(chart: HorizontalBarChart | VerticalBarChart, size: int = 7) -> None:
    regular, _bold = pdf_fonts()
    for axis in (chart.categoryAxis, chart.valueAxis):
        axis.labels.fontName = regular
        axis.labels.fontSize = size
    chart.valueAxis.valueMin = 0
    chart.valueAxis.visibleGrid = True
    chart.valueAxis.gridStrokeColor = colors.HexColor("#dddddd")


def _legend(
    d: Drawing,
    pairs: list[tuple[colors.Color, str]],
    x: float,
    y: float,
    columns: int = 4,
    spacing: float = 150,
) -> None:
    regular, _bold = pdf_fonts()
    legend = Legend()
    legend.x, legend.y = x, y
    legend.fontName, legend.fontSize = regular, 7
    legend.alignment = "right"
    legend.columnMaximum = max(1, -(-len(pairs) // columns))
    legend.deltax, legend.dx, legend.dy, legend.deltay = spacing, 7, 7, 11
    legend.colorNamePairs = pairs
    d.add(legend)


def _single_bars(
    title: str,
    rows: list[tuple[str, float]],
    colour: colors.Color,
    label: str,
    lang: str,
    percent_axis: bool = False,
) -> Drawing:
    """One horizontal bar per row (label, value), the first row on top, each bar labelled with its value."""
    height = 48 + 16 * max(len(rows), 3)
    d = _frame(title, height)
    if not rows:
        return _empty(d, lang)
    chart = HorizontalBarChart()
    chart.x, chart.y, chart.width, chart.height = 190, 18, WIDTH - 225, height - 48
    chart.data = [[value for _name, value in reversed(rows)]]
    chart.categoryAxis.categoryNames = [_short(name) for name, _value in reversed(rows)]
    _style_axes(chart)
    if percent_axis:
        chart.valueAxis.valueMax, chart.valueAxis.valueStep = 100, 20
    chart.bars[0].fillColor = colour
    chart.barLabelFormat = label
    chart.barLabels.fontName, chart.barLabels.fontSize, chart.barLabels.boxAnchor = pdf_fonts()[0], 7, "w"
    chart.barLabels.dx = 3
    d.add(chart)
    return d


def demand_chart(report: Report, lang: str) -> Drawing:
    """Requests per service, most asked for first."""
    rows = [(service_name(report, key, lang), value) for _rank, key, value in report.demand_ranking][:12]
    return _single_bars(word("chart_demand", lang), rows, PALETTE[0], "%d", lang)


def on_time_chart(report: Report, lang: str) -> Drawing:
    """The share served within the standard term, per municipality (per service for one municipality)."""
    if len(report.by_municipality) > 1:
        groups = [
            (municipality_name(report, k, lang), f.on_time_share) for k, f in report.by_municipality.items()
        ]
    else:
        groups = [(service_name(report, k, lang), f.on_time_share) for k, f in report.by_service.items()]
    rows = [(name, round(100 * share, 1)) for name, share in groups if share is not None][:12]
    return _single_bars(word("chart_on_time", lang), rows, PALETTE[2], "%.0f%%", lang, percent_axis=True)


def satisfaction_chart(report: Report, lang: str) -> Drawing:
    """Shares of the four answers for each question, stacked to 100 %."""
    questions = [q for q in QUESTIONS if q in report.total.shares]
    height = 70 + 18 * max(len(questions), 3)
    d = _frame(word("chart_satisfaction", lang), height)
    if not questions:
        return _empty(d, lang)
    chart = HorizontalBarChart()
    chart.x, chart.y, chart.width, chart.height = 190, 40, WIDTH - 210, height - 70
    rows = list(reversed(questions))
    chart.data = [[round(100 * report.total.shares[q][a], 1) for q in rows] for a in ANSWERS]
    chart.categoryAxis.categoryNames = [_short(question_label(q, lang)) for q in rows]
    chart.categoryAxis.style = "stacked"
    _style_axes(chart)
    chart.valueAxis.valueMax, chart.valueAxis.valueStep = 100, 20
    for i, a in enumerate(ANSWERS):
        chart.bars[i].fillColor = ANSWER_COLOURS[a]
        chart.bars[i].strokeColor = colors.white
    d.add(chart)
    _legend(
        d,
        [(ANSWER_COLOURS[a], _short(answer_label(a, lang), 30)) for a in ANSWERS],
        10,
        26,
        columns=2,
        spacing=200,
    )
    return d


def quarters_chart(report: Report, lang: str) -> Drawing:
    """Requests per quarter, one bar per municipality."""
    quarters = sorted(report.by_quarter)
    municipalities = list(report.by_municipality)[:6]
    height = 190
    d = _frame(word("chart_quarters", lang), height)
    if not municipalities:
        return _empty(d, lang)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 40, 45, WIDTH - 60, height - 75
    blank = report.by_quarter[quarters[0]].__class__()
    chart.data = [
        [report.by_quarter_municipality.get((q, m), blank).requests for q in quarters] for m in municipalities
    ]
    chart.categoryAxis.categoryNames = [
        f"{report.period.year} {word('quarter_short', lang)}{q}" for q in quarters
    ]
    _style_axes(chart)
    for i in range(len(municipalities)):
        chart.bars[i].fillColor = PALETTE[i % len(PALETTE)]
    d.add(chart)
    _legend(
        d,
        [
            (PALETTE[i % len(PALETTE)], _short(municipality_name(report, m, lang), 28))
            for i, m in enumerate(municipalities)
        ],
        10,
        22,
        columns=3,
    )
    return d


def term_chart(report: Report, lang: str) -> Drawing:
    """Average actual time against the standard term, per service (working days)."""
    rows = [
        (k, f) for k, f in report.by_service.items() if f.avg_days is not None and f.norm_days is not None
    ][:10]
    height = 70 + 22 * max(len(rows), 3)
    d = _frame(word("chart_terms", lang), height)
    if not rows:
        return _empty(d, lang)
    chart = HorizontalBarChart()
    chart.x, chart.y, chart.width, chart.height = 190, 40, WIDTH - 210, height - 70
    rows.reverse()
    chart.data = [
        [round(f.avg_days or 0, 1) for _k, f in rows],
        [round(f.norm_days or 0, 1) for _k, f in rows],
        [float(f.max_days or 0) for _k, f in rows],
    ]
    chart.categoryAxis.categoryNames = [_short(service_name(report, k, lang)) for k, _f in rows]
    _style_axes(chart)
    for i, colour in enumerate((PALETTE[0], PALETTE[5], PALETTE[3])):
        chart.bars[i].fillColor = colour
    d.add(chart)
    _legend(
        d,
        [
            (PALETTE[0], word("avg_days", lang)),
            (PALETTE[5], word("norm_days", lang)),
            (PALETTE[3], word("max_days", lang)),
        ],
        10,
        24,
        columns=3,
    )
    return d


CHARTS: dict[str, Callable[[Report, str], Drawing]] = {
    "demand": demand_chart,
    "on_time": on_time_chart,
    "terms": term_chart,
    "satisfaction": satisfaction_chart,
    "quarters": quarters_chart,
}


def charts(report: Report, lang: str) -> dict[str, Drawing]:
    return {name: make(report, lang) for name, make in CHARTS.items()}


def svg(drawing: Drawing, name: str = "chart") -> str:
    """The drawing as an SVG element to put inline in a page (it scales with its viewBox).

    renderSVG names its clip path and group "clip" and "group": several charts on one page would share
    the first chart's clip, so each gets its own ids. The font is named as CSS knows it."""
    text = renderSVG.drawToString(drawing)
    text = text[max(0, text.find("<svg")) :]
    title = next((s.text for s in drawing.contents if isinstance(s, String)), "")
    text = text.replace("<title>...</title>", f"<title>{escape(title)}</title>", 1).replace(
        "<desc>...</desc>", "", 1
    )
    text = text.replace('id="clip"', f'id="clip-{name}"').replace("url(#clip)", f"url(#clip-{name})")
    text = text.replace('id="group"', f'id="group-{name}"')
    text = text.replace(
        "font-family: DejaVuSans-Bold;", "font-family: 'DejaVu Sans', Arial, sans-serif; font-weight: bold;"
    )
    text = text.replace("font-family: DejaVuSans;", "font-family: 'DejaVu Sans', Arial, sans-serif;")
    return _STYLE.sub(_presentation_attributes, text)


# The pages' Content-Security-Policy (style-src 'self') refuses style="" attributes, so renderSVG's
# inline styles become SVG presentation attributes (fill="...", font-size="..."), which it allows.
_STYLE = re.compile(r'style="([^"]*)"')


def _presentation_attributes(match: re.Match[str]) -> str:
    pairs = (part.split(":", 1) for part in match.group(1).split(";") if ":" in part)
    return " ".join(f'{key.strip()}="{escape(value.strip(), quote=True)}"' for key, value in pairs)
