"""Process D through the pages in headless Chromium: each role logs in and does its part of a citizen's
request, from reception to the result, in Kyrgyz (the aiyl okmotu path) and in Russian (a state body).
Between steps each role's inbox is checked; every page is checked for labels, external requests and
script errors, and screenshots are saved under var/screenshots/ for a person to look at."""

from __future__ import annotations

import re
from datetime import timedelta
from uuid import uuid4

import pytest

from engine.calendar.days import to_local_date
from tests.browser import (
    LAPTOP,
    Clerk,
    LiveServer,
    accessibility_problems,
    fill_form,
    instance_of,
    long_date,
    open_steps,
    screenshot,
    submit,
    today,
)

pytestmark = pytest.mark.browser

M2_DOCUMENTS = ["application", "id_document", "house_book"]
S2_DOCUMENTS = ["application", "medical_birth", "id_document", "marriage_certificate"]
PROCESS_NAME = {"ky": "ККБда жаранга кызмат көрсөтүү", "ru": "Обслуживание гражданина в ЦОН"}
FINISHED = {"ky": "Аяктады", "ru": "Завершено"}


TOO_EARLY = {"ky": "Бул күн {d} күнүнөн эрте боло албайт.", "ru": "Дата не может быть раньше {d}."}


def hand_over_too_early_is_refused(clerk: Clerk, lang: str, data: dict[str, object]) -> None:
    """Not before the registration date (today): the date picker starts there, and a date before
    it that reaches the server anyway comes back with the reason, as it was entered."""
    page, too_early = clerk.page, (today() - timedelta(days=1)).isoformat()
    date_input = page.locator("input[name=handed_over_on]")
    assert date_input.get_attribute("min") == today().isoformat()
    fill_form(page, {**data, "handed_over_on": too_early})
    assert date_input.evaluate("e => e.validity.rangeUnderflow")  # Chromium itself will not send it
    date_input.evaluate("e => e.removeAttribute('min')")  # a browser that does not check: the server does
    submit(page)
    error = page.locator("#handed_over_on-error").inner_text()
    assert error == TOO_EARLY[lang].format(d=today().strftime("%d.%m.%Y")), error
    assert page.locator("input[name=handed_over_on]").input_value() == too_early
    assert page.locator("input[name=outcome][value=document]").is_checked()
    screenshot(page, f"task-{lang}-hand-over-too-early")
    assert clerk.seen.errors == [
        "Failed to load resource: the server responded with a status of 422 (UNPROCESSABLE ENTITY)"
    ]  # the refused post, as it should be
    clerk.seen.errors.clear()


def reception(applicant: str, service_code: str) -> dict[str, object]:
    return {
        "applicant_name": applicant,
        "village": "Кара-Булак",
        "remote_village": False,
        "is_representative": False,
        "appeal_form": "written",
        "service_code": service_code,
    }


def register(
    clerk: Clerk,
    applicant: str,
    service_code: str,
    documents: list[str],
    extra: dict[str, object] | None = None,
    shots: str = "",
) -> tuple[int, str]:
    """The operator's part up to the receipt: reception, advice, documents, receipt. Returns case and number."""
    page = clerk.page
    page.goto("/start")
    clerk.check_page()
    if shots:
        screenshot(page, f"start-{shots}")
    submit(page, "form[action$='/start/citizen_service'] button")
    instance_id = instance_of(page)
    clerk.at_step(instance_id, "D_02_reception")
    if shots:
        screenshot(page, f"task-{shots}")
    clerk.complete(reception(applicant, service_code))
    clerk.at_step(instance_id, "D_03_advise")
    clerk.complete({"documents_help_given": True})
    clerk.at_step(instance_id, "D_06_check_documents")
    clerk.complete({"documents_received": documents, "documents_complete": True, **(extra or {})})
    clerk.at_step(instance_id, "D_09_issue_receipt")
    number = page.locator(".crumbs a").inner_text().rsplit("·", 1)[1].strip()
    assert re.fullmatch(r"DS-\d{4}-\d{5}", number), number

    # The receipt the citizen takes home: number, documents, the result date from the Kyrgyz calendar.
    page.goto(f"/cases/{instance_id}/receipt")
    text = page.locator("body").inner_text()
    term = clerk.server.kz.catalogue.get(service_code).standard_term_days
    result_day = clerk.server.kz.calendar().add_working_days(today(), term)
    assert number in text and long_date(result_day, clerk.lang) in text
    assert "Айгүл Осмонова" in text  # the operator who registered it
    assert page.locator("dd ul li").count() == len(documents)
    assert accessibility_problems(page) == []
    if shots:
        screenshot(page, f"receipt-{shots}")
    page.go_back()
    page.goto(page.url)

    clerk.complete({"receipt_handed_over": True})
    clerk.at_step(instance_id, "D_10_forward")
    forward_due = to_local_date(open_steps(clerk.server, instance_id)["D_10_forward"].due_at)
    assert forward_due == clerk.server.kz.calendar().next_working_day(
        today()
    )  # "no later than the next working day"
    return instance_id, number


def test_a_citizens_request_through_every_role_in_kyrgyz(chromium: object, live_server: LiveServer) -> None:
    applicant = f"Асель Бекова {uuid4().hex[:6]}"
    operator = Clerk(chromium, live_server, "operator", "ky", LAPTOP)
    instance_id, number = register(operator, applicant, "M2", M2_DOCUMENTS, shots="ky")
    operator.complete({"forwarded_to": "Айыл өкмөтүнүн катчысы"})
    # Nothing more for the operator now: the case page, the file with the specialist.
    assert operator.page.url.endswith(f"/cases/{instance_id}")
    assert FINISHED["ky"] not in operator.page.locator("dl.facts").inner_text()
    assert operator.inbox_rows("available", number) == []

    specialist = Clerk(chromium, live_server, "specialist", "ky", LAPTOP)
    [row] = specialist.inbox_rows("available", number)
    prepare = open_steps(live_server, instance_id)["D_11_prepare_municipal"]
    result_day = live_server.kz.calendar().add_working_days(today(), 3)
    assert to_local_date(prepare.due_at) == result_day  # the result is due on the receipt's date
    assert prepare.names["ky"] in row and applicant in row and long_date(result_day, "ky") in row
    screenshot(specialist.page, "inbox-ky")
    specialist.open_from_inbox("available", number)
    specialist.at_step(instance_id, "D_11_prepare_municipal")
    specialist.page.wait_for_selector(".diagram.drawn .djs-element.step-open")
    screenshot(specialist.page, "task-ky-specialist")
    specialist.complete({"outcome": "document", "document_number": "142", "result_transferred_to_csc": True})
    assert specialist.page.url.endswith(f"/cases/{instance_id}")
    assert specialist.inbox_rows("available", number) == []
    assert len(specialist.inbox_rows("done", number)) == 1

    [row] = operator.inbox_rows("available", number)
    assert open_steps(live_server, instance_id)["D_13_hand_over"].names["ky"] in row
    operator.open_from_inbox("available", number)
    operator.at_step(instance_id, "D_13_hand_over")
    hand_over_too_early_is_refused(
        operator, "ky", {"outcome": "document", "result_handed_over": True, "evaluation_sheet_offered": True}
    )
    operator.complete(
        {
            "outcome": "document",
            "result_handed_over": True,
            "handed_over_on": today().isoformat(),
            "evaluation_sheet_offered": True,
        }
    )
    page = operator.page
    assert page.url.endswith(f"/cases/{instance_id}")
    assert FINISHED["ky"] in page.locator("dl.facts").inner_text()
    # The diagram: every step the case went through ticked, none current.
    page.wait_for_selector(".diagram.drawn")
    done = page.locator(".djs-element.step-done").evaluate_all("els => els.map(e => e.dataset.elementId)")
    assert set(done) == {
        "D_02_reception",
        "D_03_advise",
        "D_06_check_documents",
        "D_09_issue_receipt",
        "D_10_forward",
        "D_11_prepare_municipal",
        "D_13_hand_over",
    }
    assert page.locator(".djs-element.step-open").count() == 0
    operator.check_page()
    screenshot(page, "case-ky")
    for clerk in (operator, specialist):
        clerk.close()


def test_a_state_body_walk_in_russian(chromium: object, live_server: LiveServer) -> None:
    """A birth registered through the CSC under an agreement (AMB-C16): the ZAGS officer prepares the result."""
    service = live_server.kz.catalogue.get("S2")
    service.csc_mode = "intake_and_forward"
    try:
        applicant = f"Айбек Садыков {uuid4().hex[:6]}"
        operator = Clerk(chromium, live_server, "operator", "ru", LAPTOP)
        instance_id, number = register(
            operator,
            applicant,
            "S2",
            S2_DOCUMENTS,
            extra={"identity_confirmed": True, "entitlement_confirmed": True},
            shots="ru",
        )
        operator.complete({"forwarded_to": "ЗАГС"})

        zags = Clerk(chromium, live_server, "zags", "ru", LAPTOP)
        [row] = zags.inbox_rows("available", number)
        step = open_steps(live_server, instance_id)["D_11_prepare_state"]
        assert step.names["ru"] in row and long_date(to_local_date(step.due_at), "ru") in row
        screenshot(zags.page, "inbox-ru")
        specialist = Clerk(chromium, live_server, "specialist", "ru", LAPTOP)
        assert specialist.inbox_rows("available", number) == []  # a state body's step, not the aiyl okmotu's
        zags.open_from_inbox("available", number)
        zags.at_step(instance_id, "D_11_prepare_state")
        zags.complete({"outcome": "document", "document_number": "ТК-77", "result_transferred_to_csc": True})

        operator.open_from_inbox("available", number)
        operator.at_step(instance_id, "D_13_hand_over")
        operator.page.wait_for_selector(".diagram.drawn .djs-element.step-open")
        screenshot(operator.page, "task-ru-hand-over")
        hand_over_too_early_is_refused(
            operator,
            "ru",
            {"outcome": "document", "result_handed_over": True, "evaluation_sheet_offered": False},
        )
        operator.complete(
            {
                "outcome": "document",
                "result_handed_over": True,
                "handed_over_on": today().isoformat(),
                "evaluation_sheet_offered": False,
            }
        )
        assert FINISHED["ru"] in operator.page.locator("dl.facts").inner_text()
        operator.page.wait_for_selector(".diagram.drawn")
        screenshot(operator.page, "case-ru")
        for clerk in (operator, zags, specialist):
            clerk.close()
    finally:
        service.csc_mode = "consult_only"
