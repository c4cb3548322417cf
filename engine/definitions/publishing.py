"""Publishing diagrams as immutable versions, and loading the shipped ones from processes/."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.bpmn import workflow as wfapi
from engine.bpmn.loader import DiagramError, DiagramInfo, content_hash, load_diagram
from engine.definitions.checks import check_diagram
from engine.forms.schema import load_form
from engine.platform import audit
from engine.platform.models import ProcessVersion
from engine.runtime.versions import (
    latest_variants,
    latest_version,
    latest_version_id,
    latest_versions,
    of_scope,
)

__all__ = [
    "publish",
    "load_directory",
    "latest_version",
    "latest_version_id",
    "latest_versions",
    "latest_variants",
]


def _dmn_beside(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.parent.glob("*.dmn"))}


def _info_to_json(info: DiagramInfo) -> dict[str, Any]:
    return {
        "process_id": info.process_id,
        "file": info.file,
        "names": info.names,
        "properties": info.properties,
        "scope": info.scope,
        "starter_roles": info.starter_roles,
        "lanes": info.lanes,
        "elements": {k: asdict(v) for k, v in info.elements.items()},
    }


def publish(
    session: Session,
    bpmn: bytes,
    filename: str,
    *,
    forms_dir: Path,
    now: datetime,
    note: str,
    actor_id: int | None = None,
    dmn: dict[str, bytes] | None = None,
    reuse_any: bool = True,
    municipality_id: int | None = None,
) -> tuple[ProcessVersion, bool]:
    """Check and publish a diagram; return (version, created). Identical content reuses its version
    (any earlier one with ``reuse_any``; only the newest one otherwise, so that a rollback publishes
    an earlier content again as a new version).

    With ``municipality_id`` the version is that municipality's own variant: new cases there follow it
    (see latest_version); version numbers are shared by the national version and every variant.

    Raises DiagramError listing every problem when the diagram does not pass the checks.
    """
    if not note.strip():
        raise ValueError("a publication needs a note saying why")
    dmn = dmn or {}
    problems = check_diagram(bpmn, filename, forms_dir=forms_dir, dmn=dmn)
    if problems:
        raise DiagramError(problems)
    loaded = load_diagram(bpmn, filename, dmn)
    forms = {}
    for task in loaded.info.user_tasks():
        assert task.form is not None
        forms[task.form] = load_form(forms_dir, task.form)
    digest = hashlib.sha256(
        (content_hash(bpmn, dmn) + json.dumps(forms, sort_keys=True, ensure_ascii=False)).encode()
    ).hexdigest()
    same = select(ProcessVersion).where(
        ProcessVersion.process_id == loaded.info.process_id,
        ProcessVersion.content_hash == digest,
        of_scope(municipality_id),
    )
    if not reuse_any:
        same = same.where(
            ProcessVersion.number
            == select(func.max(ProcessVersion.number))
            .where(ProcessVersion.process_id == loaded.info.process_id, of_scope(municipality_id))
            .scalar_subquery()
        )
    existing = session.scalar(same.order_by(ProcessVersion.number.desc()).limit(1))
    if existing is not None:
        return existing, False
    number = (
        session.scalar(
            select(func.max(ProcessVersion.number)).where(ProcessVersion.process_id == loaded.info.process_id)
        )
        or 0
    ) + 1
    row = ProcessVersion(
        process_id=loaded.info.process_id,
        number=number,
        content_hash=digest,
        bpmn_xml=bpmn.decode("utf-8"),
        dmn_xml={k: v.decode("utf-8") for k, v in dmn.items()},
        forms=forms,
        spec_json=wfapi.spec_to_json(wfapi.SpecBundle(loaded.spec, loaded.subprocess_specs)),
        names=loaded.info.names,
        info=_info_to_json(loaded.info),
        note=note,
        published_by_id=actor_id,
        published_at=now,
        municipality_id=municipality_id,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        "version_published",
        at=now,
        actor_id=actor_id,
        process_id=row.process_id,
        version=row.number,
        content_hash=digest,
        note=note,
        **(
            {"municipality_id": municipality_id, "municipality": _code(session, municipality_id)}
            if municipality_id is not None
            else {}
        ),
    )
    return row, True


def load_directory(
    session: Session, processes_dir: Path, forms_dir: Path, now: datetime
) -> list[tuple[ProcessVersion, bool]]:
    """Publish every diagram in processes/ whose content is new (the shipped defaults)."""
    results = []
    for path in sorted(processes_dir.glob("*.bpmn")):
        results.append(
            publish(
                session,
                path.read_bytes(),
                path.name,
                forms_dir=forms_dir,
                now=now,
                note=f"Loaded from processes/{path.name}",
                dmn=_dmn_beside(path),
            )
        )
    return results


def _code(session: Session, municipality_id: int) -> str | None:
    from engine.platform.models import Municipality

    row = session.get(Municipality, municipality_id)
    return row.code if row is not None else None
