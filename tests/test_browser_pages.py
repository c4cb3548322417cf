"""The inbox, a step and a case as a village office sees them: in each language, on a small laptop and a
phone, without JavaScript, by keyboard, with nothing fetched from outside, and the inbox under 100 KB."""

from __future__ import annotations

import re
from uuid import uuid4

import pytest
from sqlalchemy import select

from engine.platform.db import transaction
from engine.platform.models import HumanTask, User
from engine.runtime import cases
from tests.browser import (
    LAPTOP,
    PHONE,
    Clerk,
    LiveServer,
    bytes_over_the_wire,
    login,
    open_steps,
    screenshot,
    submit,
)
from tests.conftest import RECEPTION

pytestmark = pytest.mark.browser

INBOX_LIMIT_BYTES = 100 * 1024


def registered_case(server: LiveServer, username: str, *, claim: bool = False) -> int:
    """A case registered through the engine as `username`: reception and advice done, documents open."""
    with transaction(server.kz.sessions) as s:
        user = s.scalar(select(User).where(User.username == username))
        assert user is not None
        instance = cases.start_case(server.kz, s, user, "citizen_service")
        s.flush()
        steps = [
            ("D_02_reception", {**RECEPTION, "applicant_name": f"Асель Бекова {uuid4().int % 10_000:04d}"}),
            ("D_03_advise", {"documents_help_given": True}),
        ]
        for step_id, data in steps:
            task = s.scalar(
                select(HumanTask).where(
                    HumanTask.instance_id == instance.id,
                    HumanTask.status == "open",
                    HumanTask.step_id == step_id,
                )
            )
            assert task is not None
            cases.complete_task(server.kz, s, user, task.id, data, lang="ky")
            s.flush()
        if claim:
            task = s.scalar(
                select(HumanTask).where(HumanTask.instance_id == instance.id, HumanTask.status == "open")
            )
            assert task is not None
            cases.claim_task(server.kz, s, user, task.id)
        return instance.id


# Latin words a Kyrgyz page may show: the viewer's bpmn.io mark and "English" naming itself in the switcher.
LATIN_ALLOWED = {"BPMN", "bpmn", "English"}


@pytest.mark.parametrize("size", ["laptop", "phone"])
@pytest.mark.parametrize("lang", ["ky", "ru", "en"])
def test_inbox_task_and_case_pages_in_each_language(
    chromium: object, live_server: LiveServer, lang: str, size: str
) -> None:
    instance_id = registered_case(live_server, "operator")
    task = open_steps(live_server, instance_id)["D_06_check_documents"]
    clerk = Clerk(chromium, live_server, "operator", lang, LAPTOP if size == "laptop" else PHONE)
    page = clerk.page
    pages = {"inbox": "/", "task": f"/tasks/{task.id}", "case": f"/cases/{instance_id}"}
    for name, path in pages.items():
        page.goto(path)
        if name != "inbox":
            page.wait_for_selector(".diagram.drawn .djs-element.step-open")
        clerk.check_page()  # lang attribute, labels, landmarks, nothing wider than the window
        if lang == "ky":
            # No English leaking into the Kyrgyz interface (the diagram's own labels included).
            words = set(re.findall(r"[A-Za-z]{3,}", page.locator("body").inner_text()))
            assert words <= LATIN_ALLOWED, (name, words - LATIN_ALLOWED)
        screenshot(page, f"{name}-{lang}-{size}")
    clerk.close()  # every request went to the app itself, no script error, no CSP violation


def test_pages_work_without_javascript(chromium: object, live_server: LiveServer) -> None:
    """The viewer is the only script: without it the steps show as text and a step still gets done."""
    instance_id = registered_case(live_server, "operator")
    context = chromium.new_context(base_url=live_server.url, viewport=LAPTOP, java_script_enabled=False)
    page = context.new_page()
    login(page, "operator", "ky")
    task = open_steps(live_server, instance_id)["D_06_check_documents"]
    page.goto(f"/tasks/{task.id}")
    assert page.locator(".diagram").is_hidden()
    steps = page.locator("ol.steps li")
    assert steps.count() == 3
    assert "Документтерди" in steps.nth(2).inner_text() and "▶" in steps.nth(2).inner_text()
    # Every field shows (conditions are the script's job) and the server still decides.
    page.check("[name='documents_received'][value='application']")
    page.check("[name='documents_received'][value='id_document']")
    page.check("[name='documents_received'][value='house_book']")
    page.check("[name='documents_complete'][value='yes']")
    submit(page)
    assert "D_09_issue_receipt" in open_steps(live_server, instance_id)
    page.goto(f"/cases/{instance_id}")
    assert page.locator("table.list tbody tr").count() == 4
    context.close()


def test_keyboard_focus_is_visible(page: object) -> None:
    login(page, "operator", "ky")
    page.keyboard.press("Tab")
    focused = page.evaluate("""() => { const e = document.activeElement, s = getComputedStyle(e);
        const r = e.getBoundingClientRect();
        return {cls: e.className, outline: s.outlineStyle, width: parseFloat(s.outlineWidth), left: r.left}; }""")
    assert focused["cls"] == "skip" and focused["left"] >= 0  # "skip to content" appears first
    assert focused["outline"] != "none" and focused["width"] >= 2
    page.keyboard.press("Tab")
    assert page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle") != "none"


def test_inbox_with_30_tasks_is_under_100_kb(chromium: object, live_server: LiveServer) -> None:
    for _ in range(30):
        registered_case(live_server, "operator2", claim=True)  # Kyzyl-Adyr: nobody else works there
    context = chromium.new_context(base_url=live_server.url, viewport=LAPTOP)
    page = context.new_page()
    login(page, "operator2", "ky")
    total, sizes = bytes_over_the_wire(page, "/")
    assert page.locator(".tabs a.on .count").inner_text() == "30"
    assert page.locator("table.list tbody tr").count() == 25  # a page of 25, the rest behind the pager
    assert all(url.startswith(live_server.url) for url in sizes), sizes
    print(f"\ninbox with 30 tasks: {total} bytes over the wire: {sizes}")
    assert total < INBOX_LIMIT_BYTES, sizes
    screenshot(page, "inbox-30-tasks-ky")
    context.close()
