"""Which published version new cases follow: the newest national one or a municipality's own variant."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.orm import Session

from engine.platform.errors import NotFound
from engine.platform.models import ProcessVersion


def of_scope(municipality_id: int | None) -> Any:
    """The national versions (None) or one municipality's variants."""
    if municipality_id is None:
        return ProcessVersion.municipality_id.is_(None)
    return ProcessVersion.municipality_id == municipality_id


# Built once (every case start runs them): the national versions, or one municipality's own
# versions sorted before the national ones; the newest first.
_LATEST_NATIONAL = (
    select(ProcessVersion.id)
    .where(ProcessVersion.process_id == bindparam("process_id"), of_scope(None))
    .order_by(ProcessVersion.number.desc())
    .limit(1)
)
_LATEST_FOR = (
    select(ProcessVersion.id)
    .where(
        ProcessVersion.process_id == bindparam("process_id"),
        or_(ProcessVersion.municipality_id == bindparam("municipality_id"), of_scope(None)),
    )
    .order_by(ProcessVersion.municipality_id.is_(None), ProcessVersion.number.desc())
    .limit(1)
)


# ... and the same as whole rows: {national?: (id statement, row statement)}.
_LATEST = {
    national: (ids, select(ProcessVersion).where(ProcessVersion.id == ids.scalar_subquery()))
    for national, ids in ((True, _LATEST_NATIONAL), (False, _LATEST_FOR))
}


def latest_version(session: Session, process_id: str, municipality_id: int | None = None) -> ProcessVersion:
    """The version new cases follow: the newest national one, or with ``municipality_id`` that
    municipality's newest own variant when it has one (else the newest national version)."""
    return _latest(session, 1, process_id, municipality_id)


def latest_version_id(session: Session, process_id: str, municipality_id: int | None = None) -> int:
    """The id of `latest_version` (one query, no row loaded)."""
    return int(_latest(session, 0, process_id, municipality_id))


def _latest(session: Session, which: int, process_id: str, municipality_id: int | None) -> Any:
    found = session.scalar(
        _LATEST[municipality_id is None][which],
        {"process_id": process_id, "municipality_id": municipality_id},
    )
    if found is None:
        raise NotFound(f"No published process {process_id!r}")
    return found


def latest_versions(session: Session) -> list[ProcessVersion]:
    """The newest national version of every process."""
    newest = (
        select(ProcessVersion.process_id, func.max(ProcessVersion.number).label("n"))
        .where(of_scope(None))
        .group_by(ProcessVersion.process_id)
        .subquery()
    )
    return list(
        session.scalars(
            select(ProcessVersion)
            .join(
                newest,
                (ProcessVersion.process_id == newest.c.process_id) & (ProcessVersion.number == newest.c.n),
            )
            .order_by(ProcessVersion.process_id)
        )
    )


def latest_variants(session: Session) -> list[ProcessVersion]:
    """The newest own variant of every process in every municipality that has one."""
    newest = (
        select(
            ProcessVersion.process_id,
            ProcessVersion.municipality_id,
            func.max(ProcessVersion.number).label("n"),
        )
        .where(ProcessVersion.municipality_id.is_not(None))
        .group_by(ProcessVersion.process_id, ProcessVersion.municipality_id)
        .subquery()
    )
    return list(
        session.scalars(
            select(ProcessVersion)
            .join(
                newest,
                (ProcessVersion.process_id == newest.c.process_id) & (ProcessVersion.number == newest.c.n),
            )
            .order_by(ProcessVersion.process_id, ProcessVersion.municipality_id)
        )
    )
