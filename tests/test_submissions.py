"""Initiatives (Process A) and complaints (Process B) submitted on public pages, and the attacks on them."""
# ruff: noqa: F811 - the fixtures app, client and frozen come from tests/test_citizens.py

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import timedelta

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

import webapp
from engine.citizens import submissions
from engine.platform.models import Attachment, HumanTask, Municipality, ProcessInstance, User
from engine.runtime import cases
from engine.runtime.context import Kyzmat
from tests.test_citizens import app, client, frozen  # noqa: F401 - the same frozen clock and app
from tests.test_web import body_text

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + b"\x00" * 40


def complaint_form(**over: object) -> dict[str, object]:
    form: dict[str, object] = {
        "municipality": "sadyrbaev",
        "kind": "citizen",
        "name": "Асель Бекова",
        "contact": "+996 555 123 456",
        "service_name": "Окуучуларды мектепке ташуу",
        "text": "Айыл өкмөтү кызматты себебин көрсөтпөстөн тизмеге киргизген жок.",
        "files": [(io.BytesIO(PDF), "арыз.pdf")],
    }
    form.update(over)
    return form


def initiative_form(**over: object) -> dict[str, object]:
    form: dict[str, object] = {
        "municipality": "kyzyl-adyr",
        "kind": "deputy",
        "name": "Депутат Т. Осмонов",
        "contact": "Кызыл-Адыр",
        "text": "Жалгыз бой карыларды кышында көмүр менен камсыз кылуу.",
        "files": [(io.BytesIO(PDF), "sunush.pdf"), (io.BytesIO(PNG), "photo.png")],
    }
    form.update(over)
    return form


def post(client: FlaskClient, path: str, form: dict[str, object], ip: str = "10.0.0.1"):
    """POST the form as multipart bytes (the test client's own encoder leaves a large body's temp file open)."""
    values = MultiDict()
    for key, value in form.items():
        if key == "files":
            for stream, name in value:  # type: ignore[attr-defined]
                values.add(key, FileStorage(stream, name, content_type="application/octet-stream"))
        else:
            values.add(key, value)
    boundary, body = encode_multipart(values)
    return client.post(
        path,
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        environ_base={"REMOTE_ADDR": ip},
    )


def token_of(resp) -> str:
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    found = re.fullmatch(r"/s/([0-9a-f]{64})/receipt", resp.headers["Location"])
    assert found, resp.headers["Location"]
    return found.group(1)


def case_of(session: Session, token: str) -> ProcessInstance:
    instance = session.scalar(select(ProcessInstance).where(ProcessInstance.public_token == token))
    assert instance is not None
    return instance


def open_tasks(session: Session, instance: ProcessInstance) -> list[HumanTask]:
    return list(
        session.scalars(
            select(HumanTask).where(HumanTask.instance_id == instance.id, HumanTask.status == "open")
        )
    )


# --------------------------------------------------------------------------- complaints: Process B


def test_a_complaint_starts_process_b_in_the_council_secretarys_inbox(
    client: FlaskClient, session: Session, kz: Kyzmat, user: Callable[[str], User]
) -> None:
    token = token_of(post(client, "/complaint", complaint_form()))
    instance = case_of(session, token)
    assert instance.process_id == "list_dispute"
    assert instance.started_by_id is None  # the system started it: nobody holds a claim
    assert instance.municipality.code == "sadyrbaev"
    [task] = open_tasks(session, instance)
    assert (task.step_id, task.role, task.municipality_id, task.claimed_by_id) == (
        "B_02_register_complaint",
        "council_secretary",
        instance.municipality_id,
        None,
    )
    # The council's secretary of that municipality finds it in the inbox; the secretary's form is filled in.
    inbox = cases.list_tasks(kz, session, user("council"), cases.InboxFilter())
    assert task.id in {t.id for t in inbox.items}
    view = cases.get_task(kz, session, user("council"), task.id)
    assert view.data["claimant_name"] == "Асель Бекова"
    assert view.data["claimant_kind"] == "citizen"
    assert view.data["claimant_contact"] == "+996 555 123 456"
    assert view.data["application_received_on"] == "2026-11-18"
    assert view.data["complaint_summary"].startswith("Айыл өкмөтү кызматты")
    # The attachment is stored by content and is the application file of the first step.
    [row] = session.scalars(select(Attachment).where(Attachment.instance_id == instance.id)).all()
    assert (row.filename, row.content_type, row.task_id, row.uploaded_by_id, row.field) == (
        "арыз.pdf",
        "application/pdf",
        task.id,
        None,
        "application_file",
    )
    assert view.data["application_file"] == row.token
    # The secretary completes the registration with what the citizen sent.
    cases.complete_task(
        kz,
        session,
        user("council"),
        task.id,
        {
            **{
                k: view.data[k]
                for k in (
                    "claimant_kind",
                    "claimant_name",
                    "application_received_on",
                    "complaint_summary",
                    "application_file",
                    "service_name",
                )
            },
            "complaint_about": "decision",
            "respondent": "aiyl_okmotu",
            "ground": "not_included_without_reasons",
        },
    )
    assert [t.step_id for t in open_tasks(session, instance)] == ["B_03_seek_agreement"]


def test_a_complaint_is_not_in_another_municipalitys_inbox(
    client: FlaskClient, session: Session, kz: Kyzmat, user: Callable[[str], User]
) -> None:
    token = token_of(post(client, "/complaint", complaint_form(municipality="kyzyl-adyr")))
    [task] = open_tasks(session, case_of(session, token))
    inbox = cases.list_tasks(kz, session, user("council"), cases.InboxFilter())  # council of D. Sadyrbaev
    assert task.id not in {t.id for t in inbox.items}


def test_receipt_and_status_pages_show_nothing_personal(client: FlaskClient, session: Session) -> None:
    token = token_of(post(client, "/complaint", complaint_form()))
    instance = case_of(session, token)
    receipt = client.get(f"/s/{token}/receipt")
    assert receipt.status_code == 200 and receipt.headers["Cache-Control"] == "no-store"
    page = receipt.get_data(as_text=True)
    assert f"/s/{token}" in page and "data:image/png;base64," in page
    assert str(instance.id) in body_text(page)
    status = client.get(f"/s/{token}")
    assert status.status_code == 200
    text = body_text(status.get_data(as_text=True))
    assert "Арызыңыз жергиликтүү кеңешке келип түштү" in text  # received, in plain Kyrgyz
    for personal in ("Асель", "Бекова", "555 123", "себебин көрсөтпөстөн", "арыз.pdf", "Окуучуларды"):
        assert personal not in text and personal not in receipt.get_data(as_text=True)
    ru = body_text(client.get(f"/s/{token}?lang=ru").get_data(as_text=True))
    assert "Ваша жалоба поступила в местный кенеш" in ru


# --------------------------------------------------------------------------- initiatives: Process A


@pytest.mark.parametrize("kind", sorted(submissions.INITIATIVE_SOURCES))
def test_an_initiative_starts_process_a_at_its_source_in_the_aiyl_okmotu(
    client: FlaskClient, session: Session, kz: Kyzmat, kind: str
) -> None:
    token = token_of(post(client, "/initiative", initiative_form(kind=kind)))
    instance = case_of(session, token)
    assert instance.process_id == "additional_list" and instance.municipality.code == "kyzyl-adyr"
    data = cases.case_data(kz, session, instance)
    assert data["start_event"] == submissions.INITIATIVE_SOURCES[kind]
    assert (
        data["initiative_source"]
        == {
            "citizen": "I-1",
            "consumers_association": "I-2",
            "vulnerable_groups_organisation": "I-3",
            "deputy": "I-4",
        }[kind]
    )
    [task] = open_tasks(session, instance)
    assert (task.step_id, task.role, task.municipality_id) == (
        "A_01_receive",
        "ao_specialist",
        instance.municipality_id,
    )
    files = session.scalars(
        select(Attachment).where(Attachment.instance_id == instance.id).order_by(Attachment.id)
    ).all()
    assert [(f.filename, f.content_type) for f in files] == [
        ("sunush.pdf", "application/pdf"),
        ("photo.png", "image/png"),
    ]
    assert data["documents"] == [f.token for f in files]
    assert data["initiator"] == "Депутат Т. Осмонов" and data["proposed_services"].startswith("Жалгыз бой")


def test_the_aiyl_okmotus_own_initiative_cannot_be_submitted_publicly(
    client: FlaskClient, session: Session
) -> None:
    before = session.scalar(select(func.count()).select_from(ProcessInstance))
    resp = post(client, "/initiative", initiative_form(kind="own"))
    assert resp.status_code == 422
    assert session.scalar(select(func.count()).select_from(ProcessInstance)) == before


def test_the_specialist_completes_the_first_step_with_what_was_submitted(
    client: FlaskClient, session: Session, kz: Kyzmat, user: Callable[[str], User]
) -> None:
    token = token_of(post(client, "/initiative", initiative_form(municipality="sadyrbaev", kind="citizen")))
    instance = case_of(session, token)
    [task] = open_tasks(session, instance)
    view = cases.get_task(kz, session, user("specialist"), task.id)
    data = {k: view.data[k] for k in ("initiator", "document_kind", "documents", "proposed_services")}
    cases.complete_task(kz, session, user("specialist"), task.id, {**data, "type": "formation"})
    assert [t.step_id for t in open_tasks(session, instance)] == ["A_03_focus_groups"]


# --------------------------------------------------------------------------- bad input and attacks


def test_bad_input_is_refused_with_messages_and_keeps_what_was_typed(
    client: FlaskClient, session: Session
) -> None:
    before = session.scalar(select(func.count()).select_from(ProcessInstance))
    resp = post(client, "/complaint", complaint_form(municipality="nowhere", name="", kind="alien"))
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert "Бул талааны толтуруңуз." in body_text(page)
    assert "Айыл өкмөтү кызматты себебин көрсөтпөстөн" in page  # the text typed is still there
    assert session.scalar(select(func.count()).select_from(ProcessInstance)) == before


def test_a_file_that_is_not_a_document_is_refused(client: FlaskClient, session: Session, kz: Kyzmat) -> None:
    before = session.scalar(select(func.count()).select_from(ProcessInstance))
    html = b"<html><script>alert(1)</script></html>"
    resp = post(client, "/complaint", complaint_form(files=[(io.BytesIO(html), "scan.pdf")]))
    assert resp.status_code == 422
    assert "scan.pdf" in body_text(resp.get_data(as_text=True))
    assert session.scalar(select(func.count()).select_from(ProcessInstance)) == before
    assert session.scalar(select(func.count()).select_from(Attachment)) == 0


def test_too_many_or_too_large_files_are_refused(client: FlaskClient, session: Session, kz: Kyzmat) -> None:
    many = [(io.BytesIO(PDF), f"{i}.pdf") for i in range(submissions.MAX_FILES + 1)]
    assert post(client, "/complaint", complaint_form(files=many)).status_code == 422
    big = PDF + b"0" * kz.settings.max_attachment_bytes
    resp = post(client, "/complaint", complaint_form(files=[(io.BytesIO(big), "big.pdf")]))
    assert resp.status_code == 422
    assert "big.pdf" in body_text(resp.get_data(as_text=True))
    assert (
        session.scalar(
            select(func.count())
            .select_from(ProcessInstance)
            .where(ProcessInstance.process_id == "list_dispute")
        )
        == 0
    )


def test_an_oversized_request_is_refused_before_it_is_read(app: Flask, client: FlaskClient) -> None:
    huge = b"0" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    resp = client.post("/complaint", data=huge, content_type="multipart/form-data; boundary=x")
    assert resp.status_code == 413


def test_text_longer_than_the_limit_is_refused(client: FlaskClient) -> None:
    assert post(client, "/complaint", complaint_form(text="ы" * 4001)).status_code == 422
    assert post(client, "/initiative", initiative_form(name="ы" * 301)).status_code == 422


def test_the_form_refuses_a_post_without_the_csrf_token(kz: Kyzmat, session: Session) -> None:
    app = webapp.create_app({"TESTING": True}, kyzmat=kz)  # CSRF protection on, as in production
    client = app.test_client()
    page = client.get("/complaint")
    assert page.status_code == 200
    before = session.scalar(select(func.count()).select_from(ProcessInstance))
    assert post(client, "/complaint", complaint_form()).status_code == 400
    assert session.scalar(select(func.count()).select_from(ProcessInstance)) == before
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert csrf is not None
    token_of(post(client, "/complaint", complaint_form(csrf_token=csrf.group(1))))


def test_submissions_per_address_are_limited(
    client: FlaskClient, session: Session, frozen: time_machine.Coordinates
) -> None:
    for _ in range(submissions.SUBMISSIONS_PER_WINDOW):
        token_of(post(client, "/complaint", complaint_form(), ip="10.9.9.9"))
    refused = post(client, "/complaint", complaint_form(), ip="10.9.9.9")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    count = session.scalar(
        select(func.count()).select_from(ProcessInstance).where(ProcessInstance.process_id == "list_dispute")
    )
    assert count == submissions.SUBMISSIONS_PER_WINDOW
    token_of(post(client, "/complaint", complaint_form(), ip="10.9.9.10"))  # another address is not slowed
    frozen.shift(submissions.SUBMISSION_WINDOW + timedelta(seconds=1))
    token_of(post(client, "/complaint", complaint_form(), ip="10.9.9.9"))  # the window ended


def test_guessed_receipt_links_are_404_and_slowed(client: FlaskClient) -> None:
    for _ in range(10):
        assert (
            client.get(f"/s/{'ab' * 32}/receipt", environ_base={"REMOTE_ADDR": "10.7.7.7"}).status_code == 404
        )
    assert client.get(f"/s/{'cd' * 32}/receipt", environ_base={"REMOTE_ADDR": "10.7.7.7"}).status_code == 429


def test_a_csc_case_has_no_appeal_receipt(
    client: FlaskClient, session: Session, kz: Kyzmat, user: Callable[[str], User]
) -> None:
    instance = cases.start_case(kz, session, user("operator"), "citizen_service")
    session.commit()
    assert client.get(f"/s/{instance.public_token}/receipt").status_code == 404


def test_the_form_pages_are_in_kyrgyz_and_russian(client: FlaskClient, session: Session) -> None:
    ky = body_text(client.get("/complaint").get_data(as_text=True))
    assert "Кошумча тизме боюнча даттануу" in ky and "Complaint" not in ky
    ru = body_text(client.get("/initiative?lang=ru").get_data(as_text=True))
    assert "Предложить услугу для Дополнительного перечня" in ru
    muni = session.scalar(select(Municipality).where(Municipality.code == "sadyrbaev"))
    assert muni is not None and muni.names["ru"] in ru


def test_extra_posted_fields_do_not_reach_the_case(client: FlaskClient, session: Session, kz: Kyzmat) -> None:
    """Only the form's own fields go into the case: no rerouting the step, no choosing the start event."""
    form = complaint_form(
        task_municipality="kyzyl-adyr",
        start_event="A_01_I5_own",
        initiative_source="I-5",
        started_by="council",
        priority="high",
    )
    instance = case_of(session, token_of(post(client, "/complaint", form)))
    [task] = open_tasks(session, instance)
    assert (
        task.municipality_id
        == instance.municipality_id
        == session.scalar(select(Municipality.id).where(Municipality.code == "sadyrbaev"))
    )
    assert task.priority == "normal"
    data = cases.case_data(kz, session, instance)
    assert data["started_by"] == "system"
    assert not {"task_municipality", "start_event", "initiative_source", "priority"} & set(data)


def test_the_initiatives_status_follows_its_steps(
    client: FlaskClient, session: Session, kz: Kyzmat, user: Callable[[str], User]
) -> None:
    token = token_of(post(client, "/initiative", initiative_form(municipality="sadyrbaev", kind="citizen")))
    html = client.get(f"/s/{token}").get_data(as_text=True)
    assert "Демилгеңиз айыл өкмөтүнө келип түштү жана катталууда." in body_text(html)
    assert 'href="/board/sadyrbaev"' in html  # where the draft list will be published
    instance = case_of(session, token)
    [task] = open_tasks(session, instance)
    view = cases.get_task(kz, session, user("specialist"), task.id)
    cases.complete_task(
        kz,
        session,
        user("specialist"),
        task.id,
        {
            **{k: view.data[k] for k in ("initiator", "document_kind", "documents", "proposed_services")},
            "type": "formation",
        },
    )
    session.commit()
    page = body_text(client.get(f"/s/{token}?lang=ru").get_data(as_text=True))
    assert "Ваша инициатива рассматривается" in page
    assert "Асель" not in page and "Жалгыз бой" not in page
