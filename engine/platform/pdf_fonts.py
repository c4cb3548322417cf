"""The fonts every PDF uses: DejaVu Sans (shipped in `fonts/`, it covers the Kyrgyz letters ң, ө, ү)."""

from __future__ import annotations

import threading
from pathlib import Path

FONTS = Path(__file__).resolve().parent / "fonts"
_lock = threading.Lock()
_registered = False


def pdf_fonts() -> tuple[str, str]:
    """Register DejaVu Sans with reportlab once; return the regular and bold font names."""
    global _registered
    with _lock:
        if not _registered:
            from reportlab.pdfbase import pdfmetrics
            from reportlab.pdfbase.ttfonts import TTFont

            pdfmetrics.registerFont(TTFont("DejaVuSans", str(FONTS / "DejaVuSans.ttf")))
            pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", str(FONTS / "DejaVuSans-Bold.ttf")))
            _registered = True
    return "DejaVuSans", "DejaVuSans-Bold"
