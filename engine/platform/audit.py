"""The append-only audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from engine.platform.models import AuditEvent

_INSERT = AuditEvent.__table__.insert()


def record(
    session: Session,
    action: str,
    *,
    at: datetime,
    actor_id: int | None = None,
    instance_id: int | None = None,
    process_id: str | None = None,
    step_id: str | None = None,
    **detail: Any,
) -> None:
    """Append one audit event, in the session's transaction.

    A Core INSERT, not an ORM object: the trail is only ever appended to and read back by
    queries, and the unit of work's bookkeeping cost more than the insert (docs/benchmarks.md)."""
    session.connection().execute(
        _INSERT,
        {
            "at": at,
            "actor_id": actor_id,
            "action": action,
            "instance_id": instance_id,
            "process_id": process_id,
            "step_id": step_id,
            "detail": detail,
        },
    )


@event.listens_for(AuditEvent, "before_update")
def _refuse_update(*_: Any) -> None:
    raise RuntimeError("audit events are append-only")


@event.listens_for(AuditEvent, "before_delete")
def _refuse_delete(*_: Any) -> None:
    raise RuntimeError("audit events are append-only")
