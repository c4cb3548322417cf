"""The editor's endpoints over HTTP: every one refused to non-owners on the server, CSRF required,
validation problems in the user's language, publication with a note."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from flask import Flask

import webapp
from engine.config import REPO_ROOT
from engine.context import Kyzmat
from tests.browser import DEMO_PASSWORD

P = "/processes/citizen_service"
SHIPPED = (REPO_ROOT / "processes" / "citizen_service.bpmn").read_text(encoding="utf-8")
GETS = ["/processes/", f"{P}/edit", f"{P}/source", f"{P}/versions", f"{P}/diff?old=1&new=1", f"{P}/versions/1.bpmn",
        f"{P}/form?path=citizen_service/D_03_advise.json"]
POSTS = [f"{P}/draft", f"{P}/validate", f"{P}/publish", f"{P}/discard", f"{P}/timer-preview", f"{P}/form-check",
         f"{P}/rollback", f"{P}/import"]


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(datetime(2026, 11, 18, 4, 0, tzinfo=UTC), tick=False):
        yield


def client_for(kz: Kyzmat, username: str | None, csrf: bool = False):
    app: Flask = webapp.create_app({"TESTING": True, "WTF_CSRF_ENABLED": csrf}, kyzmat=kz)
    client = app.test_client()
    if username:
        assert client.post("/login", data={"username": username, "password": DEMO_PASSWORD}).status_code == 302
    return client


@pytest.mark.parametrize("username", ["operator", "admin", "council", "ministry"])
def test_every_editor_endpoint_is_refused_to_non_owners(kz, username):
    client = client_for(kz, username)
    for url in GETS:
        assert client.get(url).status_code == 403, url
    for url in POSTS:
        assert client.post(url, json={"xml": SHIPPED, "forms": {}, "note": "x"}).status_code == 403, url


def test_anonymous_users_are_sent_to_login(kz):
    client = client_for(kz, None)
    for url in GETS:
        assert client.get(url).status_code == 302
    assert client.post(f"{P}/publish", json={"xml": SHIPPED, "note": "x"}).status_code == 302


def test_json_posts_need_the_csrf_token(kz):
    client = client_for(kz, None, csrf=True)
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    client.post("/login", data={"username": "owner", "password": DEMO_PASSWORD, "csrf_token": token})
    page = client.get(f"{P}/edit").get_data(as_text=True)
    token = page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    assert client.post(f"{P}/draft", json={"xml": SHIPPED, "forms": {}}).status_code == 400
    resp = client.post(f"{P}/draft", json={"xml": SHIPPED, "forms": {}}, headers={"X-CSRFToken": token})
    assert resp.status_code == 200 and resp.json["ok"]


def test_validation_speaks_the_users_language_and_publication_needs_a_note(kz):
    client = client_for(kz, "owner")
    client.post("/lang/ru")
    broken = SHIPPED.replace('name="state_body">', 'name="tax_office">', 1)
    resp = client.post(f"{P}/validate", json={"xml": broken, "forms": {}})
    assert resp.json["ok"] is False
    assert resp.json["problems"][0]["element_id"] == "Lane_state_body"
    assert resp.json["problems"][0]["title"].startswith("Имя этой дорожки")
    resp = client.post(f"{P}/publish", json={"xml": broken, "forms": {}, "note": "налог"})
    assert resp.status_code == 422 and resp.json["problems"][0]["kind"] == "role"
    assert client.get(f"{P}/source").json["source"] == "draft"  # the refused work is kept
    good = SHIPPED.replace('next_working_day(registration["registered_at"])',
                           'add_working_days(registration["registered_at"], 2)')
    resp = client.post(f"{P}/publish", json={"xml": good, "forms": {}, "note": " "})
    assert resp.status_code == 422 and "примечание" in resp.json["error"]
    resp = client.post(f"{P}/publish", json={"xml": good, "forms": {}, "note": "Два рабочих дня"})
    assert resp.json == {**resp.json, "ok": True, "version": 2}
    assert client.get(f"{P}/source").json["source"] == "version"


def test_form_check_returns_errors_or_the_task_page_rendering(kz):
    client = client_for(kz, "owner")
    bad = client.post(f"{P}/form-check", json={"text": '{"type": "object", "properties": {"a": {"type": "strin"}}}'})
    assert bad.json["ok"] is False and bad.json["errors"]
    good = client.post(f"{P}/form-check", json={"text": (REPO_ROOT / "forms/citizen_service/D_03_advise.json")
                                                 .read_text(encoding="utf-8")})
    assert good.json["ok"] and 'class="field' in good.json["preview"]
