"""Files uploaded on a step: type checked by content, size limited, stored outside the web root.

A file is stored as `<attachments_dir>/<token[:2]>/<token>`, a random name that says nothing about
the upload's own name; the row in `attachment` keeps the name for display and the type that the
content (not the name, not the browser's Content-Type) showed. The form value of a file field is
the token. Who may download is who may see the case.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import filetype
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.accounts import access
from engine.platform import audit
from engine.platform.errors import Conflict, KyzmatError, NotFound
from engine.platform.models import Attachment, HumanTask, ProcessInstance, User
from engine.runtime.context import Kyzmat

# What an office needs: scans and photos of documents, and office documents. Zip-based office formats
# are recognised by the `filetype` library from the member names inside the zip (a plain zip is refused).
ALLOWED: dict[str, str] = {
    "application/pdf": "pdf",
    "image/jpeg": "jpg",
    "image/png": "png",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.oasis.opendocument.text": "odt",
    "application/vnd.oasis.opendocument.spreadsheet": "ods",
}
# filetype reads at most this many bytes to decide
_HEAD = 8192


class AttachmentRefused(KyzmatError):
    """The upload was not stored. `reason` is one of: empty, too_large, type."""

    def __init__(self, reason: str, filename: str) -> None:
        super().__init__(f"{filename}: refused ({reason})")
        self.reason = reason
        self.filename = filename


@dataclass
class Upload:
    filename: str
    stream: BinaryIO


def clean_filename(name: str) -> str:
    """The last path component, without control characters, at most 200 characters; never empty."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip().lstrip(".")
    return name[:200] or "file"


def path_of(kz: Kyzmat, token: str) -> Path:
    if not token.isalnum():
        raise NotFound("No such file")
    return Path(kz.settings.attachments_dir) / token[:2] / token


def detect(head: bytes) -> str | None:
    """The MIME type the content shows, if it is an allowed one."""
    kind = filetype.guess(head)
    if kind is None or kind.mime not in ALLOWED:
        return None
    return kind.mime


@dataclass
class Checked:
    """An upload whose size and content passed the checks, not yet stored."""

    filename: str
    data: bytes
    mime: str


def check_upload(kz: Kyzmat, upload: Upload) -> Checked:
    """Read one upload and check it: not empty, within the size limit, an allowed type by its content."""
    filename = clean_filename(upload.filename)
    limit = kz.settings.max_attachment_bytes
    data = upload.stream.read(limit + 1)
    if not data:
        raise AttachmentRefused("empty", filename)
    if len(data) > limit:
        raise AttachmentRefused("too_large", filename)
    mime = detect(data[:_HEAD])
    if mime is None:
        raise AttachmentRefused("type", filename)
    return Checked(filename, data, mime)


def write_file(kz: Kyzmat, data: bytes) -> str:
    """Write the bytes to the store under a new random token; return the token."""
    token = secrets.token_hex(24)
    path = path_of(kz, token)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".part")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
    return token


def add_row(
    kz: Kyzmat,
    session: Session,
    task: HumanTask,
    field: str,
    checked: Checked,
    token: str,
    actor: User | None,
) -> Attachment:
    """Record a written file as an attachment of the task's case (actor None: the public or the system)."""
    now = kz.clock.now()
    row = Attachment(
        token=token,
        instance_id=task.instance_id,
        task_id=task.id,
        field=field,
        filename=checked.filename,
        content_type=checked.mime,
        size=len(checked.data),
        sha256=hashlib.sha256(checked.data).hexdigest(),
        uploaded_by_id=actor.id if actor else None,
        uploaded_at=now,
    )
    session.add(row)
    audit.record(
        session,
        "attachment_added",
        at=now,
        actor_id=actor.id if actor else None,
        instance_id=task.instance_id,
        process_id=task.process_id,
        step_id=task.step_id,
        task_id=task.id,
        filename=checked.filename,
        token=token,
    )
    session.flush()
    return row


def store(kz: Kyzmat, session: Session, actor: User, task_id: int, field: str, upload: Upload) -> Attachment:
    """Check and store one uploaded file for an open step the actor may do."""
    task = session.get(HumanTask, task_id)
    if task is None:
        raise NotFound(f"No step {task_id}")
    access.require_act_on(actor, task)
    if task.status != "open":
        raise Conflict("This step has already been completed.")
    checked = check_upload(kz, upload)
    return add_row(kz, session, task, field, checked, write_file(kz, checked.data), actor)


def for_case(session: Session, instance_id: int) -> list[Attachment]:
    return list(
        session.scalars(
            select(Attachment).where(Attachment.instance_id == instance_id).order_by(Attachment.id)
        )
    )


def by_tokens(session: Session, instance_id: int, tokens: list[str]) -> dict[str, Attachment]:
    """The attachments of this case among `tokens` (a token of another case is not returned)."""
    wanted = [t for t in tokens if isinstance(t, str) and t.isalnum()]
    if not wanted:
        return {}
    rows = session.scalars(
        select(Attachment).where(Attachment.instance_id == instance_id, Attachment.token.in_(wanted))
    )
    return {r.token: r for r in rows}


def open_for(kz: Kyzmat, session: Session, actor: User, token: str) -> tuple[Attachment, Path]:
    """The attachment and its file, for a user who may see its case (Forbidden otherwise)."""
    row = session.scalar(select(Attachment).where(Attachment.token == token)) if token.isalnum() else None
    if row is None:
        raise NotFound("No such file")
    instance = session.get(ProcessInstance, row.instance_id)
    assert instance is not None
    access.require_view_case(actor, instance)
    path = path_of(kz, row.token)
    if not path.is_file():
        raise NotFound("The file is missing from the store")
    return row, path
