"""The bell (unread count in the header), the notification list, the user's profile (e-mail and
daily digest), and the administrators' view of e-mails that failed."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine.deadlines import reminders
from engine.notifications import mailer
from engine.platform.models import EmailOutbox

from .auth import db, kz, login_required, role_required

bp = Blueprint("notifications", __name__)


@bp.app_context_processor
def _bell() -> dict[str, Any]:
    def unread_notifications() -> int:
        if g.get("user") is None:
            return 0
        if "unread_notifications" not in g:
            g.unread_notifications = reminders.unread_count(db(), g.user)
        return int(g.unread_notifications)

    def deadline_links() -> dict[str, bool]:
        from engine.deadlines import overdue

        user = g.get("user")
        return {
            "dashboard": user is not None and overdue.may_view(user),
            "admin": user is not None and any(grant.role == "admin" for grant in user.grants),
        }

    return {"unread_notifications": unread_notifications, "deadline_links": deadline_links}


@bp.route("/notifications")
@login_required
def index() -> Any:
    return render_template("notifications.html", items=reminders.list_for(db(), g.user))


@bp.route("/notifications/read", methods=["POST"])
@login_required
def mark_read() -> Any:
    raw = request.form.getlist("id")
    ids = [int(v) for v in raw if v.isdigit()] if raw else None
    reminders.mark_read(db(), g.user, ids, kz().clock.now())
    db().commit()
    target = request.form.get("next", "")
    if target.startswith("/tasks/") and target[len("/tasks/") :].isdigit():
        return redirect(target)
    return redirect(url_for("notifications.index"))


@bp.route("/profile", methods=["GET", "POST"])
@login_required
def profile() -> Any:
    error = None
    email = g.user.email or ""
    if request.method == "POST":
        email = request.form.get("email", "").strip()
        digest = request.form.get("email_digest") == "1"
        if email and ("@" not in email or " " in email or len(email) > 200):
            error = _("Enter a valid e-mail address, e.g. name@example.kg.")
        elif digest and not email:
            error = _("A daily digest needs an e-mail address.")
        else:
            g.user.email = email or None
            g.user.email_digest = digest
            db().commit()
            flash(_("Profile saved."))
            return redirect(url_for("notifications.profile"))
    digest = request.form.get("email_digest") == "1" if request.method == "POST" else g.user.email_digest
    return render_template("profile.html", email=email, digest=digest, error=error), (422 if error else 200)


@bp.route("/admin/outbox")
@role_required("admin")
def outbox() -> Any:
    from sqlalchemy import func, select

    pending = (
        db().scalar(select(func.count()).select_from(EmailOutbox).where(EmailOutbox.status == "pending")) or 0
    )
    return render_template(
        "admin_outbox.html", rows=mailer.troubled(db()), pending=pending, smtp_host=kz().settings.smtp_host
    )


@bp.route("/admin/outbox/<int:email_id>/retry", methods=["POST"])
@role_required("admin")
def retry(email_id: int) -> Any:
    if not mailer.retry(db(), email_id, kz().clock.now()):
        abort(404)
    db().commit()
    flash(_("The e-mail will be sent again."))
    return redirect(url_for("notifications.outbox"))
