"""The administrator's pages: municipalities, users, their role grants, activation and passwords.

Every page needs the `admin` role; each change goes through engine/accounts.py, as `kyzmat users` does,
and is written to the audit trail.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from engine.accounts import users as accounts
from engine.accounts.roles import ROLES
from engine.citizens import evaluation
from engine.platform import audit
from engine.platform.errors import KyzmatError, NotFound
from engine.platform.models import Municipality, User

from .auth import db, kz, role_required

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _audit(action: str, **detail: Any) -> None:
    audit.record(db(), action, at=kz().clock.now(), actor_id=g.user.id, **detail)


def _municipality(mid: int) -> Municipality:
    row = db().get(Municipality, mid)
    if row is None:
        raise NotFound(f"No municipality {mid}")
    return row


def _posted_grants(municipality_codes: set[str]) -> tuple[list[tuple[str, str | None]], list[str]]:
    """Grants from the kept `grant` checkboxes ("role@code", "role@" = national) and the add rows."""
    raw = list(request.form.getlist("grant"))
    for i in range(3):
        role = request.form.get(f"new_role_{i}", "")
        if role:
            raw.append(f"{role}@{request.form.get(f'new_municipality_{i}', '')}")
    grants: list[tuple[str, str | None]] = []
    errors: list[str] = []
    for item in raw:
        role, _sep, code = item.partition("@")
        if role not in ROLES or (code and code not in municipality_codes):
            errors.append(_("Unknown role or municipality."))
            continue
        if not code and not (ROLES[role].national or role == "process_owner"):
            errors.append(_("This role is held in a municipality: choose one."))
            continue
        grants.append((role, code or None))
    return list(dict.fromkeys(grants)), errors


def _user_form_context(**extra: Any) -> dict[str, Any]:
    return {"roles": list(ROLES.values()), "municipalities": accounts.list_municipalities(db()), **extra}


@bp.route("/")
@role_required("admin")
def home() -> Any:
    return redirect(url_for("admin.users"))


# --- users -------------------------------------------------------------------------------------------


@bp.route("/users")
@role_required("admin")
def users() -> Any:
    q = (request.args.get("q") or "").strip().lower()
    rows = [u for u in accounts.list_users(db()) if not q or q in u.username or q in u.full_name.lower()]
    munis = {m.id: m for m in accounts.list_municipalities(db())}
    return render_template("admin_users.html", users=rows, q=q, munis=munis)


@bp.route("/users/new", methods=["GET", "POST"])
@role_required("admin")
def user_new() -> Any:
    form = request.form
    errors: dict[str, str] = {}
    if request.method == "POST":
        codes = {m.code for m in accounts.list_municipalities(db())}
        grants, grant_errors = _posted_grants(codes)
        username = form.get("username", "").strip().lower()
        if not username or len(username) > 64 or not all(c.isalnum() or c in "._-" for c in username):
            errors["username"] = _("A username of Latin letters, digits, dots and dashes is required.")
        elif db().scalar(select(User.id).where(User.username == username)):
            errors["username"] = _("This username is taken.")
        if not form.get("full_name", "").strip():
            errors["full_name"] = _("This field is required.")
        if len(form.get("password", "")) < accounts.MIN_PASSWORD:
            errors["password"] = _("At least 8 characters.")
        if grant_errors:
            errors["grants"] = grant_errors[0]
        if not errors:
            try:
                user = accounts.create_user(
                    db(),
                    username=username,
                    password=form["password"],
                    full_name=form["full_name"].strip(),
                    now=kz().clock.now(),
                    grants=grants,
                    email=form.get("email") or None,
                    locale=form.get("locale") if form.get("locale") in ("ky", "ru", "en") else "ky",
                )
                _audit("user_created", username=user.username, grants=[f"{r}@{c or ''}" for r, c in grants])
                db().commit()
            except KyzmatError:
                db().rollback()
                errors["grants"] = _("The user could not be saved. Check the fields.")
            else:
                flash(_("User created."))
                return redirect(url_for("admin.user_edit", user_id=user.id))
    return render_template("admin_user.html", user=None, form=form, errors=errors, **_user_form_context()), (
        422 if errors else 200
    )


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@role_required("admin")
def user_edit(user_id: int) -> Any:
    user = accounts.get_user(db(), user_id)
    errors: dict[str, str] = {}
    form = request.form
    if request.method == "POST":
        munis = accounts.list_municipalities(db())
        grants, grant_errors = _posted_grants({m.code for m in munis})
        if not form.get("full_name", "").strip():
            errors["full_name"] = _("This field is required.")
        if grant_errors:
            errors["grants"] = grant_errors[0]
        if user.id == g.user.id and ("admin", None) not in grants:
            errors["grants"] = _("You cannot take the administrator role from yourself.")
        if not errors:
            before = sorted(f"{gr.role}@{gr.municipality_id or ''}" for gr in user.grants)
            accounts.update_user(
                db(),
                user,
                full_name=form["full_name"],
                email=form.get("email"),
                locale=form.get("locale") if form.get("locale") in ("ky", "ru", "en") else user.locale,
            )
            accounts.set_grants(db(), user, grants)
            _audit(
                "user_changed",
                username=user.username,
                grants_before=before,
                grants_after=[f"{r}@{c or ''}" for r, c in grants],
            )
            db().commit()
            flash(_("Saved."))
            return redirect(url_for("admin.user_edit", user_id=user.id))
    return render_template("admin_user.html", user=user, form=form, errors=errors, **_user_form_context()), (
        422 if errors else 200
    )


@bp.route("/users/<int:user_id>/active", methods=["POST"])
@role_required("admin")
def user_active(user_id: int) -> Any:
    user = accounts.get_user(db(), user_id)
    active = request.form.get("active") == "1"
    if user.id == g.user.id and not active:
        flash(_("You cannot deactivate yourself."), "error")
        return redirect(url_for("admin.user_edit", user_id=user.id))
    accounts.set_active(db(), user, active)
    _audit("user_activated" if active else "user_deactivated", username=user.username)
    db().commit()
    flash(_("The user can log in again.") if active else _("The user can no longer log in."))
    return redirect(url_for("admin.user_edit", user_id=user.id))


@bp.route("/users/<int:user_id>/password", methods=["POST"])
@role_required("admin")
def user_password(user_id: int) -> Any:
    user = accounts.get_user(db(), user_id)
    password = request.form.get("new_password", "")
    if len(password) < accounts.MIN_PASSWORD:
        return render_template(
            "admin_user.html",
            user=user,
            form={},
            errors={"new_password": _("At least 8 characters.")},
            **_user_form_context(),
        ), 422
    accounts.reset_password(db(), user, password)
    _audit("password_reset", username=user.username)
    db().commit()
    flash(_("The password was changed. The user's open sessions have ended."))
    return redirect(url_for("admin.user_edit", user_id=user.id))


# --- municipalities ----------------------------------------------------------------------------------


def _municipality_fields() -> tuple[dict[str, Any], dict[str, str]]:
    form = request.form
    values = {
        "names": {
            lang: form.get(f"name_{lang}", "").strip()
            for lang in ("ky", "ru", "en")
            if form.get(f"name_{lang}", "").strip()
        },
        "journal_prefix": form.get("journal_prefix", "").strip(),
        "region": form.get("region", "").strip(),
        "district": form.get("district", "").strip(),
        "kind": form.get("kind", "aiyl_okmotu"),
        "remote_villages": [v for v in form.get("remote_villages", "").splitlines() if v.strip()],
    }
    errors: dict[str, str] = {}
    if not values["names"].get("ky"):
        errors["name_ky"] = _("This field is required.")
    if not values["journal_prefix"] or len(values["journal_prefix"]) > 8:
        errors["journal_prefix"] = _("From 1 to 8 characters.")
    if values["kind"] not in ("aiyl_okmotu", "city"):
        abort(400)
    for key in ("region", "district"):
        if not values[key]:
            errors[key] = _("This field is required.")
    return values, errors


def _posted_sheet(errors: dict[str, str]) -> str | None:
    """The evaluation sheet chosen on the form (None when the form did not send one)."""
    sheet = request.form.get("evaluation_sheet")
    if sheet is not None and sheet not in evaluation.VARIANTS:
        errors["evaluation_sheet"] = _("Choose the short or the full evaluation sheet.")
    return sheet


@bp.route("/municipalities")
@role_required("admin")
def municipalities() -> Any:
    return render_template("admin_municipalities.html", municipalities=accounts.list_municipalities(db()))


@bp.route("/municipalities/new", methods=["GET", "POST"])
@role_required("admin")
def municipality_new() -> Any:
    errors: dict[str, str] = {}
    if request.method == "POST":
        values, errors = _municipality_fields()
        sheet = _posted_sheet(errors)
        code = request.form.get("code", "").strip().lower()
        if not code or len(code) > 32 or set(code) - accounts._CODE_OK:
            errors["code"] = _("Lowercase Latin letters, digits and dashes.")
        elif db().scalar(select(Municipality.id).where(Municipality.code == code)):
            errors["code"] = _("This code is taken.")
        if not errors:
            row = accounts.create_municipality(db(), code=code, **values)
            evaluation.set_evaluation_sheet(db(), row, sheet or evaluation.DEFAULT_VARIANT)
            _audit("municipality_created", code=code, evaluation_sheet=evaluation.sheet_variant(row))
            db().commit()
            flash(_("Saved."))
            return redirect(url_for("admin.municipality_edit", mid=row.id))
    return render_template(
        "admin_municipality.html",
        row=None,
        form=request.form,
        errors=errors,
        sheet=evaluation.DEFAULT_VARIANT,
    ), (422 if errors else 200)


@bp.route("/municipalities/<int:mid>", methods=["GET", "POST"])
@role_required("admin")
def municipality_edit(mid: int) -> Any:
    row = _municipality(mid)
    errors: dict[str, str] = {}
    if request.method == "POST":
        values, errors = _municipality_fields()
        sheet = _posted_sheet(errors)
        if not errors:
            accounts.update_municipality(db(), row, **values)
            before = after = evaluation.sheet_variant(row)
            if sheet is not None:
                before, after = evaluation.set_evaluation_sheet(db(), row, sheet)
            _audit(
                "municipality_changed",
                code=row.code,
                evaluation_sheet_before=before,
                evaluation_sheet_after=after,
            )
            db().commit()
            flash(_("Saved."))
            return redirect(url_for("admin.municipality_edit", mid=row.id))
    return render_template(
        "admin_municipality.html",
        row=row,
        form=request.form,
        errors=errors,
        sheet=evaluation.sheet_variant(row),
    ), (422 if errors else 200)
