"""Pages: inbox, a step's form, starting a case, a case, its receipt. Each view calls one engine verb."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine import access, cases
from engine import forms as formlib
from engine.errors import Conflict, Forbidden, InvalidData, KyzmatError, NotFound
from engine.models import User

from .auth import db, kz, login_required
from .templating import lang

bp = Blueprint("views", __name__)


def CONFLICT_MESSAGE() -> str:  # noqa: N802 - a message, looked up in the user's language
    return _("Someone else completed or took this step first. The page shows the current state.")


@bp.errorhandler(Forbidden)
def _forbidden(err: Forbidden) -> Any:
    return render_template("error.html", code=403, message=_("You may not see or do this.")), 403


@bp.errorhandler(NotFound)
def _not_found(err: NotFound) -> Any:
    return render_template("error.html", code=404, message=_("Not found.")), 404


def _int_arg(name: str, default: int = 1) -> int:
    try:
        return max(1, int(request.args.get(name, default)))
    except ValueError:
        return default


@bp.route("/")
@login_required
def inbox() -> Any:
    view = request.args.get("view", "mine")
    if view not in cases.INBOX_VIEWS:
        abort(404)
    flt = cases.InboxFilter(
        view=view,
        process_id=request.args.get("process") or None,
        municipality_id=int(request.args["municipality"]) if request.args.get("municipality", "").isdigit() else None,
        q=request.args.get("q") or None,
        page=_int_arg("page"),
    )
    page = cases.list_tasks(kz(), db(), g.user, flt)
    counts = cases.inbox_counts(kz(), db(), g.user)
    rows = [(t, cases.working_days_left(kz(), t.due_at)) for t in page.items]
    return render_template("inbox.html", page=page, rows=rows, counts=counts, flt=flt,
                           views=cases.INBOX_VIEWS,
                           processes=cases.startable_processes(db(), g.user))


@bp.route("/tasks/<int:task_id>", methods=["GET", "POST"])
@login_required
def task(task_id: int) -> Any:
    errors: dict[str, str] = {}
    view = cases.get_task(kz(), db(), g.user, task_id)
    data = view.data
    status = 200
    if request.method == "POST":
        if not view.may_act:
            if view.task.status != "open" and access.may_act_on(g.user, view.task):
                # A second submit of a step that is already done (back button, double click, a colleague).
                flash(CONFLICT_MESSAGE(), "error")
                return redirect(url_for("views.case", instance_id=view.instance.id))
            abort(403)
        data = formlib.coerce_form(view.schema, request.form)
        try:
            if request.form.get("action") == "draft":
                cases.save_draft(kz(), db(), g.user, task_id, data)
                db().commit()
                flash(_("Draft saved."))
                return redirect(url_for("views.task", task_id=task_id))
            lock = request.form.get("lock_version", "")
            instance = cases.complete_task(kz(), db(), g.user, task_id, data, lang=lang(),
                                           expected_lock_version=int(lock) if lock.isdigit() else None)
            db().commit()
        except InvalidData as err:
            db().rollback()
            errors, status = err.errors, 422
            view = cases.get_task(kz(), db(), g.user, task_id)
        except Conflict:
            db().rollback()
            flash(CONFLICT_MESSAGE(), "error")
            return redirect(url_for("views.task", task_id=task_id))
        else:
            flash(_("Step completed."))
            following = cases.next_task_for(db(), g.user, instance.id)
            if following is not None:
                return redirect(url_for("views.task", task_id=following.id))
            return redirect(url_for("views.case", instance_id=instance.id))
    fields = formlib.fields(view.schema, lang(), {**view.case_data, **data})
    days = cases.working_days_left(kz(), view.task.due_at)
    return render_template("task.html", view=view, fields=fields, data=data, errors=errors, days=days), status


@bp.route("/tasks/<int:task_id>/claim", methods=["POST"])
@login_required
def claim(task_id: int) -> Any:
    try:
        cases.claim_task(kz(), db(), g.user, task_id)
        db().commit()
    except Conflict:
        flash(CONFLICT_MESSAGE(), "error")
    return redirect(url_for("views.task", task_id=task_id))


@bp.route("/tasks/<int:task_id>/unclaim", methods=["POST"])
@login_required
def unclaim(task_id: int) -> Any:
    try:
        cases.unclaim_task(kz(), db(), g.user, task_id)
        db().commit()
    except Conflict:
        flash(CONFLICT_MESSAGE(), "error")
    return redirect(url_for("views.inbox"))


@bp.route("/start", methods=["GET"])
@login_required
def start_list() -> Any:
    processes = cases.startable_processes(db(), g.user)
    options = {p.process_id: cases.start_options(kz(), db(), p) for p in processes}
    return render_template("start.html", processes=processes, options=options)


@bp.route("/start/<process_id>", methods=["POST"])
@login_required
def start(process_id: str) -> Any:
    try:
        instance = cases.start_case(kz(), db(), g.user, process_id,
                                    start_event=request.form.get("start_event") or None)
        db().commit()
    except KyzmatError as err:
        db().rollback()
        if isinstance(err, (Forbidden, NotFound)):
            raise
        flash(_("The case could not be started here. Choose the municipality or ask the administrator for the role."), "error")
        return redirect(url_for("views.start_list"))
    following = cases.next_task_for(db(), g.user, instance.id)
    if following is not None:
        return redirect(url_for("views.task", task_id=following.id))
    return redirect(url_for("views.case", instance_id=instance.id))


@bp.route("/cases")
@login_required
def case_list() -> Any:
    flt = cases.CaseFilter(
        process_id=request.args.get("process") or None,
        status=request.args.get("status") or None,
        overdue=request.args.get("overdue") == "1",
        q=request.args.get("q") or None,
        page=_int_arg("page"),
    )
    return render_template("cases.html", page=cases.list_cases(kz(), db(), g.user, flt), flt=flt)


@bp.route("/cases/<int:instance_id>")
@login_required
def case(instance_id: int) -> Any:
    view = cases.get_case(kz(), db(), g.user, instance_id)
    return render_template("case.html", view=view)


@bp.route("/cases/<int:instance_id>/receipt")
@login_required
def receipt(instance_id: int) -> Any:
    view = cases.get_case(kz(), db(), g.user, instance_id)
    if not view.data.get("registration"):
        abort(404)
    service = kz().catalogue.get(view.data.get("service_code", "")) if view.data.get("service_code") else None
    starter = db().get(User, view.instance.started_by_id) if view.instance.started_by_id else None
    return render_template("receipt.html", view=view, service=service,
                           operator_name=starter.full_name if starter else view.data.get("started_by", ""))
