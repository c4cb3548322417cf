"""The diagram beside a case (its BPMN, permission-checked) and the security headers every page carries."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g
from flask_babel import gettext as _

from engine.definitions import diagram
from engine.platform.errors import Forbidden, NotFound
from engine.platform.models import HumanTask, ProcessInstance

from .auth import db, login_required
from .templating import lang

bp = Blueprint("diagrams", __name__)

# Only our own origin: no CDN, no web fonts, no inline script. `data:` images are the bpmn.io logo
# the viewer draws (its licence keeps it visible); inline styles stay off too.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


@bp.errorhandler(Forbidden)
def _forbidden(err: Forbidden) -> Any:
    return Response(_("You may not see or do this."), 403, mimetype="text/plain")


@bp.errorhandler(NotFound)
def _not_found(err: NotFound) -> Any:
    return Response(_("Not found."), 404, mimetype="text/plain")


@bp.route("/cases/<int:instance_id>/diagram.bpmn")
@login_required
def case_diagram(instance_id: int) -> Response:
    found = diagram.case_diagram(db(), g.user, instance_id, lang())
    response = Response(found.xml, mimetype="application/xml")
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Language"] = lang()
    return response


@bp.app_template_global()
def case_steps(instance: ProcessInstance) -> list[HumanTask]:
    """The case's steps for the page that already showed the case to this user (the diagram's text form)."""
    return diagram.case_steps(db(), instance.id)


@bp.after_app_request
def security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response
