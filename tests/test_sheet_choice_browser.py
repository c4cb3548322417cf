"""The administrator chooses a municipality's evaluation sheet in Chromium, in Kyrgyz and in Russian."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.citizens import evaluation
from engine.platform.models import Municipality
from tests.browser import LiveServer, accessibility_problems, login, screenshot

pytestmark = pytest.mark.browser


def _sheet(server: LiveServer, code: str) -> str:
    with server.kz.sessions() as s:
        row = s.scalar(select(Municipality).where(Municipality.code == code))
        assert row is not None
        return evaluation.sheet_variant(row)


@pytest.mark.parametrize(
    ("lang", "label", "saved"),
    [
        ("ky", "Толук баалоо баракчасы (2-вариант)", "full"),
        ("ru", "Краткий лист оценки (1-й вариант)", "short"),  # back to the demo's choice
    ],
)
def test_the_admin_chooses_the_sheet(
    page: object, live_server: LiveServer, lang: str, label: str, saved: str
) -> None:
    login(page, "admin", lang)
    page.goto("/admin/municipalities")
    page.click("tr:has-text('kyzyl-adyr') a")  # the row shows the code under the name
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == lang
    legend = {"ky": "Жарандар үчүн баалоо баракчасы", "ru": "Лист оценки для граждан"}[lang]
    assert page.locator("legend", has_text=legend).is_visible()
    assert accessibility_problems(page) == [], page.url
    screenshot(page, f"sheet-choice-municipality-{lang}")
    page.get_by_label(label).check()
    page.click("form.card button.primary")
    page.wait_for_load_state()
    assert page.get_by_label(label).is_checked()
    assert _sheet(live_server, "kyzyl-adyr") == saved
