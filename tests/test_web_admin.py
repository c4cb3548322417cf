"""The administrator's pages, sessions that expire, and the language remembered on the user's row."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.accounts import access
from engine.demo.data import DEMO_PASSWORD
from engine.platform.models import AuditEvent, Municipality, User
from tests.test_web import body_text, html, login
from tests.web_fixtures import *  # noqa: F403 - the fixtures app and frozen (autouse)

NOW = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)


@pytest.fixture
def admin(app: Flask) -> FlaskClient:
    client = app.test_client()
    assert login(client, "admin").status_code == 302
    return client


def logged_in(app: Flask, username: str, password: str = DEMO_PASSWORD) -> FlaskClient:
    client = app.test_client()
    assert login(client, username, password).status_code == 302
    return client


def test_admin_creates_a_user_with_grants_who_can_then_work(
    admin: FlaskClient, app: Flask, session: Session
) -> None:
    page = html(admin.get("/admin/users/new"))
    assert '<label for="new_role_0">' in page and '<label for="new_municipality_0">' in page
    resp = admin.post(
        "/admin/users/new",
        data={
            "username": "Clerk.Two",
            "password": "clerk-password",
            "full_name": "Экинчи Кызматкер",
            "locale": "ru",
            "new_role_0": "csc_operator",
            "new_municipality_0": "kyzyl-adyr",
            "new_role_1": "monitoring_executor",
            "new_municipality_1": "",
        },
    )
    assert resp.status_code == 302
    user = session.scalar(select(User).where(User.username == "clerk.two"))
    assert user is not None and user.locale == "ru"
    ka = session.scalar(select(Municipality.id).where(Municipality.code == "kyzyl-adyr"))
    assert sorted((g.role, g.municipality_id) for g in user.grants) == [
        ("csc_operator", ka),
        ("monitoring_executor", None),
    ]
    assert "user_created" in session.scalars(select(AuditEvent.action)).all()
    listing = body_text(html(admin.get("/admin/users?q=clerk")))
    assert "Экинчи Кызматкер" in listing and "Айгүл Осмонова" not in listing
    clerk = logged_in(app, "clerk.two", "clerk-password")
    assert '<html lang="ru">' in html(clerk.get("/"))
    assert clerk.post("/start/citizen_service").status_code == 302  # in Kyzyl-Adyr, the one place they start


def test_bad_input_is_told_beside_the_field_in_kyrgyz_and_kept(admin: FlaskClient, session: Session) -> None:
    resp = admin.post(
        "/admin/users/new",
        data={
            "username": "operator",
            "password": "short",
            "full_name": "Аты Жөнү",
            "email": "a@b.kg",
            "new_role_0": "ao_head",
            "new_municipality_0": "",
        },
    )
    assert resp.status_code == 422
    page = html(resp)
    errors = dict(re.findall(r'<p class="error" id="([\w-]+)-error" role="alert">([^<]+)</p>', page))
    assert errors == {
        "username": "Бул колдонуучу аты бош эмес.",
        "password": "Кеминде 8 белги.",
        "grants": "Бул роль муниципалитетте болот: бирин тандаңыз.",
    }
    assert re.search(r'id="full_name" name="full_name" value="Аты Жөнү"', page)
    assert re.search(r'<option value="ao_head" selected>', page)
    assert 'value="short"' not in page  # a password is never sent back
    assert session.scalar(select(User.id).where(User.full_name == "Аты Жөнү")) is None


def test_admin_changes_grants_and_the_change_applies_at_once(
    admin: FlaskClient, app: Flask, session: Session, user: Callable[[str], User]
) -> None:
    head = logged_in(app, "head")
    assert head.post("/start/citizen_service").status_code == 403
    target = user("head")
    resp = admin.post(
        f"/admin/users/{target.id}",
        data={
            "full_name": target.full_name,
            "locale": "ky",
            "grant": "ao_head@sadyrbaev",
            "new_role_0": "csc_operator",
            "new_municipality_0": "sadyrbaev",
        },
    )
    assert resp.status_code == 302
    session.refresh(target)
    assert sorted(g.role for g in target.grants) == ["ao_head", "csc_operator"]
    assert head.post("/start/citizen_service").status_code == 302
    # Unticking a grant removes it.
    admin.post(
        f"/admin/users/{target.id}",
        data={"full_name": target.full_name, "locale": "ky", "grant": "csc_operator@sadyrbaev"},
    )
    session.refresh(target)
    assert [g.role for g in target.grants] == ["csc_operator"]
    # The administrator cannot lock themselves out.
    me = user("admin")
    resp = admin.post(f"/admin/users/{me.id}", data={"full_name": me.full_name, "locale": "ky"})
    assert resp.status_code == 422
    assert "Администратордун ролун өзүңүздөн ала албайсыз." in body_text(html(resp))
    assert access.holds(me, "admin", None)


def test_deactivating_ends_the_users_session_and_login(
    admin: FlaskClient, app: Flask, session: Session, user: Callable[[str], User]
) -> None:
    clerk = logged_in(app, "operator")
    target = user("operator")
    assert admin.post(f"/admin/users/{target.id}/active", data={"active": "0"}).status_code == 302
    assert clerk.get("/").status_code == 302  # the open session is over
    assert login(app.test_client(), "operator").status_code == 401
    assert admin.post(f"/admin/users/{target.id}/active", data={"active": "1"}).status_code == 302
    assert login(app.test_client(), "operator").status_code == 302
    me = user("admin")
    assert admin.post(f"/admin/users/{me.id}/active", data={"active": "0"}).status_code == 302
    session.refresh(me)
    assert me.active  # not yourself
    actions = session.scalars(
        select(AuditEvent.action).where(AuditEvent.action.like("user_%")).order_by(AuditEvent.id)
    ).all()
    assert actions == ["user_deactivated", "user_activated"]


def test_a_password_reset_ends_old_sessions(
    admin: FlaskClient, app: Flask, user: Callable[[str], User]
) -> None:
    clerk = logged_in(app, "specialist")
    target = user("specialist")
    short = admin.post(f"/admin/users/{target.id}/password", data={"new_password": "1234"})
    assert short.status_code == 422 and "Кеминде 8 белги." in body_text(html(short))
    assert clerk.get("/").status_code == 200
    assert (
        admin.post(f"/admin/users/{target.id}/password", data={"new_password": "new-secret-1"}).status_code
        == 302
    )
    assert clerk.get("/").status_code == 302
    assert login(app.test_client(), "specialist").status_code == 401
    assert login(app.test_client(), "specialist", "new-secret-1").status_code == 302


def test_municipalities_with_region_and_district(admin: FlaskClient, session: Session) -> None:
    listing = body_text(html(admin.get("/admin/municipalities")))
    assert "Чүй облусу" in listing and "Кемин району" in listing and "Кара-Буура району" in listing
    resp = admin.post(
        "/admin/municipalities/new",
        data={
            "code": "Bad Code",
            "name_ky": "",
            "kind": "city",
            "region": "Чүй облусу",
            "district": "",
            "journal_prefix": "TK",
        },
    )
    assert resp.status_code == 422
    errors = dict(re.findall(r'<p class="error" id="([\w-]+)-error" role="alert">([^<]+)</p>', html(resp)))
    assert set(errors) == {"code", "name_ky", "district"}
    assert re.search(r'id="region" name="region" value="Чүй облусу"', html(resp))
    resp = admin.post(
        "/admin/municipalities/new",
        data={
            "code": "tokmok",
            "name_ky": "Токмок шаары",
            "name_ru": "Город Токмок",
            "kind": "city",
            "region": "Чүй облусу",
            "district": "Токмок",
            "journal_prefix": "TK",
            "remote_villages": "Кызыл-Туу\n\n",
        },
    )
    assert resp.status_code == 302
    row = session.scalar(select(Municipality).where(Municipality.code == "tokmok"))
    assert row is not None and row.kind == "city" and row.region == "Чүй облусу" and row.district == "Токмок"
    assert row.names == {"ky": "Токмок шаары", "ru": "Город Токмок"} and row.remote_villages == ["Кызыл-Туу"]
    resp = admin.post(
        f"/admin/municipalities/{row.id}",
        data={
            "name_ky": "Токмок шаары",
            "kind": "city",
            "region": "Чүй облусу",
            "district": "Чүй району",
            "journal_prefix": "TKM",
        },
    )
    assert resp.status_code == 302
    session.refresh(row)
    assert row.district == "Чүй району" and row.journal_prefix == "TKM"
    # The new municipality can be granted at once.
    assert "Токмок шаары" in html(admin.get("/admin/users/new"))


# --- sessions and languages -----------------------------------------------------------------------------


def test_an_idle_session_expires_and_an_active_one_does_not(app: Flask) -> None:
    client = logged_in(app, "operator")
    hours = app.permanent_session_lifetime
    assert hours == timedelta(hours=8)
    # Working every few hours keeps the session: each request renews it.
    for step in (3, 6, 9, 12):
        with time_machine.travel(NOW + timedelta(hours=step), tick=False):
            assert client.get("/").status_code == 200, step
    # Idle past the lifetime: the signed cookie is refused even if the browser still sends it.
    with time_machine.travel(NOW + timedelta(hours=12) + hours + timedelta(minutes=1), tick=False):
        resp = client.get("/")
        assert resp.status_code == 302 and resp.headers["Location"].startswith("/login")


def test_the_cookie_is_http_only_and_expires(app: Flask) -> None:
    resp = login(app.test_client(), "operator")
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Expires=" in cookie


def test_the_language_choice_is_kept_on_the_users_row(
    app: Flask, session: Session, user: Callable[[str], User]
) -> None:
    client = logged_in(app, "council")
    assert user("council").locale == "ky"
    assert '<html lang="ky">' in html(client.get("/"))
    client.post("/lang/en")
    session.refresh(user("council"))
    assert user("council").locale == "en"
    # Another browser, another day: English again from the row.
    fresh = logged_in(app, "council")
    assert '<html lang="en">' in html(fresh.get("/"))
