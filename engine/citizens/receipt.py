"""The receipt (талон) of Process D: its facts, a QR code of the case's public status link, and a PDF.

The QR code comes from `segno` (pure Python, no image library needed for PNG); the PDF from
`reportlab` with the DejaVu Sans font shipped in engine/fonts, which covers Kyrgyz and Russian
Cyrillic (ң, ө, ү). Interface words are passed in by the caller, already in the reader's language.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import segno
from sqlalchemy.orm import Session

from engine.calendar.days import to_local_date
from engine.platform.errors import NotFound
from engine.platform.models import ProcessInstance, User
from engine.platform.pdf_fonts import pdf_fonts
from engine.runtime.cases import case_data
from engine.runtime.context import Kyzmat

__all__ = ["ReceiptData", "receipt_data", "status_url", "qr_png", "qr_data_uri", "receipt_pdf", "PAPERS"]

PAPERS = ("a5", "roll")


def status_url(kz: Kyzmat, instance: ProcessInstance) -> str:
    """The public status link printed on the receipt (KYZMAT_BASE_URL + /s/<token>)."""
    return f"{kz.settings.base_url.rstrip('/')}/s/{instance.public_token}"


@dataclass
class ReceiptData:
    municipality_names: dict[str, str]
    number: str
    registered_on: date
    service_names: dict[str, str]
    documents: list[dict[str, str]]
    result_due: date | None
    operator_name: str
    status_url: str
    extra: dict[str, Any] = field(default_factory=dict)


def receipt_data(kz: Kyzmat, session: Session, instance: ProcessInstance) -> ReceiptData:
    """The receipt's facts; NotFound for a case that was not registered (it has no receipt)."""
    data = case_data(kz, session, instance)
    registration = data.get("registration") or {}
    if not registration.get("number"):
        raise NotFound("This case has no receipt.")
    code = data.get("service_code", "")
    service = kz.catalogue.get(code) if code in kz.catalogue else None
    labels = {
        d.get("value"): d.get("label") for d in data.get("required_documents", []) if isinstance(d, dict)
    }
    documents = [labels.get(c) or {"ky": str(c)} for c in data.get("documents_received", [])]
    starter = session.get(User, instance.started_by_id) if instance.started_by_id else None
    return ReceiptData(
        municipality_names=dict(instance.municipality.names) if instance.municipality else {},
        number=str(registration["number"]),
        registered_on=to_local_date(registration["registered_at"]),
        service_names=dict(service.names) if service else {"ky": str(code)},
        documents=[d if isinstance(d, dict) else {"ky": str(d)} for d in documents],
        result_due=to_local_date(data["result_due"]) if data.get("result_due") else None,
        operator_name=starter.full_name if starter else str(data.get("started_by", "")),
        status_url=status_url(kz, instance),
    )


def _qr(url: str) -> segno.QRCode:
    return segno.make_qr(url, error="m")


def qr_png(url: str, scale: int = 4) -> bytes:
    out = io.BytesIO()
    _qr(url).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def qr_data_uri(url: str, scale: int = 4) -> str:
    """An inline PNG, so the printed page needs no second request."""
    return _qr(url).png_data_uri(scale=scale, border=4)


# --- PDF --------------------------------------------------------------------------------------------


def _pick(names: dict[str, str], lang: str) -> str:
    return names.get(lang) or names.get("ky") or next(iter(names.values()), "")


def receipt_pdf(
    receipt: ReceiptData, words: dict[str, str], lang: str, *, paper: str = "a5", format_date: Any = None
) -> bytes:
    """The receipt as PDF on A5 or an 80 mm receipt-printer roll.

    ``words`` holds the interface labels in the reader's language (keys: title, municipality_suffix,
    number, registered, service, documents, result_date, operator, status_link, responsibility).
    ``format_date`` turns a date into text (defaults to DD.MM.YYYY).
    """
    from xml.sax.saxutils import escape

    from reportlab.lib.pagesizes import A5
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Image, ListFlowable, ListItem, Paragraph, SimpleDocTemplate, Spacer

    if paper not in PAPERS:
        raise ValueError(f"paper is one of {PAPERS}")
    regular, bold = pdf_fonts()
    fmt = format_date or (lambda d: d.strftime("%d.%m.%Y"))
    roll = paper == "roll"
    size = 8.5 if roll else 10.5
    base = ParagraphStyle("base", fontName=regular, fontSize=size, leading=size * 1.3)
    label = ParagraphStyle("label", parent=base, fontSize=size * 0.85, textColor="#555555", spaceBefore=4)
    value = ParagraphStyle("value", parent=base, fontName=bold)
    big = ParagraphStyle("big", parent=value, fontSize=size * 1.5, leading=size * 1.8)
    title = ParagraphStyle("title", parent=big, alignment=1)
    small = ParagraphStyle("small", parent=base, fontSize=size * 0.8, leading=size)

    def para(text: str, style: ParagraphStyle) -> Paragraph:
        return Paragraph(escape(text), style)

    story: list[Any] = [
        para(words["title"], title),
        para(f"{_pick(receipt.municipality_names, lang)} — {words['municipality_suffix']}", base),
        para(words["number"], label),
        para(receipt.number, big),
        para(words["registered"], label),
        para(fmt(receipt.registered_on), value),
        para(words["service"], label),
        para(_pick(receipt.service_names, lang), value),
        para(words["documents"], label),
        ListFlowable(
            [ListItem(para(_pick(d, lang), base), leftIndent=10) for d in receipt.documents],
            bulletType="bullet",
            bulletFontName=regular,
            leftIndent=10,
        ),
        para(words["result_date"], label),
        para(fmt(receipt.result_due) if receipt.result_due else "—", big),
        para(words["operator"], label),
        para(receipt.operator_name, value),
        Spacer(1, 3 * mm),
    ]
    qr_side = (32 if roll else 38) * mm
    story += [
        Image(io.BytesIO(qr_png(receipt.status_url, scale=8)), width=qr_side, height=qr_side),
        para(words["status_link"], small),
        para(receipt.status_url, small),
        Spacer(1, 2 * mm),
        para(words["responsibility"], small),
    ]
    if roll:
        width, margin = 80 * mm, 4 * mm
        pagesize = (width, 230 * mm + 6 * mm * len(receipt.documents))
    else:
        pagesize, margin = A5, 10 * mm
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=pagesize,
        leftMargin=margin,
        rightMargin=margin,
        topMargin=margin,
        bottomMargin=margin,
        title=f"{words['title']} {receipt.number}",
        author="Kyzmat",
    )
    doc.build(story)
    return out.getvalue()
