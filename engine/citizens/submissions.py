"""Initiatives and complaints submitted by the public (no login): they start Process A or Process B.

A citizen, an association or a deputy proposes a service for the municipality's Additional List
(Process A, the start event of the initiative's source), or a citizen or legal entity complains in
writing about the list (Process B). The case is started by the system (`actor` None, as the annual
start of Process E): nobody holds a claim on it, and its first step lands in the inbox of the lane's
role in the chosen municipality (ao_specialist for A, council_secretary for B). The submitter's words
and files go into the case data under the names of that first step's form, so the clerk finds them
filled in. The submitter keeps the case's public link (receipt, QR, status page of engine/public.py).

Abuse: every field has a length limit, at most MAX_FILES files each checked by content and size as
any upload (engine/attachments.py), and at most SUBMISSIONS_PER_WINDOW accepted submissions per client
address per SUBMISSION_WINDOW, counted in the shared `rate_limit` table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.calendar.days import to_local_date
from engine.citizens import public
from engine.platform.errors import InvalidData
from engine.platform.models import HumanTask, Municipality, ProcessInstance
from engine.runtime import attachments
from engine.runtime.cases import start_case
from engine.runtime.context import Kyzmat

__all__ = [
    "INITIATIVE",
    "COMPLAINT",
    "INITIATIVE_SOURCES",
    "MAX_FILES",
    "SUBMISSIONS_PER_WINDOW",
    "SUBMISSION_WINDOW",
    "Submission",
    "submission_wait",
    "count_submission",
    "submit",
    "AppealStatus",
    "appeal_status",
    "is_appeal",
]

INITIATIVE = "additional_list"
COMPLAINT = "list_dispute"
# Who proposes -> the start event of Process A for that source of initiatives (catalogue A-01, §2.3).
# A citizen's own proposal is an appeal of citizens (I-1); the aiyl okmotu's own initiative (I-5) is
# started by its staff, never from the public form.
INITIATIVE_SOURCES = {
    "citizen": "A_01_I1_kurultai",
    "consumers_association": "A_01_I2_consumers",
    "vulnerable_groups_organisation": "A_01_I3_vulnerable",
    "deputy": "A_01_I4_deputies",
}
# The kind of document the first step (A_01_receive) records for each source.
_DOCUMENT_KIND = {
    "citizen": "application",
    "consumers_association": "request",
    "vulnerable_groups_organisation": "request",
    "deputy": "proposal",
}
CLAIMANT_KINDS = ("citizen", "legal_entity")
MAX_FILES = 5
SUBMISSIONS_PER_WINDOW = 5
SUBMISSION_WINDOW = timedelta(hours=1)
_LIMITS = {"name": 300, "contact": 300, "service_name": 300, "text": 4000}


@dataclass
class Submission:
    """What the public form sends; `kind` is an initiative source or a claimant kind."""

    process: str  # INITIATIVE | COMPLAINT
    municipality_code: str
    kind: str
    name: str
    contact: str
    text: str
    service_name: str = ""
    files: tuple[attachments.Upload, ...] = ()


# --- rate limit per client ---------------------------------------------------------------------------


def _key(client: str) -> str:
    return "submit:" + client


def submission_wait(session: Session, client: str, now: datetime) -> int | None:
    """Seconds until the client may submit again, or None when it may now."""
    return public.retry_after(
        session, _key(client), now, limit=SUBMISSIONS_PER_WINDOW, window=SUBMISSION_WINDOW
    )


def count_submission(session: Session, client: str, now: datetime) -> None:
    public.record_failure(session, _key(client), now, window=SUBMISSION_WINDOW)


# --- submitting ----------------------------------------------------------------------------------------


def _clean(value: str, *, lines: bool = False) -> str:
    """Without NULs and surrounding blanks; one line unless `lines`."""
    value = (value or "").replace("\x00", "").strip()
    return value.replace("\r\n", "\n") if lines else " ".join(value.split())


def _check(session: Session, sub: Submission) -> tuple[Municipality, dict[str, str]]:
    """The municipality and the field errors (codes: required, too_long, choice, too_many_files)."""
    errors: dict[str, str] = {}
    municipality = public.municipality_by_code(session, sub.municipality_code or "")
    if municipality is None:
        errors["municipality"] = "required"
    kinds = INITIATIVE_SOURCES if sub.process == INITIATIVE else CLAIMANT_KINDS
    if sub.kind not in kinds:
        errors["kind"] = "choice"
    for field in ("name", "text"):
        if not getattr(sub, field):
            errors[field] = "required"
    for field, limit in _LIMITS.items():
        if len(getattr(sub, field)) > limit:
            errors[field] = "too_long"
    if len(sub.files) > MAX_FILES:
        errors["files"] = "too_many_files"
    return municipality, errors  # type: ignore[return-value]


def submit(kz: Kyzmat, session: Session, sub: Submission) -> ProcessInstance:
    """Check the submission and its files, start the case as the system, attach the files to its first step.

    Raises InvalidData (field -> error code; a refused file gives `files` -> empty|too_large|type and
    `filename` -> its name); nothing is stored then.
    """
    sub.name, sub.contact, sub.text, sub.service_name = (
        _clean(sub.name),
        _clean(sub.contact),
        _clean(sub.text, lines=True),
        _clean(sub.service_name),
    )
    municipality, errors = _check(session, sub)
    if errors:
        raise InvalidData(errors)
    checked: list[attachments.Checked] = []
    for upload in sub.files:
        try:
            checked.append(attachments.check_upload(kz, upload))
        except attachments.AttachmentRefused as err:
            raise InvalidData({"files": err.reason, "filename": err.filename}) from err
    tokens = [attachments.write_file(kz, c.data) for c in checked]
    today = to_local_date(kz.clock.now())
    if sub.process == INITIATIVE:
        field = "documents"
        data: dict[str, Any] = {
            "initiator": sub.name,
            "document_kind": _DOCUMENT_KIND[sub.kind],
            "proposed_services": sub.text,
            "documents": tokens,
        }
        start_event: str | None = INITIATIVE_SOURCES[sub.kind]
    else:
        field = "application_file"
        data = {
            "claimant_kind": sub.kind,
            "claimant_name": sub.name,
            "application_received_on": today.isoformat(),
            "complaint_summary": sub.text,
        }
        if sub.service_name:
            data["service_name"] = sub.service_name
        if tokens:
            data["application_file"] = tokens[0]
            data["further_files"] = tokens[1:]
        start_event = None
    if sub.contact:
        data["claimant_contact" if sub.process == COMPLAINT else "initiator_contact"] = sub.contact
    data["submitted_online"] = {"on": today.isoformat(), "files": len(tokens)}
    try:
        instance = start_case(
            kz,
            session,
            None,
            sub.process,
            municipality_id=municipality.id,
            start_event=start_event,
            data=data,
        )
    except Exception:
        for token in tokens:  # the files of a case that was not started
            attachments.path_of(kz, token).unlink(missing_ok=True)
        raise
    first = session.scalar(
        select(HumanTask)
        .where(HumanTask.instance_id == instance.id, HumanTask.status == "open")
        .order_by(HumanTask.id)
        .limit(1)
    )
    assert first is not None, "the first step of a submitted case waits for a person"
    for i, (c, token) in enumerate(zip(checked, tokens, strict=True)):
        attachments.add_row(
            kz,
            session,
            first,
            field if (sub.process == INITIATIVE or i == 0) else "further_files",
            c,
            token,
            None,
        )
    return instance


# --- what the submitter sees ---------------------------------------------------------------------------

# Phases in words a citizen understands, by the open steps of each process.
_PHASES = {
    INITIATIVE: ("received", "considering", "draft_published", "council", "decided"),
    COMPLAINT: ("received", "considering", "council", "decided"),
}
_STEP_PHASE = {
    "A_01_receive": "received",
    "A_10_notify": "draft_published",
    "A_11_K1_zhobemma": "draft_published",
    "A_11_K2_vak": "draft_published",
    "A_11_K3_antimonopoly": "draft_published",
    "A_12_package": "draft_published",
    "A_15_council_session": "council",
    "A_16_organise": "decided",
    "A_16_draft": "decided",
    "A_18_council_standards": "decided",
    "B_02_register_complaint": "received",
    "B_03_seek_agreement": "considering",
    "B_04_consider_dispute": "considering",
    "B_04_council_decision": "council",
    "B_05_claimant_response": "decided",
}


def is_appeal(instance: ProcessInstance) -> bool:
    return instance.process_id in _PHASES


@dataclass
class AppealStatus:
    """An initiative or complaint as its submitter may see it: no names, no text, no files."""

    process: str
    number: int
    phase: str  # one of phases, or "closed"
    phases: tuple[str, ...]
    municipality_names: dict[str, str]
    submitted_on: date


def appeal_status(session: Session, instance: ProcessInstance) -> AppealStatus:
    phases = _PHASES[instance.process_id]
    if instance.status != "running":
        phase = "closed"
    else:
        open_steps = session.scalars(
            select(HumanTask.step_id).where(HumanTask.instance_id == instance.id, HumanTask.status == "open")
        )
        reached = [_STEP_PHASE.get(s, "considering") for s in open_steps] or ["considering"]
        phase = max(reached, key=phases.index)
    muni = instance.municipality
    return AppealStatus(
        process=instance.process_id,
        number=instance.id,
        phase=phase,
        phases=phases,
        municipality_names=dict(muni.names) if muni else {},
        submitted_on=to_local_date(instance.started_at),
    )
