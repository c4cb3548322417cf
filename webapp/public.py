"""Citizens' pages (no login): a case's status by its public link, the evaluation sheet, the notice
board; and the staff side of the same: the receipt as PDF and typing in a paper evaluation sheet."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from engine.accounts import access
from engine.citizens import evaluation, public, receipt
from engine.forms import schema as formlib
from engine.platform.errors import Forbidden, InvalidData, NotFound
from engine.platform.models import ProcessInstance

from .auth import db, kz, login_required
from .templating import lang, local_date

bp = Blueprint("public", __name__)


@bp.before_app_request
def _language_from_link() -> None:
    """Public pages switch language by a plain link (?lang=ru), so they need no form or cookie dance."""
    from . import LANGUAGES

    chosen = request.args.get("lang")
    if chosen in LANGUAGES and request.blueprint in ("public", "appeals"):
        session["lang"] = chosen


@bp.errorhandler(NotFound)
def _not_found(err: NotFound) -> Any:
    return render_template("public/message.html", code=404, message=_("This page does not exist.")), 404


@bp.errorhandler(evaluation.NotHandedOver)
def _not_yet(err: Forbidden) -> Any:
    return render_template(
        "public/message.html",
        code=403,
        message=_("The evaluation sheet opens after the result is handed over."),
    ), 403


@bp.app_template_global()
def receipt_qr(instance: ProcessInstance) -> dict[str, str]:
    """The status link of a case and its QR code as an inline PNG, for the printed receipt."""
    url = receipt.status_url(kz(), instance)
    return {"url": url, "png": receipt.qr_data_uri(url)}


def _case_from_link(token: str) -> ProcessInstance:
    """The case of a public link, with guessing slowed: unknown links count against the client."""
    client = request.remote_addr or "unknown"
    now = kz().clock.now()
    wait = public.retry_after(db(), client, now)
    if wait is not None:
        body = render_template(
            "public/message.html",
            code=429,
            message=_("Too many wrong links from your connection. Try again in a few minutes."),
        )
        abort(Response(body, status=429, headers={"Retry-After": str(wait)}))
    instance = public.case_by_token(db(), token)
    if instance is None:
        public.record_failure(db(), client, now)
        db().commit()
        raise NotFound(token)
    return instance


def _private(resp: Any) -> Any:
    """The link is the key to the page: keep it out of caches, referrers and search engines."""
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.headers["X-Robots-Tag"] = "noindex"
    return resp


@bp.route("/s/<token>")
def status(token: str) -> Any:
    instance = _case_from_link(token)
    from engine.citizens import submissions

    if submissions.is_appeal(instance):  # an initiative or complaint submitted through webapp/appeals.py
        muni = instance.municipality
        return _private(
            Response(
                render_template(
                    "public/appeal_status.html",
                    st=submissions.appeal_status(db(), instance),
                    municipality_code=muni.code if muni else None,
                )
            )
        )
    st = public.public_status(kz(), db(), instance)
    return _private(Response(render_template("public/status.html", st=st, token=token)))


def _sheet_page(ctx: evaluation.SheetContext, template: str, **extra: Any) -> tuple[str, int] | None:
    """Show the sheet, or store a posted one (None when stored); errors re-show what was typed."""
    errors: dict[str, str] = {}
    data: dict[str, Any] = {}
    code = 200
    if request.method == "POST":
        schema = evaluation.answer_fields(ctx.schema)
        data = formlib.coerce_form(schema, request.form)
        try:
            evaluation.submit_sheet(
                kz(), db(), ctx, data, lang=lang(), entered_by=g.user if extra.get("paper") else None
            )
            db().commit()
        except evaluation.AlreadyEvaluated:
            db().rollback()
            return render_template(
                "public/message.html",
                code=409,
                message=_(
                    "An evaluation sheet for this receipt was already received. "
                    "Each receipt can be evaluated once."
                ),
            ), 409
        except InvalidData as err:
            db().rollback()
            errors, code = err.errors, 422
        else:
            return None
    fields = formlib.fields(ctx.schema, lang())
    return render_template(
        template, ctx=ctx, fields=fields, header=ctx.header(lang()), data=data, errors=errors, **extra
    ), code


@bp.route("/s/<token>/evaluation", methods=["GET", "POST"])
def evaluate(token: str) -> Any:
    instance = _case_from_link(token)
    ctx = evaluation.sheet_context(kz(), db(), instance)
    if request.method == "GET" and evaluation.is_evaluated(kz(), db(), instance):
        return _private(
            Response(
                render_template(
                    "public/message.html",
                    code=409,
                    message=_(
                        "An evaluation sheet for this receipt was already "
                        "received. Each receipt can be evaluated once."
                    ),
                ),
                status=409,
            )
        )
    page = _sheet_page(ctx, "public/evaluation.html", token=token)
    if page is None:
        return redirect(url_for("public.thanks", token=token))
    html, code = page
    return _private(Response(html, status=code))


@bp.route("/s/<token>/thanks")
def thanks(token: str) -> Any:
    instance = _case_from_link(token)
    schema = evaluation.sheet_context(kz(), db(), instance).schema
    return _private(
        Response(render_template("public/thanks.html", closing=schema.get("x-closing", []), token=token))
    )


@bp.route("/board/<code>")
def board(code: str) -> Any:
    municipality = public.municipality_by_code(db(), code)
    if municipality is None:
        raise NotFound(code)
    rows = public.approved_additional_list(kz(), municipality)
    drafts = public.draft_additional_lists(kz(), db(), municipality)
    return render_template("public/board.html", municipality=municipality, rows=rows, drafts=drafts)


# --- staff: the receipt as PDF, paper sheets ----------------------------------------------------------


def _staff_case(instance_id: int) -> ProcessInstance:
    from engine.runtime import cases

    return cases.get_case(kz(), db(), g.user, instance_id).instance  # checks the user may see the case


@bp.route("/cases/<int:instance_id>/receipt.pdf")
@login_required
def receipt_pdf(instance_id: int) -> Any:
    try:
        instance = _staff_case(instance_id)
        data = receipt.receipt_data(kz(), db(), instance)
    except Forbidden:
        abort(403)
    paper = request.args.get("paper", "a5")
    if paper not in receipt.PAPERS:
        abort(404)
    words = {
        "title": "ТАЛОН" if lang() == "ky" else "ТАЛОН / " + _("Receipt"),
        "municipality_suffix": _("Citizen Service Center"),
        "number": _("Registration number"),
        "registered": _("Registered"),
        "service": _("Service"),
        "documents": _("Documents received"),
        "result_date": _("Result date"),
        "operator": _("Operator"),
        "status_link": _("Scan the code or open the link to see where your case is:"),
        "responsibility": _("The Center is responsible for keeping your documents safe and returning them."),
    }
    pdf = receipt.receipt_pdf(data, words, lang(), paper=paper, format_date=local_date)
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="talon-{data.number}.pdf"'},
    )


@bp.route("/cases/<int:instance_id>/evaluation", methods=["GET", "POST"])
@login_required
def paper_sheet(instance_id: int) -> Any:
    try:
        instance = _staff_case(instance_id)
    except Forbidden:
        abort(403)
    if not access.holds(g.user, "csc_operator", instance.municipality_id):
        abort(403)
    ctx = evaluation.sheet_context(kz(), db(), instance)
    if evaluation.is_evaluated(kz(), db(), instance) and request.method == "GET":
        flash(
            _(
                "An evaluation sheet for this receipt was already received. Each receipt can be evaluated once."
            ),
            "error",
        )
        return redirect(url_for("views.case", instance_id=instance_id))
    page = _sheet_page(ctx, "public/paper_sheet.html", paper=True)
    if page is None:
        flash(_("The paper evaluation sheet was saved."))
        return redirect(url_for("views.case", instance_id=instance_id))
    return page
