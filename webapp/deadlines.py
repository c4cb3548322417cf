"""The overdue dashboard (heads and national users) and the calendar administration page (admin)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine.calendar import admin as calendar_admin
from engine.calendar.days import BISHKEK, to_local_date
from engine.deadlines import overdue
from engine.platform.errors import Forbidden

from .auth import db, kz, login_required, role_required
from .templating import lang

bp = Blueprint("deadlines", __name__)


def _day(name: str, default: date) -> date:
    try:
        return date.fromisoformat(request.args.get(name) or default.isoformat())
    except ValueError:
        return default


@bp.route("/deadlines")
@login_required
def dashboard() -> Any:
    now = kz().clock.now()
    today = to_local_date(now)
    start, end = _day("from", today - timedelta(days=30)), _day("to", today)
    bad_period = end < start
    if bad_period:
        start, end = end, start
    try:
        board = overdue.dashboard(
            db(),
            g.user,
            now,
            datetime.combine(start, time.min, tzinfo=BISHKEK),
            datetime.combine(end + timedelta(days=1), time.min, tzinfo=BISHKEK),
        )
    except Forbidden:
        abort(403)
    return render_template("deadlines.html", board=board, start=start, end=end, bad_period=bad_period)


@bp.route("/admin/calendar", methods=["GET", "POST"])
@role_required("admin")
def calendar() -> Any:
    now = kz().clock.now()
    try:
        year = int(request.values.get("year") or to_local_date(now).year)
        holidays = calendar_admin.law_holidays(year, lang())
    except (ValueError, NotImplementedError):
        abort(404)
    error = None
    form = {"day": "", "kind": "day-off", "reason": ""}
    if request.method == "POST":
        form = {k: request.form.get(k, "").strip() for k in ("day", "kind", "reason")}
        try:
            day = date.fromisoformat(form["day"])
        except ValueError:
            error = _("Enter the date as YYYY-MM-DD.")
        else:
            if request.form.get("action") == "remove":
                calendar_admin.unset_exception(db(), day, now=now, actor_id=g.user.id)
                db().commit()
                kz().calendar_changed()
                flash(_("The exception was removed."))
                return redirect(url_for("deadlines.calendar", year=day.year))
            if form["kind"] not in ("day-off", "working-day"):
                error = _("Choose a day off or a working day.")
            elif not form["reason"]:
                error = _("Give the reason: the decree that moves the day.")
            else:
                calendar_admin.set_exception(
                    db(), day, form["kind"] == "working-day", form["reason"], now=now, actor_id=g.user.id
                )
                db().commit()
                kz().calendar_changed()
                flash(_("The calendar was changed."))
                return redirect(url_for("deadlines.calendar", year=day.year))
    return render_template(
        "calendar_admin.html",
        year=year,
        holidays=holidays,
        form=form,
        error=error,
        exceptions=calendar_admin.exceptions_for_year(db(), year),
    ), (422 if error else 200)
