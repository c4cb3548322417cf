"""Login, logout, the per-request user and database session, and the permission decorator."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from engine.accounts import users as accounts
from engine.platform.errors import Forbidden
from engine.runtime.context import Kyzmat

bp = Blueprint("auth", __name__)


def kz() -> Kyzmat:
    return current_app.extensions["kyzmat"]


def db() -> Session:
    """The request's session; a view that changes anything calls db().commit() itself."""
    if "db" not in g:
        g.db = kz().sessions()
    return g.db


@bp.before_app_request
def load_user() -> None:
    g.user = None
    user_id = session.get("user_id")
    if user_id is None:
        return
    user = accounts.load_user(db(), user_id)
    if user is None or not user.active or session.get("pw") != user.password_hash[-16:]:
        session.clear()
        return
    g.user = user


@bp.teardown_app_request
def close_db(_exc: BaseException | None) -> None:
    s = g.pop("db", None)
    if s is not None:
        s.rollback()
        s.close()


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.user is None:
            if request.path.startswith("/api/"):
                abort(401)
            return redirect(url_for("auth.login", next=request.full_path))
        return view(*args, **kwargs)

    return wrapped


def role_required(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Require any of the roles (in any municipality); finer checks are the engine's."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not any(grant.role in roles for grant in g.user.grants):
                raise Forbidden(
                    "This page needs another role."
                )  # the pages' handler answers 403 in the user's language
            return view(*args, **kwargs)

        return wrapped

    return decorator


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("views.inbox")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    if request.method == "POST":
        user = accounts.authenticate(db(), request.form.get("username", ""), request.form.get("password", ""))
        if user is None:
            error = _("Wrong username or password.")
        else:
            db().commit()
            session.clear()
            session.permanent = True
            session["user_id"] = user.id
            session["pw"] = user.password_hash[-16:]
            session["lang"] = user.locale
            return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", error=error, username=request.form.get("username", "")), (
        401 if error else 200
    )


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    flash(_("You have logged out."))
    return redirect(url_for("auth.login"))


@bp.route("/lang/<code>", methods=["POST"])
def set_language(code: str) -> Any:
    from . import LANGUAGES

    if code not in LANGUAGES:
        abort(404)
    session["lang"] = code
    if g.user is not None:
        g.user.locale = code
        db().commit()
    return redirect(_safe_next(request.form.get("next")))
