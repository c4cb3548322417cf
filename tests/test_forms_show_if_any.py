"""x-show-if with a list of alternatives ("any of"): checks, fields, validation, and Process D's D_06 form.

A field shown by x-show-if gets its required mark only while shown: the mark sits inside the hidden box,
so the condition that shows the field must be the one that makes it required. D_06's refusal reason is
required when any of three answers is "no"; its x-show-if says the same, and the server agrees.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine.forms import schema as formlib
from engine.forms.schema import check_form_schema, fields, validate
from tests.test_web import (  # noqa: F401  (fixtures)
    RECEPTION_FORM,
    app,
    complete,
    frozen,
    html,
    login,
    start_case,
)

ROOT = Path(__file__).resolve().parent.parent
D_06 = json.loads((ROOT / "forms/citizen_service/D_06_check_documents.json").read_text(encoding="utf-8"))
ANSWERS = ("documents_complete", "identity_confirmed", "entitlement_confirmed")
REQUIRED_KY = "Бул талааны толтуруу милдеттүү."


def L(text: str) -> dict[str, str]:  # noqa: N802 - a label
    return {"ky": text, "ru": text, "en": text}


def tiny(show_if: object) -> dict:
    return {
        "type": "object",
        "x-label": L("Ф"),
        "properties": {
            "a": {"type": "boolean", "x-label": L("А")},
            "b": {
                "type": "string",
                "enum": ["x", "y"],
                "x-label": L("Б"),
                "x-enum-labels": {"x": L("х"), "y": L("у")},
            },
            "c": {"type": "string", "x-label": L("В"), "x-show-if": show_if},
        },
    }


def test_d_06_passes_the_checks_and_shows_the_reason_on_any_no() -> None:
    assert check_form_schema(D_06) == []
    by = {f.name: f for f in fields(D_06, "ky")}
    assert by["refusal_reason"].show_if == [{name: False} for name in ANSWERS]
    assert by["refusal_reason"].required is True  # by the if/then: marked, inside the box that hides it


@pytest.mark.parametrize("answers", list(itertools.product([True, False, None], repeat=3)))
def test_d_06_reason_is_required_exactly_while_it_is_shown(answers: tuple[bool | None, ...]) -> None:
    data: dict[str, object] = {"documents_complete": True}
    data.update({name: value for name, value in zip(ANSWERS, answers, strict=True) if value is not None})
    shown = any(data.get(name) is False for name in ANSWERS)
    _, errors = validate(D_06, data, "ky")
    assert errors == ({"refusal_reason": REQUIRED_KY} if shown else {}), data
    clean, errors = validate(D_06, {**data, "refusal_reason": "Паспорт жок"}, "ky")
    assert errors == {}
    assert ("refusal_reason" in clean) is shown  # a hidden reason is not kept


def test_alternatives_and_a_plain_object_both_work() -> None:
    schema = tiny([{"a": False}, {"a": True, "b": "y"}])
    assert check_form_schema(schema) == []
    assert formlib.visible_data(schema, {"a": False, "c": "т"}) == {"a": False, "c": "т"}
    assert formlib.visible_data(schema, {"a": True, "b": "y", "c": "т"}) == {"a": True, "b": "y", "c": "т"}
    assert formlib.visible_data(schema, {"a": True, "b": "x", "c": "т"}) == {
        "a": True,
        "b": "x",
    }  # no alternative
    assert formlib.visible_data(schema, {"c": "т"}) == {}
    plain = tiny({"a": True, "b": "y"})  # one object: every field must match, as before
    assert formlib.visible_data(plain, {"a": True, "b": "x", "c": "т"}) == {"a": True, "b": "x"}
    assert [f.show_if for f in fields(plain, "ky") if f.name == "c"] == [{"a": True, "b": "y"}]


@pytest.mark.parametrize(
    ("show_if", "problem"),
    [
        ([], "x-show-if must be an object"),
        ([{}], "x-show-if must be an object"),
        (["a"], "x-show-if must be an object"),
        ("a", "x-show-if must be an object"),
        ([{"a": False}, {"zz": 1}], "refers to 'zz', which is not a property here"),
        ([{"a": False}, {"b": "q"}], "x-show-if value 'q' is not a valid 'b'"),
        ([{"c": "т"}], "x-show-if refers to the field itself"),
    ],
)
def test_malformed_alternatives_are_refused(show_if: object, problem: str) -> None:
    assert any(problem in p for p in check_form_schema(tiny(show_if))), check_form_schema(tiny(show_if))


@pytest.fixture
def operator(app: Flask) -> FlaskClient:  # noqa: F811
    client = app.test_client()
    assert login(client, "operator").status_code == 302
    return client


def test_d_06_page_hides_the_reason_and_its_mark_until_an_answer_is_no(operator: FlaskClient) -> None:
    task_id = start_case(operator)
    resp = complete(operator, task_id, RECEPTION_FORM)
    assert resp.status_code == 302
    advice = int(resp.headers["Location"].rsplit("/", 1)[1])
    resp = complete(operator, advice, {"documents_help_given": "yes"})
    assert resp.status_code == 302
    check = int(resp.headers["Location"].rsplit("/", 1)[1])
    page = html(operator.get(f"/tasks/{check}"))
    box = page.split(
        'data-show-if=\'[{"documents_complete": false}, {"identity_confirmed": false}, '
        '{"entitlement_confirmed": false}]\'>',
        1,
    )
    assert len(box) == 2, "the reason's box carries the alternatives for the page's script"
    reason_box = box[1].split('<div class="field', 1)[0]
    assert (
        'name="refusal_reason"' in reason_box and 'class="req"' in reason_box
    )  # the mark hides with the box
    assert " required" not in reason_box  # never the HTML attribute on a conditional field
    # The server agrees: "no" without a reason is refused with the message beside the field, typed values kept.
    resp = complete(operator, check, {"documents_complete": "no", "documents_received": "application"})
    assert resp.status_code == 422
    assert f'<p class="error" id="refusal_reason-error" role="alert">{REQUIRED_KY}</p>' in html(resp)
    assert 'value="no" checked' in html(resp)
