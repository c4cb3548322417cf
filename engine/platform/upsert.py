"""INSERT ... ON CONFLICT DO NOTHING on SQLite and PostgreSQL: the idempotent write of outbox rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_ignore(session: Session, model: type[Any], values: dict[str, Any]) -> bool:
    """Insert one row unless a unique key already holds it; True when the row was inserted.

    On PostgreSQL a concurrent insert of the same key waits for the other transaction and then does
    nothing, so two workers never both believe they wrote it."""
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(model.__table__).values(**values).on_conflict_do_nothing()
    result = session.execute(stmt)
    return bool(result.rowcount)  # type: ignore[attr-defined]
