"""The monitoring dashboards in Chromium over a generated demo year: the ministry downloads the final
report; the council sees its own CSC. Screenshots in Kyrgyz and Russian go to var/screenshots/."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader

from engine.demo import history as demo_history
from tests.browser import LiveServer, login, screenshot

pytestmark = pytest.mark.browser
YEAR = 2025


@pytest.fixture(scope="module")
def demo_year(live_server: LiveServer) -> Iterator[int]:
    kz = live_server.kz
    with kz.sessions() as session:
        demo_history.generate(kz, session, year=YEAR, count=80, seed=11)
        session.commit()
    yield YEAR
    with kz.sessions() as session:
        demo_history.remove(kz, session)
        session.commit()


def test_ministry_downloads_the_final_report(page, live_server: LiveServer, demo_year: int) -> None:
    login(page, "ministry", "ky")
    page.get_by_role("link", name="Мониторинг").click()
    page.get_by_role("heading", name="Кызмат көрсөтүүлөрдүн сапатынын мониторинги").wait_for()
    assert page.locator("figure.chart svg").count() == 5
    assert page.locator("#municipalities tbody tr").count() == 3
    screenshot(page, "analytics-ministry-ky")
    with page.expect_download() as info:
        page.get_by_role("link", name="Жыйынтыктоочу доклад (PDF)").click()
    download = info.value
    assert download.suggested_filename == f"monitoring-{demo_year}-ky.pdf"
    body = Path(download.path()).read_bytes()
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(body)).pages).split())
    assert "Муниципалдык кызмат көрсөтүүлөрдүн сапатына мониторинг жүргүзүүнүн жыйынтыктары" in text
    assert "Тиркеме: мониторингдин суроолоруна берилген жооптордун маалымат базасы" in text
    page.click("button[lang='ru']")
    page.get_by_role("heading", name="Мониторинг качества услуг").wait_for()
    page.select_option("#quarter", "2")
    page.get_by_role("button", name="Показать").click()
    page.get_by_text("2-квартал").first.wait_for()
    screenshot(page, "analytics-ministry-q2-ru")


@pytest.mark.parametrize("lang", ["ky", "ru"])
def test_council_dashboard(page, live_server: LiveServer, demo_year: int, lang: str) -> None:
    login(page, "council", lang)
    page.goto(f"/analytics/?year={demo_year}")
    assert page.locator("figure.chart svg").count() == 5
    assert page.locator("#municipality").count() == 0  # one municipality: nothing to choose
    assert page.get_by_text("Кызыл-Адыр").count() == 0
    screenshot(page, f"analytics-council-{lang}")
    response = page.goto(f"/analytics/?year={demo_year}&municipality=2")
    assert response is not None and response.status == 403
