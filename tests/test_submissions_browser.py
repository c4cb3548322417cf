"""A citizen in Chromium: a written complaint with an attachment in Kyrgyz, the receipt, the status link;
the initiative form and the notice board's draft list, in Kyrgyz and Russian."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select

from engine.platform.models import ProcessInstance, User
from engine.runtime import attachments
from tests.browser import LiveServer, screenshot
from tests.test_board_draft import decide_and_refuse, to_notification
from tests.test_process_a_scenarios import BUS, Walk
from tests.test_submissions import PDF

pytestmark = pytest.mark.browser


def test_citizen_complains_with_an_attachment_in_kyrgyz_and_follows_the_status_link(
    page, live_server: LiveServer, tmp_path: Path
) -> None:
    scan = tmp_path / "арыз.pdf"
    scan.write_bytes(PDF)
    page.goto("/complaint?lang=ky")
    assert page.locator("html").get_attribute("lang") == "ky"
    page.get_by_role("heading", name="Кошумча тизме боюнча даттануу").wait_for()
    # Sent empty first: the messages are in Kyrgyz and nothing is started.
    page.get_by_role("button", name="Жөнөтүү").click()
    page.get_by_text("Белгиленген талааларды оңдоңуз.").wait_for()
    assert page.locator("#name-error").inner_text() == "Бул талааны толтуруңуз."
    screenshot(page, "submissions-complaint-errors-ky")
    page.select_option("#municipality", "sadyrbaev")
    page.get_by_label("Жаран").check()
    page.fill("#name", "Асель Бекова")
    page.fill("#contact", "+996 555 123 456")
    page.fill("#service_name", "Окуучуларды мектепке ташуу")
    page.fill("#text", "Айыл өкмөтү кызматты себебин көрсөтпөстөн Кошумча тизмеге киргизген жок.")
    page.set_input_files("#files", str(scan))
    screenshot(page, "submissions-complaint-ky")
    page.get_by_role("button", name="Жөнөтүү").click()
    page.get_by_text("Арызыңыз кабыл алынды.").wait_for()
    screenshot(page, "submissions-receipt-ky")
    link = page.locator(".receipt-qr a.link")
    href = link.get_attribute("href")
    assert href is not None and "/s/" in href
    # The receipt's QR code is the status link.
    png = page.locator(".receipt-qr img").get_attribute("src")
    assert png is not None and png.startswith("data:image/png;base64,")
    [code] = zxingcpp.read_barcodes(Image.open(io.BytesIO(base64.b64decode(png.split(",", 1)[1]))))
    assert code.text == href
    page.goto(href.replace(live_server.kz.settings.base_url.rstrip("/"), ""))
    page.get_by_text("Арызыңыз жергиликтүү кеңешке келип түштү жана катталууда.").wait_for()
    body = page.locator("main").inner_text()
    assert "Асель" not in body and "555" not in body and "арыз.pdf" not in body
    screenshot(page, "submissions-status-ky")
    page.get_by_role("link", name="Русский").click()
    page.get_by_text("Ваша жалоба поступила в местный кенеш и регистрируется.").wait_for()
    screenshot(page, "submissions-status-ru")
    token = href.rsplit("/", 1)[1]
    page.goto(f"/s/{token}/receipt?lang=ru")
    page.get_by_text("Ваша жалоба принята.").wait_for()
    screenshot(page, "submissions-receipt-ru")
    with live_server.kz.sessions() as session:
        case = session.scalar(select(ProcessInstance).where(ProcessInstance.public_token == token))
        assert case is not None and case.process_id == "list_dispute" and case.started_by_id is None
        [row] = attachments.for_case(session, case.id)
        assert (row.filename, row.content_type) == ("арыз.pdf", "application/pdf")


def test_initiative_form_and_the_draft_list_on_the_board_in_both_languages(
    page, live_server: LiveServer
) -> None:
    kz = live_server.kz
    with kz.sessions() as session:
        walk = Walk(kz, session, lambda name: session.scalar(select(User).where(User.username == name)))
        to_notification(walk)
        decide_and_refuse(walk)
        session.commit()
    for lang, heading in (
        ("ky", "Кошумча тизмеге кызмат сунуштоо"),
        ("ru", "Предложить услугу для Дополнительного перечня"),
    ):
        page.goto(f"/initiative?lang={lang}&m=kyzyl-adyr")
        page.get_by_role("heading", name=heading).wait_for()
        assert page.locator("#municipality").input_value() == "kyzyl-adyr"
        screenshot(page, f"submissions-initiative-{lang}")
        page.goto(f"/board/sadyrbaev?lang={lang}")
        page.locator("#draft-list table").get_by_text(BUS).wait_for()
        screenshot(page, f"submissions-board-draft-{lang}")
    page.goto("/complaint?lang=ru")
    screenshot(page, "submissions-complaint-ru")
