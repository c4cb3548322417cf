"""A process owner changes a deadline in the browser modeler and publishes it; old cases keep their
due date, new cases get the new one, the deadline register shows the new rule, and the publication
is in the audit trail.

The issue's scenario: Process C (csc_establishment), the council's review deadline
(C_02_council_decision_due, `add_working_days(submitted_on, 5)`) becomes seven working days.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from babel.dates import format_date
from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.calendar.days import to_local_date
from engine.definitions import drafts
from engine.definitions import history as versions
from engine.platform.db import transaction
from engine.platform.models import HumanTask, ProcessInstance, User
from engine.runtime import cases
from tests.browser import login, screenshot, today

pytestmark = pytest.mark.browser

PROCESS_ID = "csc_establishment"
TIMER_ID = "C_02_council_decision_due"
TASK_ID = "C_02_council_decision"  # the step the timer is attached to: its due date is the timer's
OLD_WORKING_DAYS = 5
NEW_WORKING_DAYS = 7
NOTE = "Кеңештин кароо мөөнөтү 7 жумушчу күн (токтом №12)"


def open_task(session: Session, instance_id: int, step_id: str) -> HumanTask:
    return session.scalar(
        select(HumanTask).where(
            HumanTask.instance_id == instance_id, HumanTask.step_id == step_id, HumanTask.status == "open"
        )
    )


def start_and_reach_the_deadline(
    session: Session, kz, user: Callable[[str], User], submitted_on: date
) -> int:
    """Start a Process C case as the aiyl okmotu head and submit the draft decision to the council."""
    head = user("head")
    instance = cases.start_case(kz, session, head, PROCESS_ID)
    for step, data in (
        ("C_00_launch", {"launch_order_number": "47", "launch_order_date": submitted_on.isoformat()}),
        ("C_01_submit_draft", {"submitted_on": submitted_on.isoformat()}),
    ):
        cases.complete_task(kz, session, head, open_task(session, instance.id, step).id, data, lang="en")
    assert open_task(session, instance.id, TASK_ID) is not None
    return instance.id


def due_of(session: Session, instance_id: int) -> date:
    task = session.scalar(
        select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.step_id == TASK_ID)
    )
    return to_local_date(task.due_at)


def version_of(session: Session, instance_id: int) -> int:
    return session.get(ProcessInstance, instance_id).version.number


def runner(kz) -> Callable:
    """run(fn): fn(session, user) in a committed transaction of the live server's database."""

    def run(fn):
        with transaction(kz.sessions) as session:

            def user(name: str) -> User:
                return session.scalar(select(User).where(User.username == name))

            return fn(session, user)

    return run


def restore(kz, before_version: int) -> None:
    """Leave the shared live database as shipped for the browser tests that follow."""

    def back(s, u):
        if drafts.get_draft(s, PROCESS_ID) is not None:
            drafts.discard_draft(s, u("owner"), PROCESS_ID, now=kz.clock.now())
        if versions.history(s, PROCESS_ID)[0].number != before_version:
            versions.rollback(
                kz, s, u("owner"), PROCESS_ID, before_version, "browser test: back to the shipped rules"
            )

    runner(kz)(back)


def open_in_editor(page, element_id: str, lang: str = "ky") -> None:
    """Log the owner in, open Process C in the modeler and select `element_id`."""
    login(page, "owner", lang)
    page.goto(f"/processes/{PROCESS_ID}/edit")
    page.wait_for_selector("body[data-editor-ready='1']")
    page.click(f"g.djs-element[data-element-id='{element_id}']", force=True)


def test_owner_changes_a_deadline_and_publishes_it(page, live_server):
    kz = live_server.kz
    cal = kz.calendar()
    submitted_on = today()
    run = runner(kz)

    before_version = run(lambda s, u: versions.history(s, PROCESS_ID)[0].number)
    old_case = run(lambda s, u: start_and_reach_the_deadline(s, kz, u, submitted_on))
    old_due = run(lambda s, u: due_of(s, old_case))
    assert old_due == cal.add_working_days(submitted_on, OLD_WORKING_DAYS)
    try:
        open_in_editor(page, TIMER_ID)
        page.wait_for_selector("#timer-rule")
        assert page.input_value("#timer-rule") == "working" and page.input_value("#timer-n") == str(
            OLD_WORKING_DAYS
        )
        assert "беш жумушчу күн" in page.input_value("#timer-rule-ky")  # the shipped rule in words
        page.fill("#timer-n", str(NEW_WORKING_DAYS))
        # The name and the rule in words follow the new count; the owner sees them before applying.
        expect(page.locator("#timer-rules-note")).to_be_visible()
        assert f"{NEW_WORKING_DAYS} жумушчу күн ичинде" in page.input_value("#timer-rule-ky")
        assert f"{NEW_WORKING_DAYS} рабочих дней" in page.input_value("#timer-rule-ru")
        assert page.input_value("#prop-name-ky") == f"{NEW_WORKING_DAYS} жумушчу күн ичинде"
        page.fill("#timer-start", "2026-12-01")
        page.click("#timer-preview")
        expected_preview = cal.add_working_days(date(2026, 12, 1), NEW_WORKING_DAYS)
        # expect() polls without eval, which the pages' CSP (script-src 'self') forbids
        expect(page.locator(".timer .preview-box")).to_contain_text(
            format_date(expected_preview, format="long", locale="ky")
        )
        page.click("#timer-apply")
        screenshot(page, "editor-timer-ky")

        page.click("#btn-validate")
        page.wait_for_selector("#results:not([hidden]) .preview-box, #results:not([hidden]) p.error")
        assert page.locator("#results .problem:not(.note)").count() == 0

        page.fill("#publish-note", NOTE)
        page.click("#btn-publish")
        page.wait_for_url(f"**/processes/{PROCESS_ID}/versions")
        new_version = before_version + 1
        audit = page.locator("ol.audit").text_content()
        assert NOTE in audit and "Чынара Мамытова" in audit
        assert (
            page.locator("table.versions tbody tr").first.text_content().strip().startswith(str(new_version))
        )
        screenshot(page, "editor-versions-ky")

        page.goto(f"/processes/{PROCESS_ID}/diff?old={before_version}&new={new_version}")
        assert TIMER_ID in page.locator(".deadlines").text_content()
        assert f", {NEW_WORKING_DAYS})" in page.locator(".deadlines ins").text_content()
        screenshot(page, "editor-diff-ky")

        new_case = run(lambda s, u: start_and_reach_the_deadline(s, kz, u, submitted_on))
        new_due = run(lambda s, u: due_of(s, new_case))
        assert new_due == cal.add_working_days(submitted_on, NEW_WORKING_DAYS)
        assert run(lambda s, u: due_of(s, old_case)) == old_due != new_due
        assert run(lambda s, u: (version_of(s, old_case), version_of(s, new_case))) == (
            before_version,
            new_version,
        )

        # What people see on the case pages.
        page.goto(f"/cases/{old_case}")
        assert format_date(old_due, format="long", locale="ky") in page.locator("table.list").text_content()
        page.goto(f"/cases/{new_case}")
        assert format_date(new_due, format="long", locale="ky") in page.locator("table.list").text_content()

        # The old case may move to the new version: the preview shows its council deadline moving (not done here).
        page.goto(f"/processes/{PROCESS_ID}/versions")
        page.click(f"tr[data-case='{old_case}'] a.button")
        assert page.locator(f"tr[data-element='{TASK_ID}'][data-change='changed']").count() == 1
        assert format_date(new_due, format="long", locale="ky") in page.locator("table.moves").text_content()
        screenshot(page, "editor-move-ky")

        # The deadline register lists the new rule, in Kyrgyz and in Russian.
        page.goto("/processes/deadlines")
        row = page.locator(f"tr[data-timer='{TIMER_ID}']")
        assert f"{NEW_WORKING_DAYS} жумушчу күн ичинде" in row.locator("td.rule").text_content()
        assert f"add_working_days(submitted_on, {NEW_WORKING_DAYS})" in row.text_content()
        screenshot(page, "editor-register-ky")

        # The editor in Russian, with the problems of a broken deadline next to the element.
        login(page, "owner", "ru")
        page.goto("/processes/deadlines")
        assert (
            f"В течение {NEW_WORKING_DAYS} рабочих дней"
            in page.locator(f"tr[data-timer='{TIMER_ID}'] td.rule").text_content()
        )
        screenshot(page, "editor-register-ru")
        page.goto(f"/processes/{PROCESS_ID}/versions")
        assert page.locator(f"tr[data-case='{old_case}']").count() == 1
        screenshot(page, "editor-versions-ru")
        page.goto(f"/processes/{PROCESS_ID}/edit")
        page.wait_for_selector("body[data-editor-ready='1']")
        page.click(f"g.djs-element[data-element-id='{TIMER_ID}']", force=True)
        page.select_option("#timer-rule", "custom")
        page.fill("#timer-expr", "add_working_days(no_such_field, 7)")
        page.click("#timer-apply")
        page.click("#btn-validate")
        page.wait_for_selector(f"#results .problem[data-element='{TIMER_ID}']")
        assert "Пробный прогон" in page.locator("#results").text_content()
        assert page.locator(f"g.djs-element.kz-problem[data-element-id='{TIMER_ID}']").count() == 1
        page.fill("#publish-note", "сломанный срок")
        page.click("#btn-publish")
        page.wait_for_selector("#editor-status:has-text('отказано')")
        screenshot(page, "editor-refused-ru")
        assert run(lambda s, u: versions.history(s, PROCESS_ID)[0].number) == new_version
    finally:
        restore(kz, before_version)


def test_reminder_settings_edited_in_the_editor_drive_the_reminders_of_new_cases(page, live_server):
    """Reminders one working day before the due date, no escalation: set in the properties form, checked as
    publication checks them, published, and followed by the reminder engine for a new case."""
    from engine.deadlines import reminders
    from engine.platform.models import Notification

    kz = live_server.kz
    cal = kz.calendar()
    run = runner(kz)

    before_version = run(lambda s, u: versions.history(s, PROCESS_ID)[0].number)
    try:
        open_in_editor(page, TASK_ID)
        page.wait_for_selector("#prop-reminders")
        page.fill("#prop-reminders", "бир күн мурун")
        page.press("#prop-reminders", "Tab")
        expect(page.locator("#reminder-check.error")).to_contain_text(
            "Эскертүүлөр"
        )  # in Kyrgyz, not the loader's English
        page.fill("#publish-note", "эскертүү туура эмес")
        page.click("#btn-publish")
        page.wait_for_selector(f"#results .problem[data-element='{TASK_ID}']")
        assert "эскертүү жөндөөлөрү туура эмес" in page.locator("#results").text_content()
        assert run(lambda s, u: versions.history(s, PROCESS_ID)[0].number) == before_version
        screenshot(page, "editor-reminders-refused-ky")

        page.fill("#prop-reminders", "-1")
        page.press("#prop-reminders", "Tab")
        page.fill("#prop-escalate-after", "none")
        page.press("#prop-escalate-after", "Tab")
        expect(page.locator("#reminder-check.preview-box")).to_contain_text("-1")
        screenshot(page, "editor-reminders-ky")
        page.fill("#publish-note", "Кеңешке эскертүү мөөнөттөн бир жумушчу күн мурун, эскалациясыз")
        page.click("#btn-publish")
        page.wait_for_url(f"**/processes/{PROCESS_ID}/versions")
        version = run(lambda s, u: versions.history(s, PROCESS_ID)[0])
        assert version.number == before_version + 1
        props = run(lambda s, u: versions.history(s, PROCESS_ID)[0].info["elements"][TASK_ID]["properties"])
        assert (props["reminders"], props["escalate_after"]) == ("-1", "none")

        case = run(lambda s, u: start_and_reach_the_deadline(s, kz, u, today()))
        task_id = run(lambda s, u: open_task(s, case, TASK_ID).id)
        due = cal.add_working_days(today(), OLD_WORKING_DAYS)
        hour = kz.settings.reminder_hour

        def remind_on(day: date) -> list[str]:
            from datetime import datetime, time

            from engine.calendar.days import BISHKEK

            moment = datetime.combine(day, time(hour, 30), tzinfo=BISHKEK)
            run(lambda s, u: reminders.send_due_reminders(kz, s, moment))
            return run(
                lambda s, u: sorted(
                    s.scalars(select(Notification.kind).where(Notification.task_id == task_id))
                )
            )

        assert remind_on(reminders.reminder_day(cal, due, -2)) == []  # the default two-day reminder is gone
        kinds = remind_on(reminders.reminder_day(cal, due, -1))
        assert kinds and set(kinds) == {"before_1"}  # the council is reminded one working day before
        after = remind_on(reminders.reminder_day(cal, due, 3))
        assert "escalation" not in after and not any(k.startswith("overdue") for k in after)
    finally:
        restore(kz, before_version)


def test_the_form_dialog_checks_the_schema_live_and_previews_the_task_page(page, live_server):
    """The owner edits the council's help text about the deadline in the JSON Schema; a typing slip is shown
    at once in the owner's language, nothing typed is lost, and the preview renders like the task page."""
    kz = live_server.kz
    before_version = runner(kz)(lambda s, u: versions.history(s, PROCESS_ID)[0].number)
    try:
        open_in_editor(page, "C_01_submit_draft", "ru")
        page.click("#form-open")
        expect(page.locator("#form-dialog")).to_be_visible()
        expect(page.locator("#form-path")).to_have_text(f"{PROCESS_ID}/C_01_submit_draft.json")
        expect(page.locator("#form-preview")).to_contain_text(
            "Дата внесения на рассмотрение кенеша"
        )  # in Russian
        text = page.input_value("#form-text")
        assert "пять рабочих дней" in text
        broken = text.replace('"type": "object"', '"type": "objekt"', 1)
        page.fill("#form-text", broken)
        expect(page.locator("#form-check .error").first).to_contain_text("ошибки")
        assert page.input_value("#form-text") == broken  # the owner's text stays as typed
        screenshot(page, "editor-form-error-ru")
        page.fill("#form-text", text.replace("пять рабочих дней", "семь рабочих дней"))
        expect(page.locator("#form-check .preview-box")).to_be_visible()
        expect(page.locator("#form-preview")).to_contain_text("семь рабочих дней")
        screenshot(page, "editor-form-ru")
        page.click("#form-keep")
        expect(page.locator("#form-dialog")).to_be_hidden()
        page.click("#btn-save")
        expect(page.locator("#editor-status")).to_contain_text("Черновик сохранён")
        saved = runner(kz)(lambda s, u: drafts.get_draft(s, PROCESS_ID).forms)
        help_ru = saved[f"{PROCESS_ID}/C_01_submit_draft.json"]["properties"]["submitted_on"]["x-help"]["ru"]
        assert "семь рабочих дней" in help_ru
    finally:
        restore(kz, before_version)


def test_only_process_owners_reach_the_editor(page):
    login(page, "operator", "ky")
    response = page.goto(f"/processes/{PROCESS_ID}/edit")
    assert response.status == 403
    response = page.request.post(f"/processes/{PROCESS_ID}/draft", data={"xml": "<x/>", "forms": {}})
    assert response.status in (400, 403)
