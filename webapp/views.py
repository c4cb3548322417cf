"""Pages: inbox, a step's form, starting a case, a case, its receipt. Each view calls one engine verb."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine.accounts import access
from engine.forms import schema as formlib
from engine.platform.errors import Conflict, Forbidden, InvalidData, KyzmatError, NotFound
from engine.platform.models import Municipality, User
from engine.runtime import attachments, cases

from . import files
from .auth import db, kz, login_required
from .templating import lang

bp = Blueprint("views", __name__)


def CONFLICT_MESSAGE() -> str:  # noqa: N802 - a message, looked up in the user's language
    return _("Someone else completed or took this step first. The page shows the current state.")


@bp.app_errorhandler(Forbidden)  # also for the admin and file pages; the API's own handlers win there
def _forbidden(err: Forbidden) -> Any:
    return render_template("error.html", code=403, message=_("You may not see or do this.")), 403


@bp.app_errorhandler(NotFound)
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
        raise NotFound(f"No inbox view {view!r}")
    flt = cases.InboxFilter(
        view=view,
        process_id=request.args.get("process") or None,
        municipality_id=int(request.args["municipality"])
        if request.args.get("municipality", "").isdigit()
        else None,
        q=request.args.get("q") or None,
        page=_int_arg("page"),
        sort=_sort_arg(),
    )
    page = cases.list_tasks(kz(), db(), g.user, flt)
    counts = cases.inbox_counts(kz(), db(), g.user)
    rows = [(t, cases.working_days_left(kz(), t.due_at)) for t in page.items]
    return render_template(
        "inbox.html",
        page=page,
        rows=rows,
        counts=counts,
        flt=flt,
        views=cases.INBOX_VIEWS,
        sorts=list(cases.INBOX_SORTS),
        processes=_visible_processes(),
        municipalities=_visible_municipalities(),
    )


def _sort_arg() -> str:
    sort = request.args.get("sort") or "due"
    return sort if sort.lstrip("-") in cases.INBOX_SORTS else "due"


def _visible_processes() -> list[Any]:
    from engine.definitions.publishing import latest_versions

    return latest_versions(db())


def _visible_municipalities() -> list[Municipality]:
    """The municipalities the user works in (every one for a national role), for the filters."""
    from sqlalchemy import select

    scopes = access.municipality_ids(g.user)
    query = select(Municipality).order_by(Municipality.code)
    if None not in scopes:
        query = query.where(Municipality.id.in_([m for m in scopes if m is not None]))
    return list(db().scalars(query))


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
            raise Forbidden("This step belongs to another role or municipality.")
        data = formlib.coerce_form(view.schema, request.form)
        data, file_errors = files.take_uploads(task_id, view.instance.id, view.schema, data)
        if file_errors:
            # Keep everything typed and every file already stored; the refused file is named beside its field.
            return _task_page(cases.get_task(kz(), db(), g.user, task_id), data, file_errors, 422)
        try:
            if request.form.get("action") == "draft":
                cases.save_draft(kz(), db(), g.user, task_id, data)
                db().commit()
                flash(_("Draft saved."))
                return redirect(url_for("views.task", task_id=task_id))
            lock = request.form.get("lock_version", "")
            instance = cases.complete_task(
                kz(),
                db(),
                g.user,
                task_id,
                data,
                lang=lang(),
                expected_lock_version=int(lock) if lock.isdigit() else None,
            )
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
    return _task_page(view, data, errors, status)


def _task_page(view: cases.TaskView, data: dict[str, Any], errors: dict[str, str], status: int) -> Any:
    fields = formlib.fields(view.schema, lang(), {**view.case_data, **data})
    days = cases.working_days_left(kz(), view.task.due_at)
    colleagues = []
    if view.may_act and view.task.claimed_by_id in (None, g.user.id):
        colleagues = cases.colleagues_for(db(), g.user, view.task)
    claimant = db().get(User, view.task.claimed_by_id) if view.task.claimed_by_id else None
    return render_template(
        "task.html",
        view=view,
        fields=fields,
        data=data,
        errors=errors,
        days=days,
        colleagues=colleagues,
        claimant=claimant,
        attached=files.attached(view.instance.id, data, view.schema),
        case_files=attachments.for_case(db(), view.instance.id),
    ), status


@bp.route("/tasks/<int:task_id>/reassign", methods=["POST"])
@login_required
def reassign(task_id: int) -> Any:
    """Hand the step to a colleague with the same role in the same municipality."""
    to_user = request.form.get("to_user", "")
    if not to_user.isdigit():
        flash(_("Choose a colleague."), "error")
        return redirect(url_for("views.task", task_id=task_id))
    try:
        cases.reassign_task(kz(), db(), g.user, task_id, int(to_user))
        db().commit()
    except Conflict:
        flash(CONFLICT_MESSAGE(), "error")
        return redirect(url_for("views.task", task_id=task_id))
    flash(_("The step was handed to your colleague."))
    return redirect(url_for("views.inbox"))


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
    startable = cases.startable_processes(db(), g.user)
    places = {p.process_id: cases.start_municipalities(db(), g.user, p) for p in startable}
    shown = [cases.version_to_start(db(), p, places[p.process_id]) for p in startable]  # a variant's names
    return render_template(
        "start.html",
        processes=shown,
        places=places,
        options={p.process_id: cases.start_options(kz(), db(), p) for p in shown},
    )


@bp.route("/start/<process_id>", methods=["POST"])
@login_required
def start(process_id: str) -> Any:
    try:
        chosen = request.form.get("municipality", "")
        instance = cases.start_case(
            kz(),
            db(),
            g.user,
            process_id,
            municipality_id=int(chosen) if chosen.isdigit() else None,
            start_event=request.form.get("start_event") or None,
        )
        db().commit()
    except KyzmatError as err:
        db().rollback()
        if isinstance(err, (Forbidden, NotFound)):
            raise
        flash(
            _(
                "The case could not be started here. Choose the municipality or ask the administrator for the role."
            ),
            "error",
        )
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
        status=request.args.get("status")
        if request.args.get("status") in ("running", "completed", "error")
        else None,
        municipality_id=int(request.args["municipality"])
        if request.args.get("municipality", "").isdigit()
        else None,
        overdue=request.args.get("overdue") == "1",
        q=request.args.get("q") or None,
        page=_int_arg("page"),
    )
    return render_template(
        "cases.html",
        page=cases.list_cases(kz(), db(), g.user, flt),
        flt=flt,
        processes=_visible_processes(),
        municipalities=_visible_municipalities(),
    )


@bp.route("/cases/<int:instance_id>")
@login_required
def case(instance_id: int) -> Any:
    view = cases.get_case(kz(), db(), g.user, instance_id)
    people = {e.actor_id for e in view.events} | {e.detail.get("after") for e in view.events}
    elements = kz().version(db(), view.instance.version_id).info.get("elements", {})
    files = attachments.for_case(db(), instance_id) if access.may_view_case(g.user, view.instance) else None
    return render_template(
        "case.html",
        view=view,
        files=files,
        elements=elements,
        names={
            u.id: u.full_name
            for u in db().query(User).filter(User.id.in_({p for p in people if isinstance(p, int)}))
        },
    )


@bp.route("/cases/<int:instance_id>/receipt")
@login_required
def receipt(instance_id: int) -> Any:
    view = cases.get_case(kz(), db(), g.user, instance_id)
    if not view.data.get("registration"):
        raise NotFound("This case has no registration yet.")
    service = kz().catalogue.get(view.data.get("service_code", "")) if view.data.get("service_code") else None
    starter = db().get(User, view.instance.started_by_id) if view.instance.started_by_id else None
    return render_template(
        "receipt.html",
        view=view,
        service=service,
        operator_name=starter.full_name if starter else view.data.get("started_by", ""),
    )
