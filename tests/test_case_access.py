"""Who reads a case page (engine/access.py require_read_case): its municipality, or whoever took part in it.

Process E is national; a provider's specialist acts on their municipality's branch without any grant
for the case. They may read the case page and its diagram, and nothing more.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

import webapp
from engine.accounts import users as accounts
from engine.definitions import diagram
from engine.demo.data import DEMO_PASSWORD
from engine.monitoring.annual import start_due_annual_cases
from engine.platform.errors import Forbidden
from engine.platform.models import User
from engine.runtime import attachments, cases
from engine.runtime.context import Kyzmat
from tests.test_process_e_scenarios import APPROVAL, LIST, Walk, clock, providers, report, walk  # noqa: F401

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
SENT_TO = ["ak-suu", "kyzyl-adyr"]  # sadyrbaev is not a provider this year


@pytest.fixture
def app(kz: Kyzmat) -> Flask:
    return webapp.create_app({"TESTING": True, "WTF_CSRF_ENABLED": False}, kyzmat=kz)


@pytest.fixture
def year(walk: Walk, kz: Kyzmat, session: Session, clock: Any, providers: None) -> int:  # noqa: F811
    """The 2026 monitoring case, its list sent to two providers: one branch each, open."""
    (walk.instance,) = start_due_annual_cases(kz, session)
    walk.complete("E_01_prepare_list", LIST, "monitoring")
    walk.complete("E_02_approve_list", APPROVAL, "ministry")
    walk.complete("E_03_send_list", {"providers": SENT_TO, "sent_on": "2026-04-15"}, "monitoring")
    session.flush()
    return walk.instance.id


def client_of(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    resp = client.post("/login", data={"username": username, "password": DEMO_PASSWORD})
    assert resp.status_code == 302, username
    return client


def test_a_providers_specialist_reads_the_national_case_and_its_diagram(
    app: Flask, year: int, walk: Walk, kz: Kyzmat, session: Session, user: Callable[[str], User]
) -> None:  # noqa: F811
    client = client_of(app, "specialist_as")  # ak-suu's ao_specialist: an open branch of this case
    page = client.get(f"/cases/{year}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Муниципалдык кызматтардын сапатына жылдык мониторинг" in text
    assert f"/cases/{year}/diagram.bpmn" in text
    resp = client.get(f"/cases/{year}/diagram.bpmn")
    assert resp.status_code == 200 and b"E_07_submit_reports" in resp.data
    # Still after handing the branch in (the step is theirs, completed).
    walk.complete("E_07_submit_reports", report(4), "specialist_as", "ak-suu")
    assert (
        walk.open_tasks("E_07_submit_reports")[0].municipality_id
        != user("specialist_as").grants[0].municipality_id
    )
    assert cases.get_case(kz, session, user("specialist_as"), year).instance.id == year
    assert diagram.case_diagram(session, user("specialist_as"), year, "ky").open_steps == [
        "E_07_submit_reports"
    ]
    assert client.get(f"/cases/{year}").status_code == 200


def test_taking_part_opens_the_case_page_and_nothing_more(
    app: Flask, year: int, walk: Walk, kz: Kyzmat, session: Session, user: Callable[[str], User]
) -> None:  # noqa: F811
    client = client_of(app, "specialist_as")
    other_branch = walk.open_task("E_07_submit_reports", "kyzyl-adyr")
    # Not another provider's step, neither to read nor to act on.
    assert client.get(f"/tasks/{other_branch.id}").status_code == 403
    with pytest.raises(Forbidden):
        cases.get_task(kz, session, user("specialist_as"), other_branch.id)
    # Not the case's files: the page shows no attachment list, and a file's link is refused.
    page = client.get(f"/cases/{year}").get_data(as_text=True)
    assert "/files/" not in page
    row = attachments.store(
        kz,
        session,
        user("specialist_ka"),
        other_branch.id,
        "quantitative_report",
        attachments.Upload("report.pdf", io.BytesIO(PDF)),
    )
    session.flush()
    assert client.get(f"/files/{row.token}").status_code == 403
    with pytest.raises(Forbidden):
        attachments.open_for(kz, session, user("specialist_as"), row.token)
    # Not the case list: the national case stays out of the provider's list.
    listed = cases.list_cases(kz, session, user("specialist_as"), cases.CaseFilter())
    assert year not in [c.id for c in listed.items]
    # The case's own municipality scope still sees the files section (national users).
    assert "Тиркемелер" in client_of(app, "monitoring").get(f"/cases/{year}").get_data(as_text=True)


@pytest.mark.parametrize("username", ["specialist", "head", "operator"])
def test_users_who_took_no_part_are_refused(
    app: Flask, year: int, username: str, kz: Kyzmat, session: Session, user: Callable[[str], User]
) -> None:
    # sadyrbaev's users: their municipality got no branch this year.
    client = client_of(app, username)
    assert client.get(f"/cases/{year}").status_code == 403
    assert client.get(f"/cases/{year}/diagram.bpmn").status_code == 403
    with pytest.raises(Forbidden):
        cases.get_case(kz, session, user(username), year)


def test_another_role_of_a_provider_municipality_is_refused(app: Flask, year: int, session: Session) -> None:
    accounts.create_user(
        session,
        username="head_as",
        password=DEMO_PASSWORD,
        full_name="head_as",
        now=datetime(2026, 1, 1, tzinfo=UTC),
        grants=[("ao_head", "ak-suu")],
    )
    session.flush()
    client = client_of(app, "head_as")
    assert client.get(f"/cases/{year}").status_code == 403
    assert client.get(f"/cases/{year}/diagram.bpmn").status_code == 403


def test_a_deactivated_participant_is_refused(
    year: int,
    walk: Walk,
    kz: Kyzmat,
    session: Session,  # noqa: F811
    user: Callable[[str], User],
) -> None:
    walk.complete("E_07_submit_reports", report(4), "specialist_as", "ak-suu")
    specialist = user("specialist_as")
    specialist.active = False
    session.flush()
    with pytest.raises(Forbidden):
        cases.get_case(kz, session, specialist, year)
    with pytest.raises(Forbidden):
        diagram.case_diagram(session, specialist, year, "ky")
