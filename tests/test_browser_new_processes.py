"""The first task pages of Processes A, B, C, E and CSC monitoring as their users see them, in Kyrgyz and
Russian: every input labelled, no English on a Kyrgyz page, nothing wider than the window, the diagram
drawn. Screenshots go to var/screenshots/ for a person to look at. D_06's conditional refusal reason is
checked with the page's own script."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from engine.platform.db import transaction
from engine.platform.models import HumanTask, User
from engine.runtime import cases
from tests.browser import LAPTOP, Clerk, LiveServer, open_steps, screenshot
from tests.test_browser_pages import LATIN_ALLOWED, registered_case

pytestmark = pytest.mark.browser

# English interface words a Kyrgyz page must not show (Flask/Werkzeug pages, untranslated templates).
ENGLISH_WORDS = {
    "Inbox",
    "Cases",
    "Start",
    "Save",
    "Complete",
    "Step",
    "Steps",
    "History",
    "Attachments",
    "Required",
    "required",
    "Yes",
    "No",
    "Due",
    "Status",
    "Role",
    "Log",
    "out",
    "Not",
    "Found",
    "draft",
    "Draft",
    "Submit",
    "Choose",
    "file",
    "Add",
    "row",
    "Remove",
    "Open",
    "Done",
}

CHOOSE = {"ky": {"Файлды тандаңыз", "Файлдарды тандаңыз"}, "ru": {"Выберите файл", "Выберите файлы"}}

# (process, start event, starter, steps: (step id, who does it, data to complete it with after the look)).
WALKS: dict[str, tuple[str | None, str, list[tuple[str, str, dict[str, Any] | None]]]] = {
    "additional_list": (
        "A_01_I1_kurultai",
        "specialist",
        [
            (
                "A_01_receive",
                "specialist",
                {
                    "type": "formation",
                    "initiator": "Кара-Булак айылынын чогулушу",
                    "document_kind": "protocol",
                    "documents": ["att-0001"],
                    "proposed_services": "Окуучуларды мектепке ташуу",
                },
            ),
            (
                "A_03_focus_groups",
                "specialist",
                {
                    "participant_groups": ["consumers", "women"],
                    "focus_group_results": "Муктаждыктар аныкталды",
                    "focus_group_protocol": "att-0002",
                },
            ),
            ("A_04_preliminary_list", "specialist", None),
        ],
    ),
    "list_dispute": (
        None,
        "council",
        [
            (
                "B_02_register_complaint",
                "council",
                {
                    "claimant_kind": "citizen",
                    "claimant_name": "Нурлан Абдыкадыров",
                    "application_received_on": "2026-11-16",
                    "complaint_about": "decision",
                    "respondent": "aiyl_okmotu",
                    "ground": "not_included_without_reasons",
                    "service_name": "Жайкы жайыттарды пайдалануу",
                    "complaint_summary": "Кызмат тизмеге кошулган жок.",
                },
            ),
            (
                "B_03_seek_agreement",
                "council",
                {
                    "interested_parties": "Арыз ээси; айыл өкмөтү",
                    "measures_taken": "Сүйлөшүү өткөрүлдү.",
                    "parties_invited": True,
                },
            ),
            ("B_04_consider_dispute", "council", None),
        ],
    ),
    "csc_establishment": (
        None,
        "head",
        [
            ("C_00_launch", "head", {"launch_order_number": "47", "launch_order_date": "2026-11-16"}),
            ("C_01_submit_draft", "head", {"submitted_on": "2026-11-18"}),
            ("C_02_council_decision", "council", None),
        ],
    ),
    "quality_monitoring": (
        None,
        "monitoring",
        [
            (
                "E_01_prepare_list",
                "monitoring",
                {
                    "monitoring_objects": [
                        {"service_name": "Үй китебинен көчүрмө берүү", "object_kind": "individual"}
                    ]
                },
            ),
            (
                "E_02_approve_list",
                "ministry",
                {"approved_on": "2026-04-10", "approval_reference": "Буйрук №45"},
            ),
            ("E_03_send_list", "monitoring", None),
        ],
    ),
    "csc_monitoring": (
        None,
        "council",
        [
            (
                "CSC_MON_01_collect_sheets",
                "council",
                {
                    "period_from": "2026-01-01",
                    "period_to": "2026-05-31",
                    "sheets_short": 40,
                    "sheets_full": 12,
                    "answers_fully_satisfied": 120,
                    "answers_partially_satisfied": 30,
                    "answers_not_satisfied": 5,
                    "answers_difficult_to_answer": 3,
                    "unfounded_actions_yes": 1,
                    "corruption_yes": 0,
                    "ngos": [{"name": "«Аймак» коомдук бирикмеси"}],
                    "village_head_engaged": True,
                },
            ),
            ("CSC_MON_02_summarise", "council", {"results_summary": "Жарандардын 76% толук канааттанат"}),
            ("CSC_MON_03_council_session", "council", None),
        ],
    ),
}


def start(server: LiveServer, process_id: str) -> int:
    start_event, username, _ = WALKS[process_id]
    with transaction(server.kz.sessions) as s:
        user = s.scalar(select(User).where(User.username == username))
        assert user is not None
        kwargs = {"start_event": start_event} if start_event else {}
        return cases.start_case(server.kz, s, user, process_id, **kwargs).id


def finish_step(
    server: LiveServer, instance_id: int, step_id: str, username: str, data: dict[str, Any]
) -> None:
    with transaction(server.kz.sessions) as s:
        user = s.scalar(select(User).where(User.username == username))
        task = s.scalar(
            select(HumanTask).where(
                HumanTask.instance_id == instance_id, HumanTask.step_id == step_id, HumanTask.status == "open"
            )
        )
        assert user is not None and task is not None
        if step_id == "E_01_prepare_list":
            data = {"monitoring_year": task.created_at.year, **data}
        cases.complete_task(server.kz, s, user, task.id, data, lang="ky")


def page_text(page: Any) -> str:
    """The page's text without the lists of attached files: file names are data (like an
    applicant's name), e.g. the monitoring report PDFs the system attaches to Process E."""
    return page.locator("body").evaluate(
        "b => { const c = b.cloneNode(true); c.querySelectorAll('ul.files, .filename').forEach(e => e.remove());"
        " return c.textContent; }"
    )


def latin_words(text: str) -> set[str]:
    """Latin words on the page, beyond the allowed marks and Roman numerals (the III quarter, section III)."""
    return {w for w in re.findall(r"[A-Za-z]{3,}", text) if not re.fullmatch(r"[IVX]+", w)} - LATIN_ALLOWED


@pytest.mark.parametrize("lang", ["ky", "ru"])
@pytest.mark.parametrize("process_id", sorted(WALKS))
def test_first_task_pages_read_in_the_users_language(
    chromium: object, live_server: LiveServer, process_id: str, lang: str
) -> None:
    instance_id = start(live_server, process_id)
    clerks: dict[str, Clerk] = {}
    try:
        for n, (step_id, username, data) in enumerate(WALKS[process_id][2], 1):
            if username not in clerks:
                clerks[username] = Clerk(chromium, live_server, username, lang, LAPTOP)
            clerk = clerks[username]
            task = open_steps(live_server, instance_id)[step_id]
            clerk.page.goto(f"/tasks/{task.id}")
            clerk.page.wait_for_selector(".diagram.drawn .djs-element.step-open")
            clerk.at_step(instance_id, step_id)  # title in the language, due date, labels, lang, no overflow
            text = page_text(clerk.page)
            if lang == "ky":
                assert not latin_words(text), (step_id, latin_words(text))
            else:
                assert not latin_words(text) & ENGLISH_WORDS, (step_id, latin_words(text) & ENGLISH_WORDS)
            # File fields: our button in the user's language (the browser's own says "Choose File").
            for pick in clerk.page.locator("label.file-pick").all():
                if pick.evaluate("e => !e.closest('[hidden]')"):  # not in a field its condition hides
                    assert pick.is_visible() and pick.inner_text() in CHOOSE[lang], step_id
            if step_id == "A_01_receive":
                clerk.page.set_input_files(
                    "[name='documents']",
                    files=[
                        {
                            "name": "protokol.pdf",
                            "mimeType": "application/pdf",
                            "buffer": b"%PDF-1.4\n%%EOF\n",
                        }
                    ],
                )
                assert clerk.page.locator("[name='documents'] ~ .file-names").inner_text() == "protokol.pdf"
            screenshot(clerk.page, f"new-{process_id}-{n}-{step_id}-{lang}")
            if data is not None:
                finish_step(live_server, instance_id, step_id, username, data)
        clerk.page.goto(f"/cases/{instance_id}")
        clerk.check_page()
        if lang == "ky":
            assert not latin_words(page_text(clerk.page))
        screenshot(clerk.page, f"new-{process_id}-case-{lang}")
    finally:
        for clerk in clerks.values():
            clerk.close()


def test_d06_refusal_reason_and_its_mark_show_only_on_a_no(chromium: object, live_server: LiveServer) -> None:
    instance_id = registered_case(live_server, "operator")
    task = open_steps(live_server, instance_id)["D_06_check_documents"]
    clerk = Clerk(chromium, live_server, "operator", "ky", LAPTOP)
    page = clerk.page
    page.goto(f"/tasks/{task.id}")
    reason = page.locator("[data-show-if]").filter(has=page.locator("[name='refusal_reason']"))
    mark = reason.locator(".req")
    assert reason.is_hidden() and mark.is_hidden()
    page.check("[name='documents_complete'][value='yes']")
    assert reason.is_hidden()
    for answer in ("documents_complete", "identity_confirmed", "entitlement_confirmed"):
        page.check(f"[name='{answer}'][value='no']")
        assert reason.is_visible() and mark.is_visible(), answer
        page.check(f"[name='{answer}'][value='yes']")
        assert reason.is_hidden(), answer
    screenshot(page, "d06-reason-hidden-ky")
    clerk.close()
