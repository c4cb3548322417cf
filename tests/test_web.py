"""The pages through Flask's test client, against the rolled-back `kz` runtime."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import webapp
from engine.demo.data import DEMO_PASSWORD
from engine.platform.models import HumanTask, ProcessInstance
from engine.runtime.context import Kyzmat

REQUIRED_KY = "Бул талааны толтуруу милдеттүү."
WRONG_LOGIN_KY = "Колдонуучунун аты же сырсөз туура эмес."
FORBIDDEN_KY = "Сизге муну көрүүгө же аткарууга уруксат жок."

RECEPTION_FORM = {
    "applicant_name": "Асель Бекова",
    "village": "Кара-Булак",
    "remote_village": "no",
    "is_representative": "no",
    "appeal_form": "written",
    "service_code": "M2",
}


class _Text(HTMLParser):
    """The text a reader sees: character data outside <script> and <style>."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def body_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    body = " ".join(parser.parts)
    return re.sub(r"\s+", " ", body)


def html(resp: Any) -> str:
    return resp.get_data(as_text=True)


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    """Wed 18 Nov 2026, 16:00 in Bishkek."""
    with time_machine.travel(datetime(2026, 11, 18, 10, 0, tzinfo=UTC), tick=False):
        yield


@pytest.fixture
def app(kz: Kyzmat) -> Flask:
    return webapp.create_app({"TESTING": True, "WTF_CSRF_ENABLED": False}, kyzmat=kz)


def login(client: FlaskClient, username: str, password: str = DEMO_PASSWORD) -> Any:
    return client.post("/login", data={"username": username, "password": password})


@pytest.fixture
def operator(app: Flask) -> FlaskClient:
    client = app.test_client()
    resp = login(client, "operator")
    assert resp.status_code == 302
    return client


def task_id_of(location: str) -> int:
    match = re.fullmatch(r"(?:http://localhost)?/tasks/(\d+)", location)
    assert match, location
    return int(match.group(1))


def start_case(client: FlaskClient) -> int:
    resp = client.post("/start/citizen_service")
    assert resp.status_code == 302, html(resp)
    return task_id_of(resp.headers["Location"])


def complete(client: FlaskClient, task_id: int, form: dict[str, Any]) -> Any:
    page = client.get(f"/tasks/{task_id}")
    assert page.status_code == 200
    lock = re.search(r'name="lock_version" value="(\d+)"', html(page))
    assert lock
    return client.post(
        f"/tasks/{task_id}", data={**form, "lock_version": lock.group(1), "action": "complete"}
    )


def case_of(session: Session, task_id: int) -> int:
    instance_id = session.scalar(select(HumanTask.instance_id).where(HumanTask.id == task_id))
    assert instance_id is not None
    return instance_id


# --- logging in ------------------------------------------------------------------------------------


def test_login_page_is_kyrgyz(app: Flask) -> None:
    resp = app.test_client().get("/login")
    assert resp.status_code == 200
    page = html(resp)
    assert '<html lang="ky">' in page
    assert "Кирүү" in body_text(page)
    assert "Колдонуучунун аты" in body_text(page)


def test_pages_need_a_login(app: Flask) -> None:
    client = app.test_client()
    resp = client.get("/")
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/login")
    assert client.post("/start/citizen_service").status_code == 302


def test_wrong_password_is_told_in_kyrgyz(app: Flask) -> None:
    client = app.test_client()
    resp = login(client, "operator", "wrong-password")
    assert resp.status_code == 401
    page = html(resp)
    assert WRONG_LOGIN_KY in body_text(page)
    assert 'value="operator"' in page  # the username is kept, the password is not
    assert "wrong-password" not in page
    assert client.get("/").status_code == 302  # still not logged in


def test_login_and_logout(app: Flask) -> None:
    client = app.test_client()
    resp = login(client, "operator")
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/"
    inbox = client.get("/")
    assert inbox.status_code == 200
    assert "Айгүл Осмонова" in body_text(html(inbox))
    resp = client.post("/logout")
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/login"
    after = client.get("/login")
    assert "Сиз системадан чыктыңыз." in body_text(html(after))
    assert client.get("/").status_code == 302


def test_login_does_not_redirect_off_site(app: Flask) -> None:
    client = app.test_client()
    resp = client.post(
        "/login?next=//evil.example/", data={"username": "operator", "password": DEMO_PASSWORD}
    )
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/"


# --- a case through the pages ------------------------------------------------------------------------


def test_start_redirects_to_the_first_step_with_kyrgyz_labels(
    operator: FlaskClient, session: Session
) -> None:
    task_id = start_case(operator)
    assert session.scalar(select(HumanTask.step_id).where(HumanTask.id == task_id)) == "D_02_reception"
    resp = operator.get(f"/tasks/{task_id}")
    assert resp.status_code == 200
    text = body_text(html(resp))
    assert "Арыз берүүчүнү кабыл алуу" in text  # the step
    assert "Арыз берүүчүнүн аты-жөнү" in text  # field labels
    assert "Кайрылуунун түрү" in text
    assert "Жазуу жүзүндө" in text  # an option label
    assert "Кадамды аяктоо" in text  # the button
    assert "Applicant's full name" not in text
    assert "ФИО заявителя" not in text


def test_empty_required_fields_get_kyrgyz_errors_and_keep_typed_values(
    operator: FlaskClient, session: Session
) -> None:
    task_id = start_case(operator)
    resp = complete(operator, task_id, {"applicant_name": "Асель Бекова", "applicant_phone": "0555 123 456"})
    assert resp.status_code == 422
    page = html(resp)
    assert "Белгиленген талааларды оңдоңуз." in body_text(page)
    # The message sits beside its field and the field points at it.
    assert re.search(r'aria-describedby="[^"]*village-error[^"]*"', page)
    assert f'<p class="error" id="village-error" role="alert">{REQUIRED_KY}</p>' in page
    assert f'<p class="error" id="appeal_form-error" role="alert">{REQUIRED_KY}</p>' in page
    assert 'id="applicant_name-error"' not in page
    # What the user typed is still there.
    assert re.search(r'id="applicant_name" name="applicant_name"[^>]*value="Асель Бекова"', page)
    assert re.search(r'id="applicant_phone" name="applicant_phone"[^>]*value="0555 123 456"', page)
    # Nothing was applied.
    task = session.get(HumanTask, task_id)
    assert task is not None and task.status == "open"


def test_a_valid_submit_moves_on(operator: FlaskClient, session: Session) -> None:
    task_id = start_case(operator)
    resp = complete(operator, task_id, RECEPTION_FORM)
    assert resp.status_code == 302
    following = task_id_of(resp.headers["Location"])
    assert session.scalar(select(HumanTask.step_id).where(HumanTask.id == following)) == "D_03_advise"
    page = operator.get(resp.headers["Location"])
    assert "Кадам аткарылды." in body_text(html(page))
    assert session.scalar(select(HumanTask.status).where(HumanTask.id == task_id)) == "completed"
    # Posting the finished step again does not complete it twice.
    again = complete(operator, following, {"documents_help_given": "yes"})
    assert again.status_code == 302
    # A second submit of the finished step (back button) says someone finished it and shows the case.
    stale = operator.post(f"/tasks/{task_id}", data={**RECEPTION_FORM, "action": "complete"})
    assert stale.status_code == 302
    assert stale.headers["Location"] == f"/cases/{case_of(session, task_id)}"
    shown = body_text(html(operator.get(stale.headers["Location"])))
    assert "Бул кадамды башка бирөө мурун аткарды же алды." in shown
    finished = body_text(html(operator.get(f"/tasks/{task_id}")))
    assert "Бул кадам аткарылып бүткөн." in finished
    assert "Бул кадам сизге таандык эмес." not in finished
    completed = session.scalars(
        select(HumanTask.step_id).where(
            HumanTask.instance_id == case_of(session, task_id), HumanTask.status == "completed"
        )
    ).all()
    assert sorted(completed) == ["D_02_reception", "D_03_advise"]


def test_switching_to_russian(operator: FlaskClient) -> None:
    task_id = start_case(operator)
    resp = operator.post("/lang/ru", data={"next": f"/tasks/{task_id}"})
    assert resp.status_code == 302
    assert resp.headers["Location"] == f"/tasks/{task_id}"
    page = html(operator.get(f"/tasks/{task_id}"))
    assert '<html lang="ru">' in page
    text = body_text(page)
    assert "ФИО заявителя" in text
    assert "Форма обращения" in text
    assert "Арыз берүүчүнүн аты-жөнү" not in text
    resp = complete(operator, task_id, {"applicant_name": "Асель"})
    assert resp.status_code == 422
    assert '<p class="error" id="village-error" role="alert">Обязательное поле.</p>' in html(resp)
    # The choice is kept for the next login.
    operator.post("/logout")
    login(operator, "operator")
    assert '<html lang="ru">' in html(operator.get("/"))


def test_unknown_language_is_404(operator: FlaskClient) -> None:
    assert operator.post("/lang/xx").status_code == 404


def test_other_municipality_is_refused(app: Flask, operator: FlaskClient, session: Session) -> None:
    task_id = start_case(operator)
    instance_id = case_of(session, task_id)
    other = app.test_client()
    assert login(other, "operator2").status_code == 302
    for url in (f"/tasks/{task_id}", f"/cases/{instance_id}", f"/cases/{instance_id}/receipt"):
        resp = other.get(url)
        assert resp.status_code == 403, url
        assert FORBIDDEN_KY in body_text(html(resp))
    resp = other.post(f"/tasks/{task_id}", data={**RECEPTION_FORM, "action": "complete"})
    assert resp.status_code == 403
    assert session.scalar(select(HumanTask.status).where(HumanTask.id == task_id)) == "open"


def test_receipt_after_checking_the_documents(operator: FlaskClient, session: Session) -> None:
    task_id = start_case(operator)
    instance_id = case_of(session, task_id)
    assert operator.get(f"/cases/{instance_id}/receipt").status_code == 404  # nothing registered yet
    nxt = task_id_of(complete(operator, task_id, RECEPTION_FORM).headers["Location"])
    nxt = task_id_of(complete(operator, nxt, {"documents_help_given": "yes"}).headers["Location"])
    check = operator.get(f"/tasks/{nxt}")
    assert "Тапшырылган документтер" in body_text(html(check))
    resp = operator.post(
        f"/tasks/{nxt}",
        data={
            "documents_received": ["application", "id_document", "house_book"],
            "documents_complete": "yes",
            "action": "complete",
        },
    )
    assert resp.status_code == 302
    nxt = task_id_of(resp.headers["Location"])
    assert session.scalar(select(HumanTask.step_id).where(HumanTask.id == nxt)) == "D_09_issue_receipt"

    case_page = html(operator.get(f"/cases/{instance_id}"))
    assert f"/cases/{instance_id}/receipt" in case_page
    resp = operator.get(f"/cases/{instance_id}/receipt")
    assert resp.status_code == 200
    text = body_text(html(resp))
    assert "DS-2026-00001" in text
    assert "Каттоо номери" in text
    # Registered Wed 18 Nov 2026; M2 takes 3 working days: Mon 23 Nov.
    assert "Жыйынтык алуу мөөнөтү" in text
    assert "2026-ж., 23-ноябрь" in text
    assert "Айгүл Осмонова" in text  # the operator by name, not by login


def test_case_page_of_my_municipality(operator: FlaskClient, session: Session) -> None:
    task_id = start_case(operator)
    instance_id = case_of(session, task_id)
    resp = operator.get(f"/cases/{instance_id}")
    assert resp.status_code == 200
    assert f"/tasks/{task_id}" in html(resp)
    listing = operator.get("/cases")
    assert listing.status_code == 200
    assert f"/cases/{instance_id}" in html(listing)
    assert operator.get("/cases/999999").status_code == 404


# --- no English on Kyrgyz pages -------------------------------------------------------------------


ENGLISH_WORDS = [
    "Inbox",
    "Log out",
    "Due",
    "Cases",
    "Start a case",
    "Step",
    "Case",
    "Municipality",
    "Priority",
    "Filter",
    "All",
    "Nothing here",
    "Available",
    "Overdue",
    "working day",
]


@pytest.mark.parametrize("view", ["mine", "available", "overdue", "due_soon", "done"])
def test_no_english_on_the_kyrgyz_inbox(operator: FlaskClient, view: str) -> None:
    start_case(operator)
    start_case(operator)
    resp = operator.get(f"/?view={view}")
    assert resp.status_code == 200
    page = html(resp)
    assert '<html lang="ky">' in page
    text = body_text(page)
    if view == "available":
        assert "Мөөнөтү" in text or "Арыз берүүчүнү кабыл алуу" in text
    for word in ENGLISH_WORDS:
        assert not re.search(rf"\b{re.escape(word)}\b", text), (word, text)
    assert "Тапшырмалар" in text and "Чыгуу" in text


def test_no_english_on_the_kyrgyz_case_and_task_pages(operator: FlaskClient, session: Session) -> None:
    task_id = start_case(operator)
    instance_id = case_of(session, task_id)
    for url in (f"/tasks/{task_id}", f"/cases/{instance_id}", "/cases", "/start"):
        text = body_text(html(operator.get(url)))
        for word in ENGLISH_WORDS + ["Yes", "No", "Save draft", "Take this step", "History", "Status"]:
            assert not re.search(rf"\b{re.escape(word)}\b", text), (url, word, text)


# --- CSRF --------------------------------------------------------------------------------------------


def test_csrf_token_is_required(kz: Kyzmat, session: Session) -> None:
    app = webapp.create_app({"TESTING": True}, kyzmat=kz)
    client = app.test_client()
    # Without the token a correct login is refused.
    assert login(client, "operator").status_code == 400
    assert client.get("/").status_code == 302
    # With the token from the page it works...
    page = html(client.get("/login"))
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    resp = client.post(
        "/login", data={"username": "operator", "password": DEMO_PASSWORD, "csrf_token": token.group(1)}
    )
    assert resp.status_code == 302
    assert client.get("/").status_code == 200
    # ...but a state-changing POST without it is still refused, and nothing starts.
    before = session.scalar(select(func.count()).select_from(ProcessInstance))
    assert client.post("/start/citizen_service").status_code == 400
    assert client.post("/logout").status_code == 400
    assert session.scalar(select(func.count()).select_from(ProcessInstance)) == before
    assert client.get("/").status_code == 200  # still logged in
