"""Every page route, for every demo role, an anonymous visitor and the other municipality's operator: exactly
the expected status. The table must name every route of the page blueprints, so a new route without a row fails."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.accounts import users as accounts
from engine.demo.data import DEMO_PASSWORD, LOGINS
from engine.platform.models import Attachment, HumanTask, Municipality, User
from engine.runtime.context import Kyzmat
from tests.test_web import RECEPTION_FORM, complete, html, login, start_case, task_id_of
from tests.web_fixtures import *  # noqa: F403 - the fixtures app and frozen (autouse)
from tests.web_fixtures import publish_all_fields

PAGE_BLUEPRINTS = ("views", "auth", "admin", "files")

ANON = "anonymous"
MUNI = {"specialist", "head", "commission", "council", "zags"}  # other roles of the operator's municipality
NATIONAL = {"coordination", "monitoring", "ministry", "owner", "admin"}
EVERYONE = [ANON, "operator", *sorted(MUNI), *sorted(NATIONAL), "operator2"]
assert set(EVERYONE) - {ANON} == {u for u, _r, _m in LOGINS}


def expect(
    anon: int = 302,
    operator: int = 200,
    muni: int = 200,
    national: int = 200,
    other: int = 200,
    **special: int,
) -> dict[str, int]:
    out = {ANON: anon, "operator": operator, "operator2": other}
    out.update({u: muni for u in MUNI})
    out.update({u: national for u in NATIONAL})
    out.update(special)
    return out


def admin_only(ok: int = 200) -> dict[str, int]:
    return expect(operator=403, muni=403, national=403, other=403, admin=ok)


SEES_CASE = expect(other=403)  # the operator's case: its municipality and the national roles see it
ACTS = expect(
    operator=302, muni=403, national=403, other=403
)  # only the step's role in its municipality acts
STARTS = expect(
    operator=302, muni=403, national=403, other=302
)  # csc_operator starts, in their own municipality

# (endpoint, method, url, form, expected). Ordered: reads first, then changes, logout last.
ROUTES: list[tuple[str, str, str, dict[str, Any], dict[str, int]]] = [
    ("auth.login", "GET", "/login", {}, expect(anon=200)),
    ("views.inbox", "GET", "/", {}, expect()),
    ("views.inbox", "GET", "/?view=overdue&sort=-case&page=2", {}, expect()),
    ("views.inbox", "GET", "/?view=nonsense", {}, expect(operator=404, muni=404, national=404, other=404)),
    ("views.task", "GET", "/tasks/{task}", {}, SEES_CASE),
    ("views.task", "GET", "/tasks/999999", {}, expect(operator=404, muni=404, national=404, other=404)),
    ("views.start_list", "GET", "/start", {}, expect()),
    ("views.case_list", "GET", "/cases?overdue=1&status=running", {}, expect()),
    ("views.case", "GET", "/cases/{case}", {}, SEES_CASE),
    ("views.case", "GET", "/cases/999999", {}, expect(operator=404, muni=404, national=404, other=404)),
    ("views.receipt", "GET", "/cases/{case}/receipt", {}, SEES_CASE),
    ("files.download", "GET", "/files/{token}", {}, SEES_CASE),
    ("files.download", "GET", "/files/deadbeef", {}, expect(operator=404, muni=404, national=404, other=404)),
    ("admin.home", "GET", "/admin/", {}, admin_only(302)),
    ("admin.users", "GET", "/admin/users", {}, admin_only()),
    ("admin.user_new", "GET", "/admin/users/new", {}, admin_only()),
    ("admin.user_edit", "GET", "/admin/users/{commission_id}", {}, admin_only()),
    ("admin.user_edit", "GET", "/admin/users/999999", {}, admin_only(404)),
    ("admin.municipalities", "GET", "/admin/municipalities", {}, admin_only()),
    ("admin.municipality_new", "GET", "/admin/municipalities/new", {}, admin_only()),
    ("admin.municipality_edit", "GET", "/admin/municipalities/{muni_id}", {}, admin_only()),
    ("views.task", "POST", "/tasks/{task}", {"action": "draft"}, ACTS),
    ("views.claim", "POST", "/tasks/{task}/claim", {}, ACTS),
    ("views.unclaim", "POST", "/tasks/{task}/unclaim", {}, ACTS),
    ("views.reassign", "POST", "/tasks/{task}/reassign", {"to_user": "{colleague_id}"}, ACTS),
    ("views.start", "POST", "/start/citizen_service", {}, STARTS),
    (
        "views.start",
        "POST",
        "/start/no_such_process",
        {},
        expect(operator=404, muni=404, national=404, other=404),
    ),
    (
        "admin.user_new",
        "POST",
        "/admin/users/new",
        {
            "username": "newclerk",
            "password": "long-enough",
            "full_name": "Жаңы Кызматкер",
            "locale": "ky",
            "new_role_0": "ao_specialist",
            "new_municipality_0": "sadyrbaev",
        },
        admin_only(302),
    ),
    (
        "admin.user_edit",
        "POST",
        "/admin/users/{commission_id}",
        {"full_name": "Нурлан Токтогулов", "locale": "ru", "grant": "working_commission@sadyrbaev"},
        admin_only(302),
    ),
    ("admin.user_active", "POST", "/admin/users/{commission_id}/active", {"active": "1"}, admin_only(302)),
    (
        "admin.user_password",
        "POST",
        "/admin/users/{colleague_id}/password",
        {"new_password": "another-one"},
        admin_only(302),
    ),
    (
        "admin.municipality_new",
        "POST",
        "/admin/municipalities/new",
        {
            "code": "tokmok",
            "name_ky": "Токмок шаары",
            "kind": "city",
            "region": "Чүй облусу",
            "district": "Токмок",
            "journal_prefix": "TK",
        },
        admin_only(302),
    ),
    (
        "admin.municipality_edit",
        "POST",
        "/admin/municipalities/{muni_id}",
        {
            "name_ky": "Д.Садырбаев айыл өкмөтү",
            "kind": "aiyl_okmotu",
            "region": "Чүй облусу",
            "district": "Кемин району",
            "journal_prefix": "DS",
        },
        admin_only(302),
    ),
    (
        "auth.set_language",
        "POST",
        "/lang/ru",
        {},
        expect(anon=302, operator=302, muni=302, national=302, other=302),
    ),
    ("auth.logout", "POST", "/logout", {}, expect(anon=302, operator=302, muni=302, national=302, other=302)),
    (
        "auth.login",
        "POST",
        "/login",
        {"username": "operator", "password": DEMO_PASSWORD},
        expect(anon=302, operator=302, muni=302, national=302, other=302),
    ),
]


def test_the_table_names_every_page_route(app: Flask) -> None:
    endpoints = {
        rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint.split(".")[0] in PAGE_BLUEPRINTS
    }
    covered = {(e, m) for e, m, *_ in ROUTES}
    for rule in app.url_map.iter_rules():
        if rule.endpoint in endpoints:
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                assert (rule.endpoint, method) in covered, (rule.rule, method)


@pytest.fixture
def places(kz: Kyzmat, session: Session, app: Flask, tmp_path: Path) -> dict[str, Any]:
    """A registered citizen's request in sadyrbaev (open step: the receipt) and an attachment on another case."""
    operator = app.test_client()
    assert login(operator, "operator").status_code == 302
    first = start_case(operator)
    nxt = task_id_of(complete(operator, first, RECEPTION_FORM).headers["Location"])
    nxt = task_id_of(complete(operator, nxt, {"documents_help_given": "yes"}).headers["Location"])
    resp = operator.post(
        f"/tasks/{nxt}",
        data={
            "documents_received": ["application", "id_document", "house_book"],
            "documents_complete": "yes",
            "action": "complete",
        },
    )
    task = task_id_of(resp.headers["Location"])
    assert session.scalar(select(HumanTask.step_id).where(HumanTask.id == task)) == "D_09_issue_receipt"
    publish_all_fields(session, tmp_path / "forms", kz.clock.now())
    other = task_id_of(operator.post("/start/all_fields").headers["Location"])
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    operator.post(
        f"/tasks/{other}",
        data={"action": "draft", "scan": (io.BytesIO(png), "p.png")},
        content_type="multipart/form-data",
    )
    colleague = accounts.create_user(
        session,
        username="operator3",
        password=DEMO_PASSWORD,
        full_name="Үчүнчү",
        now=kz.clock.now(),
        grants=[("csc_operator", "sadyrbaev")],
    )
    session.commit()
    return {
        "task": task,
        "case": session.scalar(select(HumanTask.instance_id).where(HumanTask.id == task)),
        "token": session.scalar(select(Attachment.token)),
        "colleague_id": colleague.id,
        "commission_id": session.scalar(select(User.id).where(User.username == "commission")),
        "muni_id": session.scalar(select(Municipality.id).where(Municipality.code == "sadyrbaev")),
    }


@pytest.mark.parametrize("who", EVERYONE)
def test_every_route_answers_exactly_as_expected(
    who: str, app: Flask, places: dict[str, Any], user: Callable[[str], User]
) -> None:
    client = app.test_client()
    if who != ANON:
        assert login(client, who).status_code == 302
    got, wanted = {}, {}
    for endpoint, method, url, form, expected in ROUTES:
        target = url.format(**places)
        data = {k: v.format(**places) if isinstance(v, str) else v for k, v in form.items()}
        resp = client.open(target, method=method, data=data)
        key = f"{method} {target}"
        got[key], wanted[key] = resp.status_code, expected[who]
        if resp.status_code == 403:
            assert "Сизге муну көрүүгө же аткарууга уруксат жок." in html(resp), key  # said in Kyrgyz
        if (
            resp.status_code == 302
            and who == ANON
            and endpoint not in ("auth.login", "auth.logout", "auth.set_language")
        ):
            assert re.match(r"/login\?next=", resp.headers["Location"]), key
        resp.close()
    assert got == wanted
