"""The inbox with more steps than a page: columns, sorting, filters, search, pages; claiming and handing a step
to a colleague; starting where one may; the case list's filters; and no English on any Kyrgyz page."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.accounts import users as accounts
from engine.demo.data import DEMO_PASSWORD
from engine.platform.models import AuditEvent, HumanTask, Municipality, ProcessInstance, User
from engine.runtime import cases
from engine.runtime.context import Kyzmat
from tests.conftest import RECEPTION
from tests.test_web import (
    ENGLISH_WORDS,
    RECEPTION_FORM,
    body_text,
    complete,
    html,
    login,
    start_case,
    task_id_of,
)
from tests.web_fixtures import *  # noqa: F403 - the fixtures app and frozen (autouse)

N_SADYRBAEV = 27  # more than a page (25)


def rows_of(page: str) -> list[list[str]]:
    """The inbox table's cells, as text, row by row."""
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in page else ""
    return [
        [body_text(c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)]
        for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


def client_for(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


@pytest.fixture
def inbox(kz: Kyzmat, session: Session, user: Callable[[str], User]) -> dict[str, Any]:
    """27 requests received in Sadyrbaev and 2 in Kyzyl-Adyr, each waiting at "advise", unclaimed, due on
    different days (some already late); and a clerk who works in both municipalities."""
    operator, operator2 = user("operator"), user("operator2")
    due = {}
    for i in range(N_SADYRBAEV + 2):
        actor = operator if i < N_SADYRBAEV else operator2
        inst = cases.start_case(kz, session, actor, "citizen_service")
        first = session.scalar(
            select(HumanTask.id).where(HumanTask.instance_id == inst.id, HumanTask.status == "open")
        )
        assert first is not None
        cases.complete_task(
            kz, session, actor, first, {**RECEPTION, "applicant_name": f"Арыз берүүчү {i:02d}"}
        )
        task = session.scalar(
            select(HumanTask).where(HumanTask.instance_id == inst.id, HumanTask.status == "open")
        )
        assert task is not None and task.step_id == "D_03_advise"
        cases.unclaim_task(kz, session, actor, task.id)
        # A due date per row (the read model's column), from 5 days late to 23 days ahead; every 4th is urgent.
        due[task.id] = kz.clock.now() + timedelta(days=(i * 7) % 29 - 5)
        session.execute(
            update(HumanTask)
            .where(HumanTask.id == task.id)
            .values(due_at=due[task.id], priority="high" if i % 4 == 0 else "normal")
        )
    accounts.create_user(
        session,
        username="clerk",
        password=DEMO_PASSWORD,
        full_name="Эки жерде",
        now=kz.clock.now(),
        grants=[("csc_operator", "sadyrbaev"), ("csc_operator", "kyzyl-adyr")],
    )
    accounts.create_user(
        session,
        username="operator3",
        password=DEMO_PASSWORD,
        full_name="Үчүнчү Оператор",
        now=kz.clock.now(),
        grants=[("csc_operator", "sadyrbaev")],
    )
    session.commit()
    home = operator.grants[0].municipality_id
    by_due = [tid for tid, _d in sorted(due.items(), key=lambda kv: kv[1])]
    return {
        "due": due,
        "now": kz.clock.now(),
        "sadyrbaev": [tid for tid in by_due if session.get(HumanTask, tid).municipality_id == home],
    }


def test_rows_are_sorted_by_due_date_and_paginated(
    app: Flask, inbox: dict[str, Any], session: Session
) -> None:
    client = client_for(app, "operator")
    page = html(client.get("/?view=available"))
    assert re.search(r'Менин ролума жеткиликтүү <span class="count">27</span>', page)
    first = rows_of(page)
    assert len(first) == 25
    # Each row: process, step, case, municipality, due date and working days, priority.
    process, step, case, municipality, due, priority = first[0]
    names = session.get(HumanTask, inbox["sadyrbaev"][0]).instance.version.names
    assert process == names["ky"] and step == "Маалымат жана кеп-кеңеш берүү"
    assert case.startswith("Арыз берүүчү") and municipality == "Д.Садырбаев айыл өкмөтү"
    assert "2026-ж." in due and "жумуш күнүнө кечикти" in due  # the first row is the latest
    assert priority in ("Кезексиз", "Кадимки")
    # The late row's colour marks its due-date cell, not another column.
    assert re.search(r'<tr class="late">(?:(?!</tr>).)*<td class="due">', page, flags=re.S)
    ids = [int(m) for m in re.findall(r'href="/tasks/(\d+)"', page)]
    expected = inbox["sadyrbaev"]  # by due date, soonest (most late) first
    assert len(expected) == N_SADYRBAEV
    assert ids == expected[:25]
    second = html(client.get("/?view=available&page=2"))
    assert [int(m) for m in re.findall(r'href="/tasks/(\d+)"', second)] == expected[25:]
    assert re.search(r'href="/\?[^"]*page=1[^"]*"', second) and 'aria-current="page">2</a>' in second
    # The pages keep the filters.
    filtered = html(client.get("/?view=available&q=берүүчү&sort=-due"))
    assert re.search(r'href="/\?(?=[^"]*sort=-due)(?=[^"]*q=)(?=[^"]*page=2)[^"]*"', filtered)


def test_sorting_by_other_columns_and_reversed(app: Flask, inbox: dict[str, Any], session: Session) -> None:
    client = client_for(app, "operator")
    newest_first = [
        int(m) for m in re.findall(r'href="/tasks/(\d+)"', html(client.get("/?view=available&sort=-due")))
    ]
    dates = [inbox["due"][t] for t in newest_first]
    assert dates == sorted(dates, reverse=True) and len(newest_first) == 25
    urgent_first = rows_of(html(client.get("/?view=available&sort=priority")))
    marks = [r[5] for r in urgent_first]
    # "high" sorts before "normal": the urgent rows (every 4th of 27 -> 7) come first.
    assert all(m == "Кезексиз" for m in marks[:7]) and all(m == "Кадимки" for m in marks[7:])
    # The header links toggle the direction and say which column is sorted.
    page = html(client.get("/?view=available&sort=priority"))
    assert 'aria-sort="ascending"' in page and "sort=-priority" in page


def test_search_by_applicant_name_and_by_receipt_number(app: Flask, inbox: dict[str, Any]) -> None:
    client = client_for(app, "operator")
    found = rows_of(html(client.get("/?view=available&q=берүүчү 07")))
    assert len(found) == 1 and "Арыз берүүчү 07" in found[0][2]
    # A request registered through the pages gets its journal number; search finds it by that number.
    task = start_case(client)
    nxt = task_id_of(complete(client, task, RECEPTION_FORM).headers["Location"])
    nxt = task_id_of(complete(client, nxt, {"documents_help_given": "yes"}).headers["Location"])
    client.post(
        f"/tasks/{nxt}",
        data={
            "documents_received": ["application", "id_document", "house_book"],
            "documents_complete": "yes",
            "action": "complete",
        },
    )
    mine = rows_of(html(client.get("/?view=mine")))
    numbers = [r[2].split()[0] for r in mine if r[2].startswith("DS")]
    assert len(numbers) == 1
    by_number = rows_of(html(client.get(f"/?view=mine&q={numbers[0].lower()}")))
    assert len(by_number) == 1 and by_number[0][2].startswith(numbers[0])
    assert rows_of(html(client.get("/?view=mine&q=DS-0000-nothing"))) == []


def test_filter_by_municipality_and_process(app: Flask, inbox: dict[str, Any], session: Session) -> None:
    clerk = client_for(app, "clerk")
    page = html(clerk.get("/?view=available"))
    assert '<label for="municipality">' in page  # two municipalities: the filter is offered
    ka = session.scalar(select(Municipality.id).where(Municipality.code == "kyzyl-adyr"))
    only_ka = rows_of(html(clerk.get(f"/?view=available&municipality={ka}")))
    assert len(only_ka) == 2 and {r[3] for r in only_ka} == {"Кызыл-Адыр айыл өкмөтү"}
    both = html(clerk.get(f"/?view=available&municipality={ka}&process=citizen_service&q=берүүчү 28"))
    assert len(rows_of(both)) == 1
    assert rows_of(html(clerk.get(f"/?view=available&municipality={ka}&process=other_process"))) == []
    # The operator of one municipality is not offered the filter, and cannot widen their view with it.
    operator = client_for(app, "operator")
    assert '<label for="municipality">' not in html(operator.get("/?view=available"))
    assert rows_of(html(operator.get(f"/?view=available&municipality={ka}"))) == []


def test_a_claimed_step_leaves_the_colleagues_list(
    app: Flask, inbox: dict[str, Any], session: Session
) -> None:
    operator, colleague = client_for(app, "operator"), client_for(app, "operator3")
    task_id = next(iter(inbox["due"]))
    assert f'href="/tasks/{task_id}"' in html(colleague.get("/?view=available&sort=-due")) + html(
        colleague.get("/?view=available")
    )
    assert operator.post(f"/tasks/{task_id}/claim").status_code == 302
    seen = html(colleague.get("/?view=available")) + html(colleague.get("/?view=available&page=2"))
    assert f'href="/tasks/{task_id}"' not in seen
    assert f'href="/tasks/{task_id}"' in html(operator.get("/?view=mine"))
    # The colleague opening it sees who has it and cannot complete it.
    page = body_text(html(colleague.get(f"/tasks/{task_id}")))
    assert "Айгүл Осмонова" in page


def test_handing_a_step_to_a_colleague_is_in_the_audit_trail(
    app: Flask, inbox: dict[str, Any], session: Session, user: Callable[[str], User]
) -> None:
    operator = client_for(app, "operator")
    task_id = next(iter(inbox["due"]))
    page = html(operator.get(f"/tasks/{task_id}"))
    offered = dict(
        (n, v)
        for v, n in re.findall(
            r'<option value="(\d+)">([^<]+)</option>',
            page.split('id="to_user"', 1)[1].split("</select>", 1)[0],
        )
    )
    # Only people with the same role in the same municipality: not operator2, not the head.
    assert set(offered) == {"Үчүнчү Оператор", "Эки жерде"}
    assert (
        operator.post(f"/tasks/{task_id}/reassign", data={"to_user": str(user("operator2").id)}).status_code
        == 403
    )
    assert (
        operator.post(f"/tasks/{task_id}/reassign", data={"to_user": str(user("head").id)}).status_code == 403
    )
    resp = operator.post(f"/tasks/{task_id}/reassign", data={"to_user": offered["Үчүнчү Оператор"]})
    assert resp.status_code == 302
    task = session.get(HumanTask, task_id)
    session.refresh(task)
    assert task.claimed_by_id == user("operator3").id
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "task_reassigned"))
    assert event is not None and event.actor_id == user("operator").id
    assert event.detail["after"] == user("operator3").id
    colleague = client_for(app, "operator3")
    assert f'href="/tasks/{task_id}"' in html(colleague.get("/?view=mine"))
    history = body_text(html(operator.get(f"/cases/{task.instance_id}")))
    assert "Кадам кесиптешке берилди · Айгүл Осмонова → Үчүнчү Оператор" in history
    # Now it is the colleague's: the operator can no longer hand it on.
    assert (
        operator.post(f"/tasks/{task_id}/reassign", data={"to_user": offered["Эки жерде"]}).status_code == 302
    )
    session.refresh(task)
    assert task.claimed_by_id == user("operator3").id


def test_start_asks_for_the_municipality_when_there_are_several(
    app: Flask, inbox: dict[str, Any], session: Session
) -> None:
    clerk = client_for(app, "clerk")
    page = html(clerk.get("/start"))
    assert '<label for="municipality-citizen_service">' in page
    ka = session.scalar(select(Municipality.id).where(Municipality.code == "kyzyl-adyr"))
    resp = clerk.post("/start/citizen_service", data={"municipality": str(ka)})
    assert resp.status_code == 302
    instance = session.scalar(select(ProcessInstance).order_by(ProcessInstance.id.desc()).limit(1))
    assert instance is not None and instance.municipality_id == ka
    # Without a choice the clerk is asked (a message, not an error page), and nothing is started.
    count = session.scalar(select(ProcessInstance.id).order_by(ProcessInstance.id.desc()).limit(1))
    resp = clerk.post("/start/citizen_service")
    assert resp.status_code == 302 and resp.headers["Location"] == "/start"
    assert session.scalar(select(ProcessInstance.id).order_by(ProcessInstance.id.desc()).limit(1)) == count
    # A municipality the operator does not work in is refused.
    operator = client_for(app, "operator")
    assert operator.post("/start/citizen_service", data={"municipality": str(ka)}).status_code == 403
    assert '<label for="municipality-citizen_service">' not in html(operator.get("/start"))


def test_case_list_filters(app: Flask, inbox: dict[str, Any], session: Session) -> None:
    clerk = client_for(app, "clerk")
    ka = session.scalar(select(Municipality.id).where(Municipality.code == "kyzyl-adyr"))
    page = html(clerk.get(f"/cases?municipality={ka}"))
    assert page.count('href="/cases/') == 2
    assert html(clerk.get("/cases?process=citizen_service&status=completed")).count('href="/cases/') == 0
    listed = html(clerk.get("/cases?overdue=1")) + html(clerk.get("/cases?overdue=1&page=2"))
    late = {session.get(HumanTask, t).instance_id for t, d in inbox["due"].items() if d < inbox["now"]}
    assert 0 < len(late) < N_SADYRBAEV
    assert {int(m) for m in re.findall(r'href="/cases/(\d+)"', listed)} == late
    operator = client_for(app, "operator")
    assert html(operator.get(f"/cases?municipality={ka}")).count('href="/cases/') == 0


KY_PAGES = [
    "/",
    "/?view=available",
    "/?view=overdue",
    "/cases",
    "/cases?overdue=1",
    "/start",
    "/tasks/{task}",
    "/cases/{case}",
]
ADMIN_PAGES = [
    "/admin/users",
    "/admin/users/new",
    "/admin/users/{user}",
    "/admin/municipalities",
    "/admin/municipalities/new",
    "/admin/municipalities/{muni}",
]
MORE_ENGLISH = [
    "Yes",
    "No",
    "Save",
    "Search",
    "Users",
    "Municipalities",
    "Region",
    "District",
    "Roles",
    "Active",
    "Attachments",
    "Keep",
    "Hand over",
    "Normal",
    "Taken by",
    "Name",
    "Code",
    "Kind",
    "Password",
    "Deactivate",
    "Administration",
    "National",
    "Process",
    "History",
    "Status",
    "No files",
]


def test_no_english_on_any_kyrgyz_page(
    app: Flask, inbox: dict[str, Any], session: Session, user: Callable[[str], User]
) -> None:
    task_id = next(iter(inbox["due"]))
    places = {
        "task": task_id,
        "case": session.get(HumanTask, task_id).instance_id,
        "user": user("operator").id,
        "muni": session.scalar(select(Municipality.id).where(Municipality.code == "sadyrbaev")),
    }
    for who, urls in (("operator", KY_PAGES), ("admin", ADMIN_PAGES + ["/", "/cases"])):
        client = client_for(app, who)
        for url in urls:
            resp = client.get(url.format(**places))
            assert resp.status_code == 200, url
            text = body_text(html(resp)).replace("English", "")  # the language switch names itself
            for word in ENGLISH_WORDS + MORE_ENGLISH:
                assert not re.search(rf"\b{re.escape(word)}\b", text), (who, url, word)
