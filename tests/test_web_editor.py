"""The editor's endpoints over HTTP: every one refused to non-owners on the server, CSRF required,
validation problems in the user's language, publication with a note."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from flask import Flask

import webapp
from engine.platform.config import REPO_ROOT
from engine.runtime.context import Kyzmat
from tests.browser import DEMO_PASSWORD

P = "/processes/citizen_service"
SHIPPED = (REPO_ROOT / "processes" / "citizen_service.bpmn").read_text(encoding="utf-8")
GETS = [
    "/processes/",
    "/processes/deadlines",
    f"{P}/edit",
    f"{P}/source",
    f"{P}/versions",
    f"{P}/diff?old=1&new=1",
    f"{P}/versions/1.bpmn",
    f"{P}/form?path=citizen_service/D_03_advise.json",
]
POSTS = [
    f"{P}/draft",
    f"{P}/validate",
    f"{P}/publish",
    f"{P}/discard",
    f"{P}/timer-preview",
    f"{P}/form-check",
    f"{P}/rollback",
    f"{P}/import",
    f"{P}/rule-texts",
    f"{P}/reminder-check",
]


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(datetime(2026, 11, 18, 4, 0, tzinfo=UTC), tick=False):
        yield


def client_for(kz: Kyzmat, username: str | None, csrf: bool = False):
    app: Flask = webapp.create_app({"TESTING": True, "WTF_CSRF_ENABLED": csrf}, kyzmat=kz)
    client = app.test_client()
    if username:
        assert (
            client.post("/login", data={"username": username, "password": DEMO_PASSWORD}).status_code == 302
        )
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
    good = SHIPPED.replace(
        'next_working_day(registration["registered_at"])',
        'add_working_days(registration["registered_at"], 2)',
    )
    resp = client.post(f"{P}/publish", json={"xml": good, "forms": {}, "note": " "})
    assert resp.status_code == 422 and "примечание" in resp.json["error"]
    resp = client.post(f"{P}/publish", json={"xml": good, "forms": {}, "note": "Два рабочих дня"})
    assert resp.json == {**resp.json, "ok": True, "version": 2}
    assert client.get(f"{P}/source").json["source"] == "version"


def test_form_check_returns_errors_or_the_task_page_rendering(kz):
    client = client_for(kz, "owner")
    bad = client.post(
        f"{P}/form-check", json={"text": '{"type": "object", "properties": {"a": {"type": "strin"}}}'}
    )
    assert bad.json["ok"] is False and bad.json["errors"]
    good = client.post(
        f"{P}/form-check",
        json={"text": (REPO_ROOT / "forms/citizen_service/D_03_advise.json").read_text(encoding="utf-8")},
    )
    assert good.json["ok"] and 'class="field' in good.json["preview"]


@pytest.mark.parametrize("lang", ["ky", "ru"])
def test_common_problems_are_explained_in_the_users_language(kz, lang):
    client = client_for(kz, "owner")
    client.post(f"/lang/{lang}")

    def problem(xml: str) -> dict:
        resp = client.post(f"{P}/validate", json={"xml": xml, "forms": {}})
        assert resp.json["ok"] is False
        return resp.json["problems"][0]

    role = problem(SHIPPED.replace('name="state_body">', 'name="tax_office">', 1))
    assert "«tax_office»" in role["detail"]
    assert "is not a known role" not in role["detail"] and "is not a known role" in role["technical"]
    doctype = problem(
        SHIPPED.replace(
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE d [<!ENTITY e "x">]>',
            1,
        )
    )
    assert (
        doctype["kind"] == "unsafe_xml"
        and "DOCTYPE" in doctype["detail"]
        and "not allowed" not in doctype["detail"]
    )
    marker = '<spiffworkflow:property name="name_en" value="Inform and advise"/>'
    form = problem(
        SHIPPED.replace(
            marker,
            marker + '<spiffworkflow:property name="formJsonSchemaFilename" '
            'value="citizen_service/D_03_missing.json"/>',
            1,
        )
    )
    assert form["kind"] == "form" and "citizen_service/D_03_missing.json" in form["detail"]
    assert "does not exist" not in form["detail"]
    script = problem(
        SHIPPED.replace(
            '<bpmn:script>priority = "high"</bpmn:script>',
            "<bpmn:script>priority = ().__class__</bpmn:script>",
            1,
        )
    )
    assert script["kind"] == "script" and (
        "Песочница" in script["detail"] if lang == "ru" else "Коопсуз чөйрө" in script["detail"]
    )


def test_reminder_settings_are_checked_as_publication_checks_them(kz):
    client = client_for(kz, "owner")
    client.post("/lang/ru")
    ok = client.post(
        f"{P}/reminder-check", json={"reminders": "-3, 0", "escalate_after": "2", "escalate_to": "ao_head"}
    ).json
    assert ok["ok"] and "-3, 0" in ok["text"] and "+2" in ok["text"]
    for bad, word in (
        ({"reminders": "за день"}, "Напоминания"),
        ({"reminders": "-11"}, "Напоминания"),
        ({"escalate_after": "-1"}, "Эскалация"),
        ({"escalate_to": "tax_office"}, "Кому"),
    ):
        resp = client.post(f"{P}/reminder-check", json=bad).json
        assert resp["ok"] is False and resp["error"].startswith(word), bad
    marker = '<spiffworkflow:property name="name_en" value="Inform and advise"/>'
    xml = SHIPPED.replace(marker, marker + '<spiffworkflow:property name="reminders" value="-11"/>', 1)
    resp = client.post(f"{P}/publish", json={"xml": xml, "forms": {}, "note": "напоминания"})
    assert resp.status_code == 422
    assert [(p["kind"], p["detail"][:11]) for p in resp.json["problems"]] == [("reminders", "Напоминания")]


def test_rule_texts_endpoint(kz):
    client = client_for(kz, "owner")
    resp = client.post(f"{P}/rule-texts", json={"expression": "add_working_days(submitted_on, 7)"}).json
    assert resp["ok"] and resp["names"]["ky"] == "7 жумушчу күн ичинде"
    assert client.post(f"{P}/rule-texts", json={"expression": "quarter_end(y, 1)"}).json == {"ok": False}
