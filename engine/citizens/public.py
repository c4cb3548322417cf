"""What citizens see without logging in: a case's status by its unguessable link, and the notice board.

Nothing here returns personal data: the status carries the service, the municipality, the registration
number and dates, never the applicant's name, village or documents.

Guessing links is slowed by a failure count per client kept in the `rate_limit` table, so every web
worker shares it: after MAX_FAILURES unknown links within WINDOW, the client is refused (HTTP 429) until
the window ends, whatever link it tries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.calendar.days import to_local_date
from engine.citizens.evaluation import hand_over_task, is_evaluated
from engine.platform.models import HumanTask, Municipality, ProcessInstance, RateLimit
from engine.runtime.cases import case_data
from engine.runtime.context import Kyzmat

__all__ = [
    "MAX_FAILURES",
    "WINDOW",
    "PublicStatus",
    "NoticeRow",
    "retry_after",
    "record_failure",
    "case_by_token",
    "public_status",
    "approved_additional_list",
]

MAX_FAILURES = 10
WINDOW = timedelta(minutes=10)
_TOKEN = re.compile(r"[0-9a-f]{64}")

# Where a case of Process D is, in words a citizen understands, by its open step.
_PHASE_BY_STEP = {
    "D_02_reception": "received",
    "D_03_advise": "received",
    "D_04_state_consultation": "received",
    "D_06_check_documents": "received",
    "D_08_refuse_intake": "received",
    "D_09_issue_receipt": "received",
    "D_10_forward": "forwarded",
    "D_11_prepare_municipal": "preparing",
    "D_11_prepare_state": "preparing",
    "D_13_hand_over": "ready",
}
_PHASE_ORDER = ("received", "forwarded", "preparing", "ready")


# --- rate limit -----------------------------------------------------------------------------------


def retry_after(
    session: Session, client: str, now: datetime, *, limit: int = MAX_FAILURES, window: timedelta = WINDOW
) -> int | None:
    """Seconds the client must wait before the next lookup, or None when it may look up now."""
    row = session.get(RateLimit, client[:80])
    if row is None or row.failures < limit:
        return None
    left = row.window_start + window - now
    return max(1, int(left.total_seconds())) if left > timedelta(0) else None


def record_failure(session: Session, client: str, now: datetime, *, window: timedelta = WINDOW) -> None:
    """Count one unknown link for the client, starting a new window when the last one ended."""
    key = client[:80]
    row = session.get(RateLimit, key, with_for_update=True)
    if row is None:
        try:
            with session.begin_nested():
                session.add(RateLimit(key=key, window_start=now, failures=1))
                session.flush()
            return
        except IntegrityError:  # another worker counted this client's first failure at the same moment
            row = session.get(RateLimit, key, with_for_update=True, populate_existing=True)
            assert row is not None
    if row.window_start + window <= now:
        row.window_start, row.failures = now, 1
    else:
        row.failures += 1
    session.flush()


# --- status ---------------------------------------------------------------------------------------


def case_by_token(session: Session, token: str) -> ProcessInstance | None:
    """The case whose public link this is; None for anything else (no query for a malformed token)."""
    if not _TOKEN.fullmatch(token or ""):
        return None
    return session.scalar(select(ProcessInstance).where(ProcessInstance.public_token == token))


@dataclass
class PublicStatus:
    """A case as a citizen may see it: no personal data."""

    phase: str  # received|forwarded|preparing|ready|handed_over|result_refused|intake_refused|closed
    phases: tuple[str, ...]
    service_code: str | None
    service_names: dict[str, str]
    municipality_names: dict[str, str]
    registration_number: str | None
    registered_on: date | None
    result_due: date | None
    handed_over_on: date | None
    evaluation_open: bool
    evaluated: bool


def public_status(kz: Kyzmat, session: Session, instance: ProcessInstance) -> PublicStatus:
    data = case_data(kz, session, instance)
    handed = hand_over_task(session, instance)
    evaluated = False
    if handed is not None:
        phase = "result_refused" if data.get("outcome") == "refusal" else "handed_over"
        evaluated = is_evaluated(kz, session, instance)
    else:
        done = set(
            session.scalars(
                select(HumanTask.step_id).where(
                    HumanTask.instance_id == instance.id, HumanTask.status == "completed"
                )
            )
        )
        open_steps = set(
            session.scalars(
                select(HumanTask.step_id).where(
                    HumanTask.instance_id == instance.id, HumanTask.status == "open"
                )
            )
        )
        if "D_08_refuse_intake" in done:
            phase = "intake_refused"
        elif instance.status != "running":
            phase = "closed"
        else:
            reached = [_PHASE_BY_STEP.get(s, "received") for s in open_steps] or ["received"]
            phase = max(reached, key=_PHASE_ORDER.index)
    code = data.get("service_code") if isinstance(data.get("service_code"), str) else None
    service = kz.catalogue.get(code) if code and code in kz.catalogue else None
    registration = data.get("registration") or {}
    muni = instance.municipality
    return PublicStatus(
        phase=phase,
        phases=_PHASE_ORDER + ("handed_over",),
        service_code=code,
        service_names=dict(service.names) if service else {},
        municipality_names=dict(muni.names) if muni else {},
        registration_number=registration.get("number"),
        registered_on=_date(registration.get("registered_at")),
        result_due=_date(data.get("result_due")),
        handed_over_on=_date(data.get("handed_over_on")) if handed is not None else None,
        evaluation_open=handed is not None and not evaluated and bool(registration),
        evaluated=evaluated,
    )


def _date(value: Any) -> date | None:
    if not value:
        return None
    try:
        return to_local_date(value)
    except (TypeError, ValueError):
        return None


# --- notice board ---------------------------------------------------------------------------------

ADDITIONAL_LIST = "additional_list"
# The annex of seed 000 names the aiyl okmotu as the body responsible for standardising every service
# of its Additional List; a city's list is standardised by its mayor's office.
_STANDARDISATION_BODY = {
    "aiyl_okmotu": {"ky": "Айыл өкмөтү", "ru": "Айыл окмоту", "en": "Aiyl okmotu"},
    "city": {"ky": "Шаардын мэриясы", "ru": "Мэрия города", "en": "City mayor's office"},
}


@dataclass
class NoticeRow:
    number: int
    code: str
    names: dict[str, str]
    standardisation_body: dict[str, str]
    provider: dict[str, str]
    paid: bool


def approved_additional_list(kz: Kyzmat, municipality: Municipality) -> list[NoticeRow] | None:
    """The municipality's approved Additional List as the annex table, or None when it has none.

    The list is the service codes in ``municipality.settings['additional_list']`` (set from the council's
    decision; Process A will write it); each row is read from the service catalogue.
    """
    codes = (municipality.settings or {}).get(ADDITIONAL_LIST)
    if not isinstance(codes, list):
        return None
    body = _STANDARDISATION_BODY.get(municipality.kind, _STANDARDISATION_BODY["aiyl_okmotu"])
    rows = []
    for code in codes:
        if code not in kz.catalogue:
            continue
        service = kz.catalogue.get(code)
        rows.append(
            NoticeRow(
                number=len(rows) + 1,
                code=code,
                names=dict(service.names),
                standardisation_body=dict(body),
                provider=dict(service.provider.names),
                paid=service.paid,
            )
        )
    return rows


def municipality_by_code(session: Session, code: str) -> Municipality | None:
    return session.scalar(select(Municipality).where(Municipality.code == code))


# --- the draft Additional List open for comment (Process A, §2.9) --------------------------------------

# From the public notification until the council decides: the open steps of a case of
# Process A while its draft list is public. A council's return goes back to the aiyl okmotu's decisions
# and the draft leaves the board until it is notified again.
DRAFT_PUBLIC_STEPS = frozenset(
    {
        "A_10_notify",
        "A_11_K1_zhobemma",
        "A_11_K2_vak",
        "A_11_K3_antimonopoly",
        "A_12_package",
        "A_15_council_session",
    }
)


@dataclass
class DraftRow:
    number: int
    name: str  # as the working commission wrote it
    standardisation_body: str
    provider: str
    paid: bool


@dataclass
class DraftList:
    instance_id: int
    published_on: date | None
    rows: list[DraftRow]


def draft_additional_lists(kz: Kyzmat, session: Session, municipality: Municipality) -> list[DraftList]:
    """The municipality's draft Additional Lists open for comment: the services the aiyl okmotu included."""
    open_steps = select(HumanTask.instance_id).where(
        HumanTask.status == "open", HumanTask.step_id.in_(DRAFT_PUBLIC_STEPS)
    )
    instances = session.scalars(
        select(ProcessInstance)
        .where(
            ProcessInstance.process_id == "additional_list",
            ProcessInstance.municipality_id == municipality.id,
            ProcessInstance.status == "running",
            ProcessInstance.id.in_(open_steps),
        )
        .order_by(ProcessInstance.id)
    )
    out = []
    for instance in instances:
        data = case_data(kz, session, instance)
        drafted = {row.get("name"): row for row in data.get("draft_list") or [] if isinstance(row, dict)}
        rows = []
        for service in data.get("included") or []:
            if not isinstance(service, dict):
                continue
            name = str(service.get("name") or "")
            row = drafted.get(name) or {}
            rows.append(
                DraftRow(
                    number=len(rows) + 1,
                    name=name,
                    standardisation_body=str(row.get("standardisation_body") or ""),
                    provider=str(row.get("provider") or ""),
                    paid=bool(service.get("paid")),
                )
            )
        notified = session.scalar(
            select(func.max(HumanTask.created_at)).where(
                HumanTask.instance_id == instance.id, HumanTask.step_id == "A_10_notify"
            )
        )
        out.append(DraftList(instance_id=instance.id, published_on=_date(notified), rows=rows))
    return out
