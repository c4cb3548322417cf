"""A citizen in Chromium: the receipt, the status page by its link, the full evaluation sheet in Kyrgyz."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.platform.models import EvaluationSheet, ProcessInstance, User
from tests.browser import LiveServer, login, screenshot
from tests.citizens_support import hand_over, registered_case

pytestmark = pytest.mark.browser


def make_case(live_server: LiveServer, *, served: bool) -> ProcessInstance:
    kz = live_server.kz
    with kz.sessions() as session:
        walk = registered_case(
            kz, session, lambda name: session.scalar(select(User).where(User.username == name))
        )
        instance = hand_over(walk) if served else walk.instance
        session.commit()
        assert instance is not None
        return instance


def test_citizen_fills_in_the_full_sheet_in_kyrgyz_from_the_status_page(
    page, live_server: LiveServer
) -> None:
    case = make_case(live_server, served=True)
    page.goto(f"/s/{case.public_token}?lang=ky")
    assert page.locator("html").get_attribute("lang") == "ky"
    page.get_by_text("Жыйынтык сизге берилди.").wait_for()
    screenshot(page, "citizens-status-served-ky")
    page.get_by_role("link", name="Кызматты баалоо").click()
    page.get_by_text("4-тиркеме. 2-вариант (Толук)").wait_for()
    assert page.get_by_text(
        "Сунушталган жооптордун варианттарын желекче (галочка) менен белгилеп койсоңуз:"
    ).is_visible()
    # the follow-up questions stay hidden until "Ооба" is chosen
    assert not page.locator("input[name=unfounded_kinds]").first.is_visible()
    page.fill("#age", "41")
    page.check("input[name=gender][value=male]")
    page.check("input[name=health_limitations][value=no]")
    for q in ("q1_schedule", "q2_premises", "q3_queue", "q5_competence", "q6_politeness", "q7_overall"):
        page.check(f"input[name={q}][value=fully_satisfied]")
    page.check("input[name=q4_time][value=not_satisfied]")
    page.check("input[name=q8_information][value=hard_to_answer]")
    page.check("input[name=unfounded_actions][value=yes]")
    page.get_by_label("Расмий эмес кезек уюштурууга;").check()
    page.check("input[name=corruption][value=no]")
    screenshot(page, "citizens-sheet-full-ky")
    page.get_by_role("button", name="Баалоону жөнөтүү").click()
    page.get_by_text("Баалоо баракчасын толтурганыңызга ырахмат!").wait_for()
    screenshot(page, "citizens-thanks-ky")
    with live_server.kz.sessions() as session:
        rows = [r for r in session.scalars(select(EvaluationSheet)) if r.answers.get("age") == 41]
    assert len(rows) == 1
    assert rows[0].answers["q4_time"] == "not_satisfied"
    assert rows[0].answers["unfounded_kinds"] == ["unofficial_queue"]
    # back on the status page the sheet is no longer offered
    page.get_by_role("link", name="Ишиңиздин абалына кайтуу").click()
    page.get_by_text("Ырахмат: баалоо баракчаңыз кабыл алынды.").wait_for()
    assert page.get_by_role("link", name="Кызматты баалоо").count() == 0


def test_status_page_and_sheet_in_russian(page, live_server: LiveServer) -> None:
    waiting = make_case(live_server, served=False)
    page.goto(f"/s/{waiting.public_token}")
    page.get_by_role("link", name="Русский").click()
    page.get_by_text("Результат готовится.").wait_for()
    screenshot(page, "citizens-status-ru")
    page.get_by_role("link", name="Кыргызча").click()
    page.get_by_text("Жыйынтык даярдалууда.").wait_for()
    screenshot(page, "citizens-status-ky")
    served = make_case(live_server, served=True)
    page.goto(f"/s/{served.public_token}/evaluation?lang=ru")
    page.get_by_text("Приложение 4. Вариант 2 (полный)").wait_for()
    screenshot(page, "citizens-sheet-full-ru")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "citizens-sheet-full-ru-phone")


@pytest.mark.parametrize("lang", ["ky", "ru"])
def test_receipt_prints_with_its_qr_code(page, live_server: LiveServer, lang: str) -> None:
    case = make_case(live_server, served=False)
    login(page, "operator", lang)
    page.goto(f"/cases/{case.id}/receipt")
    qr = page.locator(".receipt-qr img")
    assert qr.evaluate("img => img.naturalWidth") > 100
    screenshot(page, f"citizens-receipt-{lang}")
    page.goto(f"/cases/{case.id}/receipt?paper=roll")
    screenshot(page, f"citizens-receipt-roll-{lang}")
