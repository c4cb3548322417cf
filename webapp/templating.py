"""Jinja helpers: labels in the user's language, dates in the user's locale, deadline words."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import Flask, g
from flask_babel import format_date, format_datetime, format_decimal, get_locale, ngettext
from flask_babel import gettext as _

from engine.calendar.days import BISHKEK, to_local_date


def lang() -> str:
    return str(get_locale() or "ky")


def tr(labels: Any, fallback: str = "") -> str:
    """Pick the user's language from a {ky, ru, en} dict, falling back to Kyrgyz."""
    if isinstance(labels, dict):
        return labels.get(lang()) or labels.get("ky") or next(iter(labels.values()), fallback) or fallback
    return labels if isinstance(labels, str) and labels else fallback


def local_date(value: date | datetime | str | None) -> str:
    if value is None or value == "":
        return ""
    return format_date(to_local_date(value), format="long")


def local_datetime(value: datetime | None) -> str:
    if value is None:
        return ""
    return format_datetime(value.astimezone(BISHKEK), format="medium")


def days_left_words(days: int | None) -> str:
    if days is None:
        return ""
    if days > 0:
        return ngettext("%(num)d working day left", "%(num)d working days left", days)
    if days == 0:
        return _("due today")
    return ngettext("%(num)d working day late", "%(num)d working days late", -days)


def file_size(size: int) -> str:
    if size < 1024 * 1024:
        return _("%(n)s KB", n=format_decimal(max(1, round(size / 1024))))
    return _("%(n)s MB", n=format_decimal(round(size / (1024 * 1024), 1)))


def setup_templating(app: Flask) -> None:
    from engine.accounts.access import role_names

    app.jinja_env.filters.update(
        tr=tr,
        local_date=local_date,
        local_datetime=local_datetime,
        days_left=days_left_words,
        number=format_decimal,
        filesize=file_size,
    )
    app.jinja_env.globals.update(lang=lang, role_names=role_names, current_user=lambda: g.get("user"))
