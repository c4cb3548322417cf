"""The live server answers and Chromium renders its login page, in Kyrgyz by default."""

import pytest

from tests.browser import login, screenshot

pytestmark = pytest.mark.browser


def test_login_and_inbox_render_in_chromium(page):
    page.goto("/login")
    assert page.locator("html").get_attribute("lang") == "ky"
    login(page, "operator", "ru")
    assert page.locator("html").get_attribute("lang") == "ru"
    assert "/login" not in page.url
    assert page.get_by_role("button", name="Выйти").is_visible()
    screenshot(page, "smoke-inbox-ru")
