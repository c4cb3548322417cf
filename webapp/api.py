"""JSON API under /api/v1, mirroring the pages. Described by /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, request
from werkzeug.exceptions import HTTPException

from engine.accounts import users as accounts
from engine.platform.errors import Conflict, Forbidden, InvalidData, KyzmatError, NotFound
from engine.platform.models import HumanTask, ProcessInstance
from engine.runtime import cases

from .auth import db, kz
from .openapi import OPENAPI
from .templating import lang

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def _error(status: int, message: str, **extra: Any) -> Any:
    if status == 401:  # RFC 9110: a 401 names the scheme to use
        return (
            jsonify({"error": message, **extra}),
            status,
            {"WWW-Authenticate": 'Basic realm="kyzmat", charset="UTF-8"'},
        )
    return jsonify({"error": message, **extra}), status


@bp.before_request
def _authenticate() -> Any:
    if request.endpoint == "api.openapi":
        return None
    auth = request.authorization
    if auth is not None and auth.type == "basic":
        user = accounts.authenticate(db(), auth.username or "", auth.password or "")
        if user is None:
            return _error(401, "Wrong username or password.")
        g.user = user
    if g.get("user") is None:
        return _error(401, "Log in (session cookie) or send HTTP Basic credentials.")
    if request.method in ("POST", "PUT", "PATCH", "DELETE") and not request.is_json:
        # Plain HTML forms cannot send JSON cross-site, so this also keeps cookie-authenticated calls safe.
        return _error(415, "Send a JSON body (Content-Type: application/json).")
    return None


@bp.errorhandler(Forbidden)
def _forbidden(err: Forbidden) -> Any:
    return _error(403, str(err))


@bp.errorhandler(NotFound)
def _not_found(err: NotFound) -> Any:
    return _error(404, str(err))


@bp.errorhandler(Conflict)
def _conflict(err: Conflict) -> Any:
    return _error(409, str(err))


@bp.errorhandler(InvalidData)
def _invalid(err: InvalidData) -> Any:
    return _error(422, "The data is not valid.", fields=err.errors)


@bp.errorhandler(KyzmatError)
def _kyzmat(err: KyzmatError) -> Any:
    return _error(400, str(err))


@bp.errorhandler(HTTPException)
def _http(err: HTTPException) -> Any:
    return _error(err.code or 500, err.description or err.name)


def task_json(task: HumanTask, days_left: int | None = None) -> dict[str, Any]:
    inst = task.instance
    return {
        "id": task.id,
        "case_id": task.instance_id,
        "process_id": task.process_id,
        "step_id": task.step_id,
        "name": task.names,
        "role": task.role,
        "municipality_id": task.municipality_id,
        "status": task.status,
        "priority": task.priority,
        "due_at": task.due_at.isoformat() if task.due_at else None,
        "working_days_left": days_left,
        "claimed_by": task.claimed_by_id,
        "reference": inst.reference,
        "subject": inst.subject,
        "lock_version": inst.lock_version,
    }


def case_json(inst: ProcessInstance) -> dict[str, Any]:
    return {
        "id": inst.id,
        "process_id": inst.process_id,
        "version": inst.version.number,
        "municipality_id": inst.municipality_id,
        "status": inst.status,
        "reference": inst.reference,
        "subject": inst.subject,
        "started_at": inst.started_at.isoformat(),
        "completed_at": inst.completed_at.isoformat() if inst.completed_at else None,
        "lock_version": inst.lock_version,
    }


@bp.get("/openapi.json")
def openapi() -> Any:
    return jsonify(OPENAPI)


@bp.post("/cases")
def start_case() -> Any:
    body = request.get_json(silent=True) or {}
    process_id = body.get("process_id")
    if not isinstance(process_id, str):
        return _error(422, "The data is not valid.", fields={"process_id": "required"})
    municipality_id = None
    if body.get("municipality_code"):
        municipality_id = accounts.municipality_by_code(db(), body["municipality_code"]).id
    start_event = body.get("start_event") if isinstance(body.get("start_event"), str) else None
    instance = cases.start_case(
        kz(), db(), g.user, process_id, municipality_id=municipality_id, start_event=start_event
    )
    db().commit()
    nxt = cases.next_task_for(db(), g.user, instance.id)
    return jsonify({**case_json(instance), "next_task_id": nxt.id if nxt else None}), 201


@bp.get("/cases/<int:instance_id>")
def get_case(instance_id: int) -> Any:
    view = cases.get_case(kz(), db(), g.user, instance_id)
    return jsonify(
        {
            **case_json(view.instance),
            "data": view.data,
            "open_tasks": [task_json(t) for t in view.tasks if t.status == "open"],
        }
    )


@bp.get("/tasks")
def list_tasks() -> Any:
    view = request.args.get("view", "mine")
    if view not in cases.INBOX_VIEWS:
        return _error(400, f"view must be one of {', '.join(cases.INBOX_VIEWS)}")
    try:
        page_no = max(1, int(request.args.get("page", 1)))
    except ValueError:
        page_no = 1
    page = cases.list_tasks(
        kz(),
        db(),
        g.user,
        cases.InboxFilter(
            view=view,
            process_id=request.args.get("process") or None,
            q=request.args.get("q") or None,
            page=page_no,
        ),
    )
    return jsonify(
        {
            "items": [task_json(t, cases.working_days_left(kz(), t.due_at)) for t in page.items],
            "total": page.total,
            "page": page.page,
            "pages": page.pages,
        }
    )


@bp.get("/tasks/<int:task_id>")
def get_task(task_id: int) -> Any:
    view = cases.get_task(kz(), db(), g.user, task_id)
    return jsonify(
        {
            **task_json(view.task, cases.working_days_left(kz(), view.task.due_at)),
            "may_act": view.may_act,
            "form": view.schema,
            "data": view.data,
        }
    )


@bp.post("/tasks/<int:task_id>/complete")
def complete_task(task_id: int) -> Any:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("data", {}), dict):
        return _error(422, "The data is not valid.", fields={"data": "an object is required"})
    lock = body.get("lock_version")
    instance = cases.complete_task(
        kz(),
        db(),
        g.user,
        task_id,
        body.get("data", {}),
        lang=lang(),
        expected_lock_version=lock if isinstance(lock, int) else None,
    )
    db().commit()
    nxt = cases.next_task_for(db(), g.user, instance.id)
    return jsonify({**case_json(instance), "next_task_id": nxt.id if nxt else None})


@bp.post("/tasks/<int:task_id>/claim")
def claim_task(task_id: int) -> Any:
    task = cases.claim_task(kz(), db(), g.user, task_id)
    db().commit()
    return jsonify(task_json(task))
