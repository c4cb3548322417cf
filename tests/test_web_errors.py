"""The app's own error pages (webapp/errors.py): 404, 405, 413 and 500 in the user's language; JSON under /api/."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.test_api import basic
from tests.test_web import app, body_text, frozen, html, login  # noqa: F401  (fixtures)

TEXTS = {
    "ky": {
        404: "Мындай барак жок.",
        405: "Бул баракты мындай колдонууга болбойт.",
        413: "Бирге жөнөтүлгөн файлдар өтө чоң.",
        500: "Серверде ката кетти.",
        "inbox": "Тапшырмаларга кайтуу",
    },
    "ru": {
        404: "Такой страницы нет.",
        405: "Эту страницу нельзя использовать так.",
        413: "Отправленные вместе файлы слишком велики.",
        500: "На сервере произошла ошибка.",
        "inbox": "Вернуться к задачам",
    },
}
# What Flask/Werkzeug's own pages say, which must not reach a Kyrgyz or Russian reader.
WERKZEUG_WORDS = (
    "Not Found",
    "Method Not Allowed",
    "Request Entity Too Large",
    "Internal Server Error",
    "The requested URL",
    "The method is not allowed",
)


def _boom() -> Any:
    raise RuntimeError("a bug")


@pytest.fixture
def error_app(app: Flask) -> Flask:  # noqa: F811
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer as in production, not re-raise into the test
    app.config["MAX_CONTENT_LENGTH"] = 4096
    app.add_url_rule("/test-boom", view_func=_boom)
    app.add_url_rule("/api/v1/test-boom", "api_boom", view_func=_boom)
    return app


def client_in(flask_app: Flask, lang: str) -> FlaskClient:
    client = flask_app.test_client()
    assert login(client, "operator").status_code == 302
    assert client.post(f"/lang/{lang}", data={"next": "/"}).status_code == 302
    return client


def requests(client: FlaskClient) -> dict[int, Any]:
    return {
        404: client.get("/no-such-page/at-all"),
        405: client.delete("/"),
        413: client.post("/login", data={"username": "x" * 10_000, "password": "y"}),
        500: client.get("/test-boom"),
    }


@pytest.mark.parametrize("lang", ["ky", "ru"])
def test_error_pages_are_the_apps_own_in_the_users_language(error_app: Flask, lang: str) -> None:
    client = client_in(error_app, lang)
    for code, resp in requests(client).items():
        assert resp.status_code == code
        assert resp.mimetype == "text/html"
        page = html(resp)
        text = body_text(page)
        assert f'<html lang="{lang}">' in page, code
        assert TEXTS[lang][code] in text, (code, text)
        assert TEXTS[lang]["inbox"] in text, code  # the app's layout, with its way back
        for word in WERKZEUG_WORDS:
            assert word not in text, (code, word)


def test_a_405_names_the_methods_that_work(error_app: Flask) -> None:
    resp = error_app.test_client().delete("/login")
    assert resp.status_code == 405
    assert set(resp.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_anonymous_visitors_get_the_kyrgyz_page(error_app: Flask) -> None:
    resp = error_app.test_client().get("/no-such-page")
    assert resp.status_code == 404
    assert TEXTS["ky"][404] in body_text(html(resp))


def test_the_api_keeps_json(error_app: Flask) -> None:
    client = error_app.test_client()
    for resp, code in (
        (client.get("/api/v1/no-such-thing"), 404),
        (client.delete("/api/v1/openapi.json"), 405),
        (client.get("/api/v1/test-boom"), 500),
        (
            client.post(
                "/api/v1/cases", data="x" * 10_000, content_type="application/json", headers=basic("operator")
            ),
            413,
        ),
    ):
        assert resp.status_code == code, resp.get_data(as_text=True)[:200]
        assert resp.mimetype == "application/json"
        assert resp.get_json()["error"]
