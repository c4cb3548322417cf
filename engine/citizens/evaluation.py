"""Evaluation sheets (catalogue §6): the short or the full sheet, once per receipt, stored anonymously.

A citizen reaches the sheet from the public status page after the result was handed over (Process D's
step D_13); a clerk may type in a paper sheet for the same receipt through the same form. The answer row
carries the service, municipality, appeal date and operator, never the case or the applicant: its
uniqueness key is an HMAC of the receipt's public token under the server secret.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.accounts.access import holds
from engine.calendar.days import to_local_date
from engine.forms import schema as formlib
from engine.platform import audit
from engine.platform.errors import Conflict, Forbidden, InvalidData, KyzmatError, NotFound
from engine.platform.models import EvaluationSheet, HumanTask, Municipality, ProcessInstance, User
from engine.runtime.cases import case_data
from engine.runtime.context import Kyzmat

__all__ = [
    "VARIANTS",
    "HAND_OVER_STEP",
    "SheetContext",
    "AlreadyEvaluated",
    "NotHandedOver",
    "sheet_variant",
    "set_sheet_variant",
    "load_sheet",
    "receipt_digest",
    "hand_over_task",
    "is_evaluated",
    "sheet_context",
    "submit_sheet",
]

VARIANTS = ("short", "full")
DEFAULT_VARIANT = "full"
SETTING = "evaluation_sheet"
# The step whose completion hands the result to the citizen (Process D, D_13).
HAND_OVER_STEP = {"citizen_service": "D_13_hand_over"}


class AlreadyEvaluated(Conflict):
    """An evaluation sheet for this receipt was already received."""


class NotHandedOver(Forbidden):
    """The sheet opens only after the result was handed over."""


def sheet_variant(municipality: Municipality) -> str:
    """The sheet the municipality chose: 'short' or 'full' (the full one when it chose none)."""
    chosen = (municipality.settings or {}).get(SETTING)
    return chosen if chosen in VARIANTS else DEFAULT_VARIANT


def set_sheet_variant(session: Session, municipality: Municipality, variant: str) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"the evaluation sheet is 'short' or 'full', not {variant!r}")
    municipality.settings = {**(municipality.settings or {}), SETTING: variant}
    session.flush()


def set_evaluation_sheet(session: Session, row: Municipality, variant: str) -> tuple[str, str]:
    """Choose the evaluation sheet (catalogue §6) the municipality's citizens get: 'short' or 'full'.

    Returns (before, after) for the audit trail; an unknown variant is refused and nothing changes."""
    if variant not in VARIANTS:
        raise KyzmatError(f"The evaluation sheet is 'short' or 'full', not {variant!r}.")
    before = sheet_variant(row)
    set_sheet_variant(session, row, variant)
    return before, variant


def load_sheet(kz: Kyzmat, variant: str) -> dict[str, Any]:
    if variant not in VARIANTS:
        raise NotFound(variant)
    return formlib.load_form(kz.settings.forms_dir, f"evaluation/{variant}.json")


def receipt_digest(secret: str, public_token: str) -> str:
    return hmac.new(secret.encode(), public_token.encode(), hashlib.sha256).hexdigest()


def hand_over_task(session: Session, instance: ProcessInstance) -> HumanTask | None:
    """The completed hand-over step of the case, or None while the result was not handed over."""
    step = HAND_OVER_STEP.get(instance.process_id)
    if step is None:
        return None
    return session.scalar(
        select(HumanTask)
        .where(
            HumanTask.instance_id == instance.id, HumanTask.step_id == step, HumanTask.status == "completed"
        )
        .limit(1)
    )


def is_evaluated(kz: Kyzmat, session: Session, instance: ProcessInstance) -> bool:
    digest = receipt_digest(kz.settings.secret_key, instance.public_token)
    return (
        session.scalar(select(EvaluationSheet.id).where(EvaluationSheet.receipt_digest == digest)) is not None
    )


@dataclass
class SheetContext:
    """What the sheet's header shows (H1-H4, prefilled from the case) and what the answer is stored against."""

    instance: ProcessInstance
    municipality: Municipality
    variant: str
    schema: dict[str, Any]
    service_code: str
    service_names: dict[str, str]
    appeal_date: date
    operator: User | None

    def header(self, lang: str) -> dict[str, str]:
        """H1-H4 in the reader's language (read-only fields of the form)."""
        pick = lambda names: names.get(lang) or names.get("ky", "")  # noqa: E731
        return {
            "csc": pick(self.municipality.names),
            "appeal_date": self.appeal_date.strftime("%d.%m.%Y"),
            "official": self.operator.full_name if self.operator else "",
            "service_name": pick(self.service_names),
        }


def sheet_context(kz: Kyzmat, session: Session, instance: ProcessInstance) -> SheetContext:
    """The sheet for this receipt; NotFound for a case without a receipt, NotHandedOver before D_13."""
    if instance.process_id not in HAND_OVER_STEP or instance.municipality is None:
        raise NotFound("This case has no evaluation sheet.")
    data = case_data(kz, session, instance)
    registration = data.get("registration") or {}
    code = data.get("service_code")
    if not registration.get("registered_at") or not isinstance(code, str):
        raise NotFound("This case has no receipt.")
    handed = hand_over_task(session, instance)
    if handed is None:
        raise NotHandedOver("The evaluation sheet opens after the result is handed over.")
    names = kz.catalogue.get(code).names if code in kz.catalogue else {"ky": code}
    operator_id = handed.completed_by_id or instance.started_by_id
    variant = sheet_variant(instance.municipality)
    return SheetContext(
        instance=instance,
        municipality=instance.municipality,
        variant=variant,
        schema=load_sheet(kz, variant),
        service_code=code,
        service_names=dict(names),
        appeal_date=to_local_date(registration["registered_at"]),
        operator=session.get(User, operator_id) if operator_id else None,
    )


def answer_fields(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema without its read-only header fields: what the citizen answers."""
    props = {k: v for k, v in (schema.get("properties") or {}).items() if not v.get("readOnly")}
    return {**schema, "properties": props}


def submit_sheet(
    kz: Kyzmat,
    session: Session,
    ctx: SheetContext,
    data: dict[str, Any],
    *,
    lang: str = "ky",
    entered_by: User | None = None,
) -> EvaluationSheet:
    """Validate and store the answers; AlreadyEvaluated when this receipt has a sheet already.

    ``entered_by`` is the clerk typing in a paper sheet (source 'paper'); None for the citizen online.
    """
    if entered_by is not None and not _may_enter_paper(entered_by, ctx.instance):
        raise Forbidden("Only the CSC of this municipality types in its paper sheets.")
    if is_evaluated(kz, session, ctx.instance):
        raise AlreadyEvaluated("An evaluation sheet for this receipt was already received.")
    schema = answer_fields(ctx.schema)
    clean, errors = formlib.validate(schema, data, lang)
    if errors:
        raise InvalidData(errors, data)
    now = kz.clock.now()
    row = EvaluationSheet(
        receipt_digest=receipt_digest(kz.settings.secret_key, ctx.instance.public_token),
        municipality_id=ctx.municipality.id,
        service_code=ctx.service_code,
        appeal_date=ctx.appeal_date,
        operator_id=ctx.operator.id if ctx.operator else None,
        variant=ctx.variant,
        answers=clean,
        source="paper" if entered_by is not None else "online",
        entered_by_id=entered_by.id if entered_by is not None else None,
        submitted_at=now,
    )
    try:
        with session.begin_nested():  # a second sheet sent at the same moment hits the unique digest
            session.add(row)
            session.flush()
    except IntegrityError as err:
        raise AlreadyEvaluated("An evaluation sheet for this receipt was already received.") from err
    # The audit trail records that a sheet arrived, not for which case: that would undo the anonymity.
    audit.record(
        session,
        "evaluation_received",
        at=now,
        actor_id=entered_by.id if entered_by else None,
        sheet_id=row.id,
        source=row.source,
    )
    return row


def _may_enter_paper(user: User, instance: ProcessInstance) -> bool:
    return holds(user, "csc_operator", instance.municipality_id)
