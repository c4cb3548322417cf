"""Public forms (no login): an initiative for the Additional List (Process A) and a complaint (Process B).

A view parses the form, calls engine/submissions.submit and shows the receipt with the case's public
link; the status page itself is public.status (engine/public.py's rate-limited link lookup).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from engine.citizens import submissions
from engine.platform.errors import InvalidData, NotFound
from engine.platform.models import Municipality
from engine.runtime import attachments

from .auth import db, kz
from .files import refusal_message
from .public import _case_from_link, _private

bp = Blueprint("appeals", __name__)

_PATHS = {"initiative": submissions.INITIATIVE, "complaint": submissions.COMPLAINT}


@bp.errorhandler(NotFound)
def _not_found(err: NotFound) -> Any:
    return render_template("public/message.html", code=404, message=_("This page does not exist.")), 404


def _message(code: str, field: str, filename: str) -> str:
    if field == "files" and code in ("empty", "too_large", "type"):
        return refusal_message(attachments.AttachmentRefused(code, filename))
    return {
        "required": _("Fill in this field."),
        "too_long": _("This text is too long."),
        "choice": _("Choose one of the options."),
        "too_many_files": _("Attach at most %(n)s files.", n=submissions.MAX_FILES),
    }.get(code, code)


def _form_page(kind: str) -> Any:
    process = _PATHS[kind]
    municipalities = list(db().scalars(select(Municipality).order_by(Municipality.code)))
    errors: dict[str, str] = {}
    form: dict[str, str] = {"municipality": request.args.get("m", "")}
    status = 200
    if request.method == "POST":
        client = request.remote_addr or "unknown"
        now = kz().clock.now()
        wait = submissions.submission_wait(db(), client, now)
        if wait is not None:
            body = render_template(
                "public/message.html",
                code=429,
                message=_("Too many submissions from your connection. Try again later."),
            )
            return Response(body, status=429, headers={"Retry-After": str(wait)})
        form = {
            k: request.form.get(k, "")
            for k in ("municipality", "kind", "name", "contact", "service_name", "text")
        }
        files = tuple(
            attachments.Upload(f.filename or "", f.stream)
            for f in request.files.getlist("files")
            if f.filename
        )
        sub = submissions.Submission(
            process=process,
            municipality_code=form["municipality"],
            kind=form["kind"],
            name=form["name"],
            contact=form["contact"],
            text=form["text"],
            service_name=form["service_name"] if process == submissions.COMPLAINT else "",
            files=files,
        )
        try:
            instance = submissions.submit(kz(), db(), sub)
        except InvalidData as err:
            db().rollback()
            filename = err.errors.pop("filename", "")
            errors = {f: _message(code, f, filename) for f, code in err.errors.items()}
            status = 422
        else:
            submissions.count_submission(db(), client, now)
            db().commit()
            return redirect(url_for("appeals.receipt", token=instance.public_token))
    if process == submissions.INITIATIVE:
        kinds = [(k, _KIND_WORDS()[k]) for k in submissions.INITIATIVE_SOURCES]
    else:
        kinds = [(k, _KIND_WORDS()[k]) for k in submissions.CLAIMANT_KINDS]
    return render_template(
        "public/submit.html",
        kind=kind,
        municipalities=municipalities,
        kinds=kinds,
        form=form,
        errors=errors,
        max_files=submissions.MAX_FILES,
    ), status


def _KIND_WORDS() -> dict[str, str]:  # noqa: N802 - a table of translated words, built per request
    return {
        "citizen": _("A citizen"),
        "consumers_association": _("A public association of consumers of municipal services"),
        "vulnerable_groups_organisation": _(
            "An organisation working for vulnerable groups of the population"
        ),
        "deputy": _("A deputy of the local council"),
        "legal_entity": _("A legal entity"),
    }


@bp.route("/initiative", methods=["GET", "POST"])
def initiative() -> Any:
    return _form_page("initiative")


@bp.route("/complaint", methods=["GET", "POST"])
def complaint() -> Any:
    return _form_page("complaint")


@bp.route("/s/<token>/receipt")
def receipt(token: str) -> Any:
    """The submitter's receipt: number, date, municipality, QR of the status link. Printable."""
    instance = _case_from_link(token)
    if not submissions.is_appeal(instance):
        raise NotFound(token)
    st = submissions.appeal_status(db(), instance)
    return _private(
        Response(render_template("public/appeal_receipt.html", st=st, instance=instance, token=token))
    )
