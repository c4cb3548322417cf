"""Attachments on the pages: taking uploads from a step's form, and downloading them."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, request, send_file
from flask_babel import format_decimal
from flask_babel import gettext as _

from engine.forms import schema as formlib
from engine.platform.models import Attachment
from engine.runtime import attachments

from .auth import db, kz, login_required

bp = Blueprint("files", __name__)


def _limit_mb() -> str:
    return format_decimal(round(kz().settings.max_attachment_bytes / (1024 * 1024), 1))


def refusal_message(err: attachments.AttachmentRefused) -> str:
    if err.reason == "too_large":
        return _("%(name)s is larger than %(size)s MB.", name=err.filename, size=_limit_mb())
    if err.reason == "empty":
        return _("%(name)s is empty.", name=err.filename)
    return _("%(name)s is not a PDF, JPEG, PNG, DOCX, XLSX, ODT or ODS file.", name=err.filename)


def file_fields(schema: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, kind) of the top-level file fields of a form."""
    out = []
    for name, node in (schema.get("properties") or {}).items():
        kind = formlib.field_kind(node)
        if kind in ("file", "files"):
            out.append((name, kind))
    return out


def take_uploads(
    task_id: int, instance_id: int, schema: dict[str, Any], data: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Store the files posted with a step's form and put their tokens into the data.

    Files already attached and kept (their checkboxes) stay; a token that is not this case's is
    dropped. Stored files are committed at once, so a submit that fails validation loses none.
    Returns (data, errors by field).
    """
    errors: dict[str, str] = {}
    data = dict(data)
    stored = False
    for name, kind in file_fields(schema):
        posted = data.get(name)
        kept_tokens = posted if isinstance(posted, list) else ([posted] if isinstance(posted, str) else [])
        kept = list(attachments.by_tokens(db(), instance_id, kept_tokens))
        kept = [t for t in kept_tokens if t in kept]
        new: list[str] = []
        for upload in request.files.getlist(name):
            if not upload or not upload.filename:
                continue
            try:
                row = attachments.store(
                    kz(), db(), g.user, task_id, name, attachments.Upload(upload.filename, upload.stream)
                )
            except attachments.AttachmentRefused as err:
                errors[name] = refusal_message(err)
                continue
            stored = True
            new.append(row.token)
        tokens = kept + new
        if kind == "file":
            tokens = tokens[-1:]
        if tokens:
            data[name] = tokens[0] if kind == "file" else tokens
        else:
            data.pop(name, None)
    if stored:
        db().commit()
    return data, errors


def attached(instance_id: int, data: dict[str, Any], schema: dict[str, Any]) -> dict[str, Attachment]:
    """The attachment rows behind the tokens in the data's file fields (for showing their names)."""
    tokens: list[str] = []
    for name, _kind in file_fields(schema):
        value = data.get(name)
        tokens += value if isinstance(value, list) else ([value] if isinstance(value, str) else [])
    return attachments.by_tokens(db(), instance_id, tokens)


@bp.route("/files/<token>")
@login_required
def download(token: str) -> Any:
    row, path = attachments.open_for(kz(), db(), g.user, token)
    resp = send_file(
        path, mimetype=row.content_type, as_attachment=True, download_name=row.filename, max_age=0, etag=False
    )
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    resp.headers["Cache-Control"] = "private, no-store"
    return resp
