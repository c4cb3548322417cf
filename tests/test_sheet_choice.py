# ruff: noqa: F811 - the fixtures imported below are parameters of the tests
"""The municipality chooses the short or the full evaluation sheet: on the admin page and by `kyzmat municipalities`."""

from __future__ import annotations

import re
from collections.abc import Callable

from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.citizens import evaluation
from engine.platform.db import make_engine
from engine.platform.models import AuditEvent, Municipality, ProcessInstance
from tests.test_citizens import app, client, frozen, login, served, text  # noqa: F401 - fixtures
from tests.test_cli import Env, cli, env, initialised  # noqa: F401 - fixtures
from tests.test_web import body_text


def _fields(row: Municipality, **changes: str) -> dict[str, str]:
    """The municipality edit form as the browser posts it, with `changes`."""
    return {
        "name_ky": row.names["ky"],
        "name_ru": row.names.get("ru", ""),
        "kind": row.kind,
        "region": row.region,
        "district": row.district,
        "journal_prefix": row.journal_prefix,
        "remote_villages": "\n".join(row.remote_villages or []),
        **changes,
    }


def _errors(page: str) -> dict[str, str]:
    return dict(re.findall(r'<p class="error" id="([\w-]+)-error" role="alert">([^<]+)</p>', page))


def _sheet_events(session: Session) -> list[dict]:
    return [
        e.detail
        for e in session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action.in_(["municipality_changed", "municipality_created"]))
            .order_by(AuditEvent.id)
        )
    ]


def test_the_admin_chooses_the_short_sheet_and_the_citizen_gets_it(
    app: Flask, client: FlaskClient, served: ProcessInstance, session: Session
) -> None:
    row = session.get(Municipality, served.municipality_id)
    assert row is not None and evaluation.sheet_variant(row) == "full"
    admin = app.test_client()
    login(admin, "admin")
    page = admin.get(f"/admin/municipalities/{row.id}").get_data(as_text=True)
    assert '<input type="radio" name="evaluation_sheet" value="full" checked>' in page
    assert "Кыска баалоо баракчасы (1-вариант)" in body_text(page)
    resp = admin.post(f"/admin/municipalities/{row.id}", data=_fields(row, evaluation_sheet="short"))
    assert resp.status_code == 302
    session.expire_all()
    assert row.settings["evaluation_sheet"] == "short"
    assert _sheet_events(session)[-1] == {
        "code": row.code,
        "evaluation_sheet_before": "full",
        "evaluation_sheet_after": "short",
    }
    assert '<input type="radio" name="evaluation_sheet" value="short" checked>' in admin.get(
        f"/admin/municipalities/{row.id}"
    ).get_data(as_text=True)
    # The citizen's status page offers the sheet, and the sheet it offers is the short one.
    status = client.get(f"/s/{served.public_token}").get_data(as_text=True)
    link = f"/s/{served.public_token}/evaluation"
    assert f'href="{link}"' in status
    body = text(client.get(link))
    assert "1-вариант (Кыска)" in body and "Кызмат көрсөтүүнүн жыйынтыгы" in body
    assert "Кызматкерлердин компетенттүүлүгүнө канааттанасызбы?" not in body
    # And back to the full one.
    assert (
        admin.post(f"/admin/municipalities/{row.id}", data=_fields(row, evaluation_sheet="full")).status_code
        == 302
    )
    assert "Кызматкерлердин компетенттүүлүгүнө канааттанасызбы?" in text(client.get(link))


def test_only_the_admin_may_choose_the_sheet(app: Flask, served: ProcessInstance, session: Session) -> None:
    row = session.get(Municipality, served.municipality_id)
    assert row is not None and evaluation.sheet_variant(row) == "full"
    settings = dict(row.settings or {})
    for username in ("head", "operator", "monitoring"):
        other = app.test_client()
        login(other, username)
        assert other.get(f"/admin/municipalities/{row.id}").status_code == 403
        resp = other.post(f"/admin/municipalities/{row.id}", data=_fields(row, evaluation_sheet="short"))
        assert resp.status_code == 403
        assert (
            other.post(
                "/admin/municipalities/new",
                data=_fields(row, code="attacker", journal_prefix="AT", evaluation_sheet="short"),
            ).status_code
            == 403
        )
    anonymous = app.test_client().post(
        f"/admin/municipalities/{row.id}", data=_fields(row, evaluation_sheet="short")
    )
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    session.expire_all()
    assert row.settings == settings
    assert session.scalar(select(Municipality.id).where(Municipality.code == "attacker")) is None
    assert _sheet_events(session) == []


def test_a_bad_variant_is_refused_in_the_users_language_and_nothing_changes(
    app: Flask, served: ProcessInstance, session: Session
) -> None:
    row = session.get(Municipality, served.municipality_id)
    assert row is not None
    evaluation.set_sheet_variant(session, row, "short")
    session.commit()
    before = (row.district, row.journal_prefix)
    admin = app.test_client()
    login(admin, "admin")
    for lang, message in (
        ("ky", "Кыска же толук баалоо баракчасын тандаңыз."),
        ("ru", "Выберите краткий или полный лист оценки."),
    ):
        admin.post(f"/lang/{lang}")
        resp = admin.post(
            f"/admin/municipalities/{row.id}",
            data=_fields(row, evaluation_sheet="huge", district="Башка район", journal_prefix="XX"),
        )
        assert resp.status_code == 422
        page = resp.get_data(as_text=True)
        assert _errors(page) == {"evaluation_sheet": message}
        assert 'id="district" name="district" value="Башка район"' in page  # what was typed is kept
        session.expire_all()
        assert (row.district, row.journal_prefix, row.settings["evaluation_sheet"]) == (*before, "short")
    # A new municipality with a bad sheet is not created either.
    resp = admin.post(
        "/admin/municipalities/new",
        data=_fields(row, code="tokmok", journal_prefix="TK", evaluation_sheet="long"),
    )
    assert resp.status_code == 422 and set(_errors(resp.get_data(as_text=True))) == {"evaluation_sheet"}
    assert session.scalar(select(Municipality.id).where(Municipality.code == "tokmok")) is None
    assert _sheet_events(session) == []


def test_a_new_municipality_gets_the_sheet_chosen_on_the_form(app: Flask, session: Session) -> None:
    admin = app.test_client()
    login(admin, "admin")
    page = admin.get("/admin/municipalities/new").get_data(as_text=True)
    assert '<input type="radio" name="evaluation_sheet" value="full" checked>' in page  # the default
    resp = admin.post(
        "/admin/municipalities/new",
        data={
            "code": "tokmok",
            "name_ky": "Токмок шаары",
            "kind": "city",
            "region": "Чүй облусу",
            "district": "Токмок",
            "journal_prefix": "TK",
            "evaluation_sheet": "short",
        },
    )
    assert resp.status_code == 302
    row = session.scalar(select(Municipality).where(Municipality.code == "tokmok"))
    assert row is not None and evaluation.sheet_variant(row) == "short"
    assert _sheet_events(session) == [{"code": "tokmok", "evaluation_sheet": "short"}]


# --- the command --------------------------------------------------------------------------------------


def _settings(url: str, code: str) -> dict:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.scalar(select(Municipality.settings).where(Municipality.code == code)) or {}
    finally:
        engine.dispose()


def test_the_command_sets_the_sheet(initialised: Callable[..., Result], env: Env) -> None:
    assert initialised("demo").exit_code == 0
    assert _settings(env.url, "sadyrbaev")["evaluation_sheet"] == "full"  # the demo's choices
    assert _settings(env.url, "kyzyl-adyr")["evaluation_sheet"] == "short"
    result = initialised("municipalities", "set-sheet", "sadyrbaev", "short")
    assert result.exit_code == 0, result.output
    assert "sadyrbaev: evaluation sheet full -> short" in result.output
    assert _settings(env.url, "sadyrbaev")["evaluation_sheet"] == "short"
    assert _settings(env.url, "sadyrbaev")["additional_list"]  # the other settings are kept
    result = initialised("municipalities", "set-sheet", "kyzyl-adyr", "full")
    assert result.exit_code == 0 and _settings(env.url, "kyzyl-adyr")["evaluation_sheet"] == "full"
    assert _settings(env.url, "sadyrbaev")["evaluation_sheet"] == "short"
    engine = make_engine(env.url)
    try:
        with engine.connect() as conn:
            details = list(
                conn.scalars(
                    select(AuditEvent.detail)
                    .where(AuditEvent.action == "municipality_changed")
                    .order_by(AuditEvent.id)
                )
            )
    finally:
        engine.dispose()
    assert [(d["code"], d["evaluation_sheet_before"], d["evaluation_sheet_after"]) for d in details] == [
        ("sadyrbaev", "full", "short"),
        ("kyzyl-adyr", "short", "full"),
    ]


def test_the_command_refuses_an_unknown_code_or_variant(initialised: Callable[..., Result], env: Env) -> None:
    assert initialised("demo").exit_code == 0
    result = initialised("municipalities", "set-sheet", "nowhere", "full")
    assert result.exit_code != 0 and "No municipality with code 'nowhere'" in result.output
    for bad in ("medium", "", "SHORT"):
        result = initialised("municipalities", "set-sheet", "kyzyl-adyr", bad)
        assert result.exit_code != 0 and "'short' or 'full'" in result.output
        assert "Traceback" not in result.output
    assert _settings(env.url, "kyzyl-adyr")["evaluation_sheet"] == "short"
    assert _settings(env.url, "sadyrbaev")["evaluation_sheet"] == "full"
    assert initialised("municipalities", "set-sheet").exit_code != 0  # the arguments are required
