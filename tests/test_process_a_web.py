"""Starting Process A from the pages: one button per initiative source (§2.3)."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

import webapp
from engine.platform.models import HumanTask
from engine.runtime.context import Kyzmat
from tests.test_web import body_text, html, login, task_id_of


@pytest.fixture
def specialist(kz: Kyzmat) -> FlaskClient:
    app: Flask = webapp.create_app({"TESTING": True, "WTF_CSRF_ENABLED": False}, kyzmat=kz)
    client = app.test_client()
    assert login(client, "specialist").status_code == 302
    return client


def test_start_page_offers_the_five_initiative_sources_in_kyrgyz(specialist: FlaskClient) -> None:
    page = html(specialist.get("/start"))
    assert page.count('name="start_event"') == 5
    text = body_text(page)
    assert "Муниципалдык кызматтардын кошумча тизмесин түзүү" in text
    assert "жергиликтүү кеңештердин депутаттарынын кайрылуулары" in text
    assert "Appeals of deputies" not in text


def test_a_source_button_starts_the_case(specialist: FlaskClient, session: Session) -> None:
    resp = specialist.post("/start/additional_list", data={"start_event": "A_01_I3_vulnerable"})
    assert resp.status_code == 302
    task_id = task_id_of(resp.headers["Location"])
    assert session.scalar(select(HumanTask.step_id).where(HumanTask.id == task_id)) == "A_01_receive"


@pytest.mark.parametrize("data", [{}, {"start_event": "A_16_organise"}])
def test_starting_without_a_valid_source_is_refused(
    specialist: FlaskClient, session: Session, data: dict
) -> None:
    before = session.scalar(select(HumanTask.id).order_by(HumanTask.id.desc()).limit(1))
    resp = specialist.post("/start/additional_list", data=data)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/start")
    assert session.scalar(select(HumanTask.id).order_by(HumanTask.id.desc()).limit(1)) == before
