"""In Chromium: a clerk sees the bell count rise when a reminder comes due, opens the list and reads it."""

from __future__ import annotations

from datetime import datetime, time

import pytest
from sqlalchemy import select

from engine.calendar.days import BISHKEK, to_local_date
from engine.deadlines import reminders
from engine.platform.db import transaction
from engine.platform.models import HumanTask, User
from engine.runtime import cases
from tests.browser import login, screenshot
from tests.conftest import RECEPTION

pytestmark = pytest.mark.browser


def forwarded_case(kz) -> HumanTask:
    """A citizen's request registered now; its D_10_forward step is the operator's, due tomorrow."""
    steps = [
        ("D_02_reception", RECEPTION),
        ("D_03_advise", {"documents_help_given": True}),
        (
            "D_06_check_documents",
            {"documents_received": ["application", "id_document", "house_book"], "documents_complete": True},
        ),
        ("D_09_issue_receipt", {"receipt_handed_over": True}),
    ]
    with transaction(kz.sessions) as s:
        operator = s.scalar(select(User).where(User.username == "operator"))
        instance = cases.start_case(kz, s, operator, "citizen_service")
        for step_id, data in steps:
            task = s.scalar(
                select(HumanTask).where(
                    HumanTask.instance_id == instance.id,
                    HumanTask.step_id == step_id,
                    HumanTask.status == "open",
                )
            )
            cases.complete_task(kz, s, operator, task.id, data)
        forward = s.scalar(
            select(HumanTask).where(HumanTask.instance_id == instance.id, HumanTask.step_id == "D_10_forward")
        )
        assert forward.claimed_by_id == operator.id and forward.due_at is not None
        return forward


def bell_count(page) -> int:
    return int(page.locator("#bell-count").inner_text())


@pytest.mark.parametrize("lang", ["ky", "ru"])
def test_clerk_sees_the_bell_rise_and_reads_the_reminder(page, live_server, lang):
    kz = live_server.kz
    forward = forwarded_case(kz)
    login(page, "operator", lang)
    before = bell_count(page)
    # The due day, 10:00 in Bishkek: the worker's reminder job runs (the clock is injected).
    due_day = datetime.combine(to_local_date(forward.due_at), time(10), tzinfo=BISHKEK)
    with transaction(kz.sessions) as s:
        assert reminders.send_due_reminders(kz, s, due_day) >= 1
    page.reload()
    assert bell_count(page) == before + 1
    screenshot(page, f"bell-{lang}")
    page.click("#bell")
    row = page.locator("#notifications tr.unread", has=page.locator(f"a[href='/tasks/{forward.id}']"))
    assert row.count() == 1
    assert ("Бүгүн бүтөт" if lang == "ky" else "Срок сегодня") in row.inner_text()
    screenshot(page, f"notifications-{lang}")
    row.get_by_role("button").click()
    page.wait_for_load_state()
    assert bell_count(page) == before
    assert (
        page.locator("#notifications tr.unread", has=page.locator(f"a[href='/tasks/{forward.id}']")).count()
        == 0
    )
