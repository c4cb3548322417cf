"""Tables. Instance rows hold only their own state; inbox and scheduler read the read models."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from uuid import uuid4

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.platform.db import Base, UTCDateTime

intpk = Annotated[int, mapped_column(primary_key=True)]
utc = Annotated[datetime, mapped_column(UTCDateTime())]
Labels = dict[str, str]


def new_token() -> str:
    return uuid4().hex


class Municipality(Base):
    __tablename__ = "municipality"

    id: Mapped[intpk]
    code: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="aiyl_okmotu")  # aiyl_okmotu | city
    names: Mapped[dict[str, Any]] = mapped_column(JSON)
    region: Mapped[str] = mapped_column(String(100), default="")
    district: Mapped[str] = mapped_column(String(100), default="")
    journal_prefix: Mapped[str] = mapped_column(String(8))
    remote_villages: Mapped[list[str]] = mapped_column(JSON, default=list)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class User(Base):
    __tablename__ = "app_user"

    id: Mapped[intpk]
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    full_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(200))
    locale: Mapped[str] = mapped_column(String(5), default="ky")
    email_digest: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[utc]

    grants: Mapped[list[RoleGrant]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )


class RoleGrant(Base):
    """A role a user holds in one municipality, or nationally (municipality_id is NULL)."""

    __tablename__ = "role_grant"
    __table_args__ = (UniqueConstraint("user_id", "role", "municipality_id"),)

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(32))
    municipality_id: Mapped[int | None] = mapped_column(ForeignKey("municipality.id"))

    user: Mapped[User] = relationship(back_populates="grants")


class ProcessVersion(Base):
    """An immutable published diagram, keyed by its content hash; the parsed spec is stored once."""

    __tablename__ = "process_version"
    __table_args__ = (UniqueConstraint("process_id", "number"),)

    id: Mapped[intpk]
    process_id: Mapped[str] = mapped_column(String(64), index=True)
    number: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)  # not unique: a rollback republishes
    bpmn_xml: Mapped[str] = mapped_column(Text, deferred=True)
    dmn_xml: Mapped[dict[str, str]] = mapped_column(JSON, deferred=True, default=dict)
    forms: Mapped[dict[str, Any]] = mapped_column(JSON, deferred=True, default=dict)
    spec_json: Mapped[str] = mapped_column(Text, deferred=True)
    names: Mapped[dict[str, Any]] = mapped_column(JSON)
    info: Mapped[dict[str, Any]] = mapped_column(JSON, deferred=True)
    note: Mapped[str] = mapped_column(Text, default="")
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    published_at: Mapped[utc]
    # A municipality's own variant of the process (None: the national version); see processes.latest_version.
    municipality_id: Mapped[int | None] = mapped_column(ForeignKey("municipality.id"), index=True)


class ProcessDraft(Base):
    """The diagram and forms a process owner is editing, before they are published as a version."""

    __tablename__ = "process_draft"
    __table_args__ = (UniqueConstraint("process_id", "municipality_id"),)

    id: Mapped[intpk]
    process_id: Mapped[str] = mapped_column(String(64))
    bpmn_xml: Mapped[str] = mapped_column(Text)
    forms: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=dict
    )  # forms/ path -> schema, edited ones only
    base_version_id: Mapped[int | None] = mapped_column(ForeignKey("process_version.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[utc]
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    updated_at: Mapped[utc]
    municipality_id: Mapped[int | None] = mapped_column(
        ForeignKey("municipality.id")
    )  # the variant it is for


class ProcessInstance(Base):
    """A case. `state` is the SpiffWorkflow serialization without the spec."""

    __tablename__ = "process_instance"

    id: Mapped[intpk]
    version_id: Mapped[int] = mapped_column(ForeignKey("process_version.id"))
    process_id: Mapped[str] = mapped_column(String(64), index=True)
    municipality_id: Mapped[int | None] = mapped_column(ForeignKey("municipality.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="running", index=True)  # running|completed|error
    state: Mapped[str] = mapped_column(Text, deferred=True)
    lock_version: Mapped[int] = mapped_column(Integer, nullable=False)
    revision: Mapped[str] = mapped_column(String(32), default=new_token)
    reference: Mapped[str | None] = mapped_column(String(64), index=True)
    subject: Mapped[str | None] = mapped_column(String(300))
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    public_token: Mapped[str] = mapped_column(
        String(64), unique=True, default=lambda: uuid4().hex + uuid4().hex
    )
    error: Mapped[str | None] = mapped_column(Text)
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    started_at: Mapped[utc]
    updated_at: Mapped[utc]
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    version: Mapped[ProcessVersion] = relationship(lazy="select")
    municipality: Mapped[Municipality | None] = relationship(lazy="joined")

    __mapper_args__ = {"version_id_col": lock_version}


class HumanTask(Base):
    """Read model: one row per human task, open or done, written with the instance state."""

    __tablename__ = "human_task"
    __table_args__ = (
        Index("ix_human_task_open", "status", "role", "municipality_id", "due_at"),
        UniqueConstraint("task_uuid"),
    )

    id: Mapped[intpk]
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("process_instance.id", ondelete="CASCADE"), index=True
    )
    task_uuid: Mapped[str] = mapped_column(String(36))
    process_id: Mapped[str] = mapped_column(String(64))
    step_id: Mapped[str] = mapped_column(String(128))
    names: Mapped[dict[str, Any]] = mapped_column(JSON)
    role: Mapped[str] = mapped_column(String(32))
    municipality_id: Mapped[int | None] = mapped_column(ForeignKey("municipality.id"))
    form: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="open")  # open|completed|cancelled
    priority: Mapped[str] = mapped_column(String(8), default="normal")
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    draft: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[utc]
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)

    instance: Mapped[ProcessInstance] = relationship(lazy="joined")


class Timer(Base):
    """Read model: one row per waiting timer event; the scheduler claims due rows."""

    __tablename__ = "timer"
    __table_args__ = (
        Index("ix_timer_due", "status", "due_at"),
        UniqueConstraint("task_uuid"),
    )

    id: Mapped[intpk]
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("process_instance.id", ondelete="CASCADE"), index=True
    )
    task_uuid: Mapped[str] = mapped_column(String(36))
    element_id: Mapped[str] = mapped_column(String(128))
    attached_to: Mapped[str | None] = mapped_column(String(128))
    due_at: Mapped[utc]
    status: Mapped[str] = mapped_column(String(16), default="waiting")  # waiting|fired|cancelled
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuditEvent(Base):
    """Append-only: who did what, when, to which case."""

    __tablename__ = "audit_event"

    id: Mapped[intpk]
    at: Mapped[utc] = mapped_column(index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    action: Mapped[str] = mapped_column(String(48), index=True)
    instance_id: Mapped[int | None] = mapped_column(
        ForeignKey("process_instance.id", ondelete="SET NULL"), index=True
    )
    process_id: Mapped[str | None] = mapped_column(String(64))
    step_id: Mapped[str | None] = mapped_column(String(128))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CalendarException(Base):
    """A decree's correction of the calendar: an extra day off or a working Saturday."""

    __tablename__ = "calendar_exception"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    working: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[utc]


class JournalCounter(Base):
    """The registration journal's next number, per municipality and year."""

    __tablename__ = "journal_counter"

    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


class EvaluationSheet(Base):
    """An evaluation sheet's answers, anonymous: no case id, no applicant. `receipt_digest` is an HMAC of
    the receipt's public token under the server secret, so each receipt is evaluated once (unique) while
    the database alone does not lead from an answer back to a case."""

    __tablename__ = "evaluation_sheet"

    id: Mapped[intpk]
    receipt_digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"), index=True)
    service_code: Mapped[str] = mapped_column(String(32), index=True)
    appeal_date: Mapped[date] = mapped_column(Date, index=True)
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    variant: Mapped[str] = mapped_column(String(8))  # short | full
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(8), default="online")  # online | paper
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    submitted_at: Mapped[utc]


class RateLimit(Base):
    """Failed public-link lookups per client in the current window (shared by every web worker)."""

    __tablename__ = "rate_limit"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    window_start: Mapped[utc]
    failures: Mapped[int] = mapped_column(Integer, default=0)


class Attachment(Base):
    """A file uploaded on a step: stored under the attachments directory by its random token."""

    __tablename__ = "attachment"

    id: Mapped[intpk]
    token: Mapped[str] = mapped_column(String(64), unique=True)  # the stored file's name and the form value
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("process_instance.id", ondelete="CASCADE"), index=True
    )
    task_id: Mapped[int | None] = mapped_column(ForeignKey("human_task.id", ondelete="SET NULL"))
    field: Mapped[str] = mapped_column(String(128), default="")
    filename: Mapped[str] = mapped_column(String(255))  # the uploader's name for it, for display only
    content_type: Mapped[str] = mapped_column(String(100))  # detected from the content
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    uploaded_at: Mapped[utc]


class Notification(Base):
    """An in-app notification (a reminder or an escalation) for one user; `key` makes it idempotent."""

    __tablename__ = "notification"
    __table_args__ = (
        UniqueConstraint("key"),
        Index("ix_notification_user_unread", "user_id", "read_at"),
    )

    id: Mapped[intpk]
    key: Mapped[str] = mapped_column(String(120))  # "<task id>:<kind>:<user id>"
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))  # before_2 | due | overdue_1 | escalation
    task_id: Mapped[int | None] = mapped_column(ForeignKey("human_task.id", ondelete="CASCADE"), index=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[utc]
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    digest_pending: Mapped[bool] = mapped_column(Boolean, default=False, index=True)


class EmailOutbox(Base):
    """An e-mail waiting to leave (or sent, or given up on); the worker delivers it after the commit."""

    __tablename__ = "email_outbox"
    __table_args__ = (
        UniqueConstraint("key"),
        Index("ix_email_outbox_due", "status", "next_attempt_at"),
    )

    id: Mapped[intpk]
    key: Mapped[str] = mapped_column(String(120))  # the notification's key, or "digest:<user id>:<date>"
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    to_addr: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[utc]
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[utc]
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
