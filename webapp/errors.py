"""The app's own error pages for 404, 405, 413 and 500, in the user's language; JSON under /api/.

These handlers are app-wide, so they also answer requests that matched no route (no blueprint's
handlers apply to those). A blueprint's own handler (the editor's, the public pages') still wins
for errors raised inside its views.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, g, render_template, request
from flask_babel import gettext as _
from markupsafe import escape
from werkzeug.exceptions import HTTPException

bp = Blueprint("errors", __name__)
log = logging.getLogger(__name__)
API_PREFIX = "/api/"


def _is_api() -> bool:
    return request.path.startswith(API_PREFIX)


def _json(code: int, err: HTTPException) -> Any:
    from .api import _error

    return _error(code, err.description or err.name)


def _page(code: int, message: str) -> Any:
    return render_template("error.html", code=code, message=message), code


@bp.app_errorhandler(404)
def not_found(err: HTTPException) -> Any:
    if _is_api():
        return _json(404, err)
    return _page(404, _("This page does not exist."))


@bp.app_errorhandler(405)
def method_not_allowed(err: HTTPException) -> Any:
    if _is_api():
        response = _json(405, err)
    else:
        response = _page(
            405, _("This page cannot be used this way. Go back and use the page's own buttons and links.")
        )
    allowed = err.get_response().headers.get("Allow")  # RFC 9110: a 405 names the methods that work
    return (*response, {"Allow": allowed}) if allowed else response


@bp.app_errorhandler(413)
def too_large(err: HTTPException) -> Any:
    from .files import _limit_mb

    if _is_api():
        return _json(413, err)
    return _page(
        413,
        _("The files sent together are too large. Each file may be at most %(size)s MB.", size=_limit_mb()),
    )


@bp.app_errorhandler(500)
def server_error(err: HTTPException) -> Any:
    """An unexpected failure: nothing of the request was committed, so say so and keep the page plain."""
    session = g.get("db")
    if session is not None:
        session.rollback()  # the page below may read the user's roles and bell again
    if _is_api():
        return _json(500, err)
    message = _(
        "Something went wrong on the server. What was saved before is kept; please try again, and tell "
        "the administrator if it happens again."
    )
    try:
        return _page(500, message)
    except Exception:  # the page itself failed (a broken database): answer without the layout
        log.exception("the error page could not be rendered")
        return f"<!doctype html><title>500</title><h1>500</h1><p>{escape(message)}</p>", 500
