"""The case's diagram route (who may fetch it, in which language, what it leaves out) and the CSP header."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.definitions.diagram import localize_bpmn
from engine.demo.data import DEMO_PASSWORD
from engine.platform.models import HumanTask
from tests import test_web
from tests.test_web import RECEPTION_FORM, body_text, case_of, complete, start_case
from webapp.diagrams import CONTENT_SECURITY_POLICY

# The app and the frozen clock (Wed 18 Nov 2026) of the page tests.
app, frozen = test_web.app, test_web.frozen
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"


def client_for(app: Flask, username: str | None) -> FlaskClient:
    client = app.test_client()
    if username:
        assert (
            client.post("/login", data={"username": username, "password": DEMO_PASSWORD}).status_code == 302
        )
    return client


@pytest.fixture
def case_id(app: Flask, session: Session) -> int:
    """A Sadyrbaev case registered by the operator: D_02 and D_03 done, D_06 open."""
    operator = client_for(app, "operator")
    first = start_case(operator)
    assert complete(operator, first, RECEPTION_FORM).status_code == 302
    return case_of(session, first)


def diagram_of(client: FlaskClient, instance_id: int) -> etree._Element:
    resp = client.get(f"/cases/{instance_id}/diagram.bpmn")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.mimetype == "application/xml"
    assert resp.headers["Cache-Control"] == "private, no-store"
    return etree.fromstring(resp.get_data())


@pytest.mark.parametrize("username", ["operator", "specialist", "zags", "head", "monitoring"])
def test_everyone_who_may_see_the_case_gets_its_diagram(app: Flask, case_id: int, username: str) -> None:
    root = diagram_of(client_for(app, username), case_id)
    assert root.find(f".//{BPMN}userTask[@id='D_02_reception']") is not None
    assert root.find(".//{http://www.omg.org/spec/BPMN/20100524/DI}BPMNDiagram") is not None


def test_another_municipality_gets_403_and_a_stranger_the_login(app: Flask, case_id: int) -> None:
    assert client_for(app, "operator2").get(f"/cases/{case_id}/diagram.bpmn").status_code == 403
    anonymous = client_for(app, None).get(f"/cases/{case_id}/diagram.bpmn")
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/login")
    assert client_for(app, "operator").get("/cases/999999/diagram.bpmn").status_code == 404


def test_the_diagram_speaks_the_readers_language_and_hides_the_scripts(app: Flask, case_id: int) -> None:
    client = client_for(app, "operator")
    ky = diagram_of(client, case_id)
    assert ky.find(f".//{BPMN}userTask[@id='D_02_reception']").get("name") == "Арыз берүүчүнү кабыл алуу"
    client.post("/lang/ru", data={"next": "/"})
    ru = diagram_of(client, case_id)
    assert ru.find(f".//{BPMN}userTask[@id='D_02_reception']").get("name") == "Принять заявителя"
    assert ru.find(f".//{BPMN}lane[@id='Lane_csc_operator']").get("name") == "Оператор ЦОН"
    raw = etree.tostring(ru, encoding="unicode")
    # Scripts, conditions and engine properties stay on the server.
    for gone in ("<bpmn:script>", "conditionExpression", "extensionElements", "spiffworkflow:property"):
        assert gone not in raw
    assert ru.find(f".//{BPMN}scriptTask") is not None  # the shapes stay, only their code goes


def test_localizing_refuses_a_doctype() -> None:
    from engine.bpmn.loader import DiagramError

    with pytest.raises(DiagramError):
        localize_bpmn(
            '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&e;'
            "</bpmn:definitions>",
            "ru",
        )


def test_pages_carry_a_self_only_content_security_policy(app: Flask, case_id: int) -> None:
    client = client_for(app, "operator")
    for path in ("/login", "/", f"/cases/{case_id}", f"/cases/{case_id}/diagram.bpmn"):
        resp = client.get(path)
        assert resp.status_code == 200, path
        csp = resp.headers["Content-Security-Policy"]
        assert csp == CONTENT_SECURITY_POLICY
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives["default-src"] == "'self'"
        assert directives["script-src"] == "'self'"  # no inline script, no CDN
        assert directives["style-src"] == "'self'"
        assert directives["object-src"] == "'none'"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_case_and_task_pages_show_the_steps_as_text_and_load_the_viewer_locally(
    app: Flask, case_id: int, session: Session
) -> None:
    client = client_for(app, "operator")
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert f'data-bpmn-url="/cases/{case_id}/diagram.bpmn"' in page
    assert 'data-open="D_03_advise"' in page and 'data-done="D_02_reception"' in page
    assert "/static/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js" in page
    assert "16:00" in body_text(page)  # started at 10:00 UTC: the page shows Bishkek's time
    assert (
        "<script>" not in page
        and "https://" not in page
        and "http://" not in page.replace("http://localhost", "")
    )
    advise = session.scalar(
        select(HumanTask.id).where(HumanTask.instance_id == case_id, HumanTask.step_id == "D_03_advise")
    )
    text = body_text(client.get(f"/tasks/{advise}").get_data(as_text=True))
    # The text form of the diagram: the finished step and the current one, in Kyrgyz.
    assert "Арыз берүүчүнү кабыл алуу" in text and "Маалымат жана кеп-кеңеш берүү" in text
    assert "Учурдагы кадам" in text
    assert "<script" not in client.get("/").get_data(as_text=True)  # the inbox carries no script at all
