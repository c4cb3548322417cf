"""A step's form on the page: every field kind rendered, server validation beside the field in the user's
language, nothing typed lost (rows and files included), drafts, and attachments with their attacks."""

from __future__ import annotations

import dataclasses
import io
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.platform.models import Attachment, AuditEvent, HumanTask
from engine.runtime.context import Kyzmat
from tests.test_web import REQUIRED_KY, body_text, html, login
from tests.web_fixtures import *  # noqa: F403 - the fixtures app and frozen (autouse)
from tests.web_fixtures import publish_all_fields

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200
HTML_PAGE = b"<!doctype html><html><script>alert(document.cookie)</script></html>"


def docx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("_rels/.rels", "<Relationships/>")
        z.writestr("word/document.xml", "<w:document/>")
    return buf.getvalue()


VALID = {
    "title": "Салам",
    "count": "3",
    "visit_date": "2026-11-20",
    "kind": "a",
    "tags": ["x", "y"],
    "agree": "yes",
    "people-0-name": "Асан",
    "people-0-age": "40",
}


@pytest.fixture
def form_task(kz: Kyzmat, session: Session, tmp_path: Path, app: Flask) -> tuple[FlaskClient, int]:
    """The operator logged in, on the open step of a new all-fields case."""
    publish_all_fields(session, tmp_path / "forms", kz.clock.now())
    client = app.test_client()
    assert login(client, "operator").status_code == 302
    resp = client.post("/start/all_fields")
    assert resp.status_code == 302, html(resp)
    match = re.search(r"/tasks/(\d+)$", resp.headers["Location"])
    assert match
    return client, int(match.group(1))


def post(
    client: FlaskClient,
    task_id: int,
    form: dict[str, Any],
    files: dict[str, Any] | None = None,
    action: str = "complete",
) -> Any:
    data: dict[str, Any] = {**form, "action": action}
    for name, value in (files or {}).items():
        data[name] = value
    return client.post(f"/tasks/{task_id}", data=data, content_type="multipart/form-data")


def test_every_field_kind_is_rendered_with_label_help_and_required_mark(
    form_task: tuple[FlaskClient, int],
) -> None:
    client, task_id = form_task
    page = html(client.get(f"/tasks/{task_id}"))
    assert 'enctype="multipart/form-data"' in page
    assert re.search(
        r'<label for="title">Аталышы <span class="req" aria-label="[^"]+">\*</span></label>', page
    )
    assert re.search(r'id="title" name="title" aria-describedby="title-help"', page)
    assert '<p class="help" id="title-help">Кыскача жазыңыз</p>' in page
    assert re.search(r'<textarea id="notes" name="notes"', page)
    assert re.search(r'<input id="count" name="count"[^>]*inputmode="decimal"', page)
    assert re.search(r'<input id="visit_date" name="visit_date"[^>]*type="date"', page)
    assert re.search(r'<select id="kind" name="kind"', page) and ">Биринчи</option>" in page
    assert re.search(r'<input type="checkbox" name="tags" value="x"', page) and "Игрек" in page
    assert re.search(r'<input type="radio" name="agree" value="yes"', page)
    # A conditional field carries its condition; without JavaScript it is simply shown.
    assert re.search(r"data-show-if='\{\"agree\": false\}'", page)
    # Repeated rows: one empty row to fill, named people-<i>-<field>.
    assert re.search(r'<input id="people-0-name" name="people-0-name"', page)
    assert re.search(r'<input id="scan" name="scan" type="file"', page)
    assert re.search(r'<input id="extras" name="extras" type="file" multiple', page)
    # Not one English label or help text in the Kyrgyz page.
    text = body_text(page)
    for english in ("Title", "Briefly", "Notes", "Count", "Second", "Agree", "Reason", "People", "Scan"):
        assert not re.search(rf"\b{english}\b", text), english


def test_validation_messages_sit_beside_their_fields_and_nothing_typed_is_lost(
    form_task: tuple[FlaskClient, int], session: Session
) -> None:
    client, task_id = form_task
    form = {
        "title": "x" * 25,
        "notes": "көп\nсаптуу",
        "count": "99",
        "amount": "1 000,5",
        "visit_date": "32.13.2026",
        "kind": "b",
        "tags": ["y"],
        "agree": "no",
        "people-0-name": "Асан",
        "people-0-age": "-1",
        "people-1-name": "",
        "people-1-age": "7",
    }
    resp = post(client, task_id, form, {"scan": (io.BytesIO(PNG), "скан.png")})
    assert resp.status_code == 422
    page = html(resp)
    errors = dict(re.findall(r'<p class="error" id="([\w-]+)-error" role="alert">([^<]+)</p>', page))
    assert set(errors) == {"title", "count", "visit_date", "reason", "people-0-age", "people-1-name"}
    assert errors["reason"] == REQUIRED_KY  # required by if/then because agree is "no"
    assert errors["people-1-name"] == REQUIRED_KY
    assert re.search(r'aria-describedby="[^"]*count-error', page)
    # What was typed is shown again, rows and the uploaded file included.
    assert re.search(r'id="title" name="title"[^>]*value="x{25}"', page)
    assert ">көп\nсаптуу</textarea>" in page
    assert re.search(r'id="count" name="count"[^>]*value="99"', page)
    assert re.search(r'id="amount" name="amount"[^>]*value="1000.5"', page)
    # (a DD.MM.YYYY date is turned into YYYY-MM-DD, the form a date input shows; the impossible day stays)
    assert re.search(r'id="visit_date" name="visit_date"[^>]*value="2026-13-32"', page)
    assert re.search(r'<option value="b" selected>', page)
    assert re.search(r'name="tags" value="y" checked', page) and not re.search(
        r'name="tags" value="x" checked', page
    )
    assert re.search(r'name="agree" value="no" checked', page)
    assert re.search(r'id="people-0-age" name="people-0-age"[^>]*value="-1"', page)
    assert re.search(r'id="people-1-age" name="people-1-age"[^>]*value="7"', page)
    token = session.scalar(select(Attachment.token).where(Attachment.filename == "скан.png"))
    assert token is not None
    assert re.search(rf'<input type="checkbox" name="scan" value="{token}" checked>', page)
    assert "скан.png" in page
    # The step is still open, and the file is kept for the next try: no need to upload it again.
    assert session.scalar(select(HumanTask.status).where(HumanTask.id == task_id)) == "open"
    fixed = {
        **form,
        "title": "Салам",
        "count": "5",
        "visit_date": "20.11.2026",
        "reason": "себеби",
        "people-0-age": "40",
        "people-1-name": "Айгүл",
        "scan": token,
    }
    done = post(client, task_id, fixed)
    assert done.status_code == 302, body_text(html(done))
    assert session.scalar(select(HumanTask.status).where(HumanTask.id == task_id)) == "completed"


def test_messages_follow_the_users_language(form_task: tuple[FlaskClient, int]) -> None:
    client, task_id = form_task
    client.post("/lang/ru")
    page = html(post(client, task_id, {"title": "Салам"}))
    assert '<p class="error" id="count-error" role="alert">Обязательное поле.</p>' in page
    assert "Количество" in body_text(page)


def test_a_draft_keeps_rows_and_files(form_task: tuple[FlaskClient, int], session: Session) -> None:
    client, task_id = form_task
    resp = post(
        client,
        task_id,
        {"title": "Черновик", "people-0-name": "Асан", "people-1-name": "Бакыт"},
        {"extras": [(io.BytesIO(PDF), "a.pdf"), (io.BytesIO(docx()), "b.docx")]},
        action="draft",
    )
    assert resp.status_code == 302
    page = html(client.get(f"/tasks/{task_id}"))
    assert re.search(r'id="title" name="title"[^>]*value="Черновик"', page)
    assert re.search(r'id="people-1-name" name="people-1-name"[^>]*value="Бакыт"', page)
    assert "a.pdf" in page and "b.docx" in page
    kinds = session.scalars(
        select(Attachment.content_type).where(Attachment.task_id == task_id).order_by(Attachment.id)
    ).all()
    assert kinds == [
        "application/pdf",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ]


def test_a_valid_submit_with_files_completes_and_lists_them_on_the_case(
    form_task: tuple[FlaskClient, int], session: Session, kz: Kyzmat
) -> None:
    client, task_id = form_task
    resp = post(
        client,
        task_id,
        VALID,
        {
            "scan": (io.BytesIO(PNG), "../../etc/passwd.png"),
            "extras": [(io.BytesIO(PDF), "C:\\Users\\x\\акт.pdf")],
        },
    )
    assert resp.status_code == 302, body_text(html(resp))
    rows = session.scalars(
        select(Attachment).where(Attachment.task_id == task_id).order_by(Attachment.id)
    ).all()
    assert rows[0].filename == "passwd.png"  # the path is dropped
    # (the multipart parser already eats the backslashes of a Windows path; no separator is left either way)
    assert rows[1].filename.endswith("акт.pdf") and not set(rows[1].filename) & {"/", "\\"}
    for row in rows:
        stored = Path(kz.settings.attachments_dir) / row.token[:2] / row.token
        assert stored.is_file() and row.filename not in str(stored)
        assert stored.resolve().is_relative_to(Path(kz.settings.attachments_dir).resolve())
    instance_id = session.scalar(select(HumanTask.instance_id).where(HumanTask.id == task_id))
    case = html(client.get(f"/cases/{instance_id}"))
    assert f'href="/files/{rows[0].token}"' in case and rows[1].filename in case
    # The completed step's data holds the tokens.
    events = session.scalars(select(AuditEvent.action).where(AuditEvent.instance_id == instance_id)).all()
    assert events.count("attachment_added") == 2 and "task_completed" in events
    download = client.get(f"/files/{rows[1].token}")
    assert download.status_code == 200
    assert download.data == PDF
    assert download.headers["Content-Type"] == "application/pdf"
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["Content-Disposition"].endswith("%D0%B0%D0%BA%D1%82.pdf")
    download.close()


@pytest.mark.parametrize(
    ("content", "name"),
    [(EXE, "акт.pdf"), (HTML_PAGE, "scan.png"), (b"plain text", "a.txt"), (EXE, "setup.exe")],
)
def test_files_are_judged_by_their_content_not_their_name(
    form_task: tuple[FlaskClient, int], session: Session, content: bytes, name: str
) -> None:
    client, task_id = form_task
    resp = post(client, task_id, VALID, {"scan": (io.BytesIO(content), name)})
    assert resp.status_code == 422
    page = html(resp)
    assert re.search(
        rf'<p class="error" id="scan-error" role="alert">{re.escape(name)} — PDF, JPEG, PNG', page
    )
    assert re.search(r'id="title" name="title"[^>]*value="Салам"', page)  # the rest is kept
    assert session.scalar(select(Attachment.id).where(Attachment.task_id == task_id)) is None
    assert session.scalar(select(HumanTask.status).where(HumanTask.id == task_id)) == "open"


def test_an_oversize_file_is_refused_with_the_limit(
    form_task: tuple[FlaskClient, int], kz: Kyzmat, session: Session
) -> None:
    client, task_id = form_task
    # (kept under 500 KB: a bigger test-client body is spooled to a temporary file werkzeug never closes)
    kz.settings = dataclasses.replace(kz.settings, max_attachment_bytes=400 * 1024)
    big = PDF + b"0" * (400 * 1024)
    resp = post(client, task_id, VALID, {"scan": (io.BytesIO(big), "big.pdf")})
    assert resp.status_code == 422
    assert '<p class="error" id="scan-error" role="alert">big.pdf файлы 0,4 МБдан чоң.</p>' in html(resp)
    assert session.scalar(select(Attachment.id)) is None
    stored = Path(kz.settings.attachments_dir)
    assert not stored.exists() or not any(p.is_file() for p in stored.rglob("*"))


def test_another_municipality_cannot_download_nor_reuse_a_token(
    form_task: tuple[FlaskClient, int], app: Flask, session: Session
) -> None:
    client, task_id = form_task
    assert (
        post(
            client, task_id, {"title": "x"}, {"scan": (io.BytesIO(PNG), "p.png")}, action="draft"
        ).status_code
        == 302
    )
    token = session.scalar(select(Attachment.token).where(Attachment.task_id == task_id))
    assert token
    other = app.test_client()
    assert login(other, "operator2").status_code == 302
    resp = other.get(f"/files/{token}")
    assert resp.status_code == 403
    assert PNG not in resp.data
    assert app.test_client().get(f"/files/{token}").status_code == 302  # not logged in: to the login page
    assert client.get("/files/0123456789abcdef").status_code == 404
    assert client.get("/files/..%2F..%2Fsecret_key").status_code == 404
    # The other municipality's operator starts their own case and posts the stolen token as theirs.
    resp = other.post("/start/all_fields")
    their_task = int(resp.headers["Location"].rsplit("/", 1)[1])
    page = html(post(other, their_task, {"title": "y", "scan": token}, action="draft"))
    draft = session.scalar(select(HumanTask.draft).where(HumanTask.id == their_task))
    assert draft is not None and "scan" not in draft
    assert token not in page
