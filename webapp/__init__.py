"""The Flask app: thin views over engine verbs. `create_app` is the only place it is configured."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask, g, request, session
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from engine.bootstrap import create_kyzmat
from engine.platform.clock import Clock
from engine.platform.config import Settings
from engine.runtime.context import Kyzmat

LANGUAGES = ("ky", "ru", "en")
csrf = CSRFProtect()
babel = Babel()


def create_app(
    test_config: dict[str, Any] | None = None, *, kyzmat: Kyzmat | None = None, clock: Clock | None = None
) -> Flask:
    app = Flask(__name__)
    test_config = test_config or {}
    if kyzmat is None:
        settings = test_config.pop("KYZMAT_SETTINGS", None) or Settings.from_env()
        kyzmat = create_kyzmat(settings, clock=clock)
    app.config.update(
        SECRET_KEY=kyzmat.settings.secret_key,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=kyzmat.settings.session_hours),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=kyzmat.settings.max_attachment_bytes + 1024 * 1024,
        BABEL_DEFAULT_LOCALE="ky",
        BABEL_DEFAULT_TIMEZONE="Asia/Bishkek",  # times on the pages are Bishkek's, as the deadlines are
        BABEL_TRANSLATION_DIRECTORIES="translations",
        WTF_CSRF_TIME_LIMIT=None,
        JSON_AS_ASCII=False,
    )
    app.config.update(test_config)
    app.extensions["kyzmat"] = kyzmat
    hops = kyzmat.settings.proxy_hops
    if hops > 0:  # behind N trusted proxies: the client's address, scheme and host from their headers
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)

    from . import (
        admin,
        analytics,
        api,
        appeals,
        auth,
        deadlines,
        diagrams,
        editor,
        files,
        notifications,
        public,
        views,
    )

    for module in (
        auth,
        views,
        api,
        public,
        editor,
        notifications,
        deadlines,
        analytics,
        diagrams,
        admin,
        files,
        appeals,
    ):
        app.register_blueprint(module.bp)
    csrf.exempt(api.bp)
    from . import errors

    app.register_blueprint(errors.bp)  # 404/405/413/500 pages in the user's language, JSON under /api/

    from .templating import setup_templating

    setup_templating(app)
    return app


def select_locale() -> str:
    """Kyrgyz by default; the user's saved choice or the session's wins."""
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    user = getattr(g, "user", None)
    if user is not None and user.locale in LANGUAGES:
        return user.locale
    if request and request.path.startswith("/api/"):
        return request.accept_languages.best_match(LANGUAGES) or "ky"
    return "ky"
