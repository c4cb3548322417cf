"""engine/forms.py: checking, flattening, coercing and validating task forms."""

import copy
import json
import os

import pytest
from werkzeug.datastructures import MultiDict

from engine.forms.schema import (
    LANGS,
    Field,
    FormNotFound,
    check_form_schema,
    coerce_form,
    enum_label,
    fields,
    form_values,
    help_text,
    label,
    load_form,
    resolve_enum_from,
    validate,
)


def L(ky, ru, en):
    return {"ky": ky, "ru": ru, "en": en}


# One form with every field kind: a land-plot application review.
SCHEMA = {
    "type": "object",
    "title": "Арызды карап чыгуу",
    "x-label": L("Арызды карап чыгуу", "Рассмотрение заявления", "Review of the application"),
    "required": ["applicant_name", "plot_area", "application_date", "decision", "documents_complete"],
    "properties": {
        "applicant_name": {
            "type": "string",
            "maxLength": 20,
            "title": "Арыз ээси",
            "x-label": L("Арыз ээсинин аты-жөнү", "ФИО заявителя", "Applicant's full name"),
            "x-help": L("Паспорттогудай жазыңыз", "Как в паспорте", "As in the passport"),
        },
        "address": {
            "type": "string",
            "x-widget": "textarea",
            "maxLength": 500,
            "x-label": L("Дареги", "Адрес", "Address"),
        },
        "household_size": {
            "type": "integer",
            "minimum": 1,
            "maximum": 30,
            "x-label": L("Үй-бүлө мүчөлөрүнүн саны", "Число членов семьи", "Household size"),
        },
        "plot_area": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 0.5,
            "x-label": L("Жер тилкесинин аянты, га", "Площадь участка, га", "Plot area, ha"),
        },
        "application_date": {
            "type": "string",
            "format": "date",
            "x-label": L("Арыз берилген күн", "Дата заявления", "Application date"),
        },
        "decision": {
            "enum": ["approve", "refuse"],
            "x-widget": "radio",
            "x-label": L("Чечим", "Решение", "Decision"),
            "x-enum-labels": {
                "approve": L("Макулдоо", "Одобрить", "Approve"),
                "refuse": L("Баш тартуу", "Отказать", "Refuse"),
            },
        },
        "district": {
            "type": "string",
            "enum": ["chui", "osh", "naryn"],
            "x-widget": "select",
            "x-label": L("Район", "Район", "District"),
            "x-enum-labels": {
                "chui": L("Чүй", "Чуйский", "Chui"),
                "osh": L("Ош", "Ошский", "Osh"),
                "naryn": L("Нарын", "Нарынский", "Naryn"),
            },
        },
        "grounds": {
            "type": "array",
            "uniqueItems": True,
            "maxItems": 2,
            "items": {"enum": ["landless", "large_family", "disability"]},
            "x-label": L("Негиздер", "Основания", "Grounds"),
            "x-enum-labels": {
                "landless": L("Жери жок", "Нет земли", "Landless"),
                "large_family": L("Көп балалуу үй-бүлө", "Многодетная семья", "Large family"),
                "disability": L("Майыптуулук", "Инвалидность", "Disability"),
            },
        },
        "documents_complete": {
            "type": "boolean",
            "title": "Документтер толук",
            "x-label": L("Документтер толук", "Документы полные", "Documents complete"),
        },
        "refusal_reason": {
            "type": "string",
            "x-widget": "textarea",
            "x-label": L("Баш тартуунун себеби", "Причина отказа", "Reason for refusal"),
            "x-show-if": {"documents_complete": False},
        },
        "rows": {
            "type": "array",
            "maxItems": 10,
            "x-label": L("Төлөмдөр", "Платежи", "Payments"),
            "items": {
                "type": "object",
                "required": ["amount"],
                "properties": {
                    "payer": {"type": "string", "x-label": L("Төлөөчү", "Плательщик", "Payer")},
                    "amount": {
                        "type": "number",
                        "minimum": 0,
                        "x-label": L("Сумма, сом", "Сумма, сом", "Amount, som"),
                    },
                    "paid_on": {
                        "type": "string",
                        "format": "date",
                        "x-label": L("Төлөнгөн күн", "Дата оплаты", "Paid on"),
                    },
                },
            },
        },
        "scan": {
            "type": "string",
            "x-widget": "file",
            "x-label": L("Арыздын сканы", "Скан заявления", "Scan of the application"),
        },
        "attachments": {
            "type": "array",
            "maxItems": 5,
            "items": {"type": "string", "x-widget": "file"},
            "x-label": L("Тиркемелер", "Приложения", "Attachments"),
        },
        "commission_member": {
            "type": "string",
            "x-enum-from": "commission_members",
            "x-label": L("Комиссия мүчөсү", "Член комиссии", "Commission member"),
        },
        "notify_by_sms": {
            "type": "boolean",
            "x-widget": "checkbox",
            "x-label": L("SMS менен кабарлоо", "Уведомить по SMS", "Notify by SMS"),
        },
    },
    "allOf": [
        {
            "if": {
                "properties": {"documents_complete": {"const": False}},
                "required": ["documents_complete"],
            },
            "then": {"required": ["refusal_reason"]},
        },
    ],
}

TASK_DATA = {
    "commission_members": [
        {"value": "u17", "label": L("Асанов Б.", "Асанов Б.", "Asanov B.")},
        {"value": "u23", "label": L("Токтогулова А.", "Токтогулова А.", "Toktogulova A.")},
    ],
}

VALID = {
    "applicant_name": "Бакыт Асанов",
    "plot_area": 0.12,
    "application_date": "2026-03-02",
    "decision": "approve",
    "documents_complete": True,
}


@pytest.fixture
def schema():
    return copy.deepcopy(SCHEMA)


def test_fixture_schema_passes_the_checks(schema):
    assert check_form_schema(schema) == []


# --------------------------------------------------------------------------- fields


def test_fields_cover_every_kind_in_schema_order(schema):
    got = fields(schema, "ru", TASK_DATA)
    assert [(f.name, f.kind) for f in got] == [
        ("applicant_name", "text"),
        ("address", "textarea"),
        ("household_size", "integer"),
        ("plot_area", "number"),
        ("application_date", "date"),
        ("decision", "choice"),
        ("district", "choice"),
        ("grounds", "multichoice"),
        ("documents_complete", "boolean"),
        ("refusal_reason", "textarea"),
        ("rows", "rows"),
        ("scan", "file"),
        ("attachments", "files"),
        ("commission_member", "choice"),
        ("notify_by_sms", "boolean"),
    ]
    assert all(isinstance(f, Field) for f in got)


def test_fields_labels_options_and_flags_in_the_language(schema):
    by = {f.name: f for f in fields(schema, "ru", TASK_DATA)}
    assert by["applicant_name"].label == "ФИО заявителя"
    assert by["applicant_name"].help == "Как в паспорте"
    assert by["applicant_name"].required is True
    assert by["address"].required is False
    assert by["decision"].widget == "radio"
    assert by["decision"].options == [("approve", "Одобрить"), ("refuse", "Отказать")]
    assert by["district"].widget == "select"
    assert by["grounds"].widget == "checkboxes"
    assert by["grounds"].options == [
        ("landless", "Нет земли"),
        ("large_family", "Многодетная семья"),
        ("disability", "Инвалидность"),
    ]
    assert by["documents_complete"].options == [("yes", "Да"), ("no", "Нет")]
    assert by["documents_complete"].widget == "radio"
    assert by["notify_by_sms"].widget == "checkbox"
    # required through if/then, shown through x-show-if
    assert by["refusal_reason"].required is True
    assert by["refusal_reason"].show_if == {"documents_complete": False}
    rows = by["rows"]
    assert [(s.name, s.kind, s.label, s.required) for s in rows.subfields] == [
        ("payer", "text", "Плательщик", False),
        ("amount", "number", "Сумма, сом", True),
        ("paid_on", "date", "Дата оплаты", False),
    ]
    assert by["scan"].schema is not None and by["scan"].widget == "file"


def test_fields_options_from_task_data(schema):
    by = {f.name: f for f in fields(schema, "en", TASK_DATA)}
    assert by["commission_member"].options == [("u17", "Asanov B."), ("u23", "Toktogulova A.")]
    by_ky = {f.name: f for f in fields(schema, "ky", TASK_DATA)}
    assert by_ky["commission_member"].options[1] == ("u23", "Токтогулова А.")
    assert by_ky["documents_complete"].options == [("yes", "Ооба"), ("no", "Жок")]
    # no task data: no options, and the schema is not modified
    assert {f.name: f for f in fields(schema, "en")}["commission_member"].options == []
    assert schema == SCHEMA


def test_labels_fall_back_to_kyrgyz_then_title():
    node = {"title": "Аталышы", "x-label": {"ky": "Кыргызча"}, "description": "Түшүндүрмө"}
    assert label(node, "ru") == "Кыргызча"
    assert label({"title": "Аталышы"}, "en") == "Аталышы"
    assert label({}, "en") == ""
    assert help_text(node, "en") == "Түшүндүрмө"
    assert help_text({"x-help": L("к", "р", "e")}, "ru") == "р"
    assert enum_label(SCHEMA["properties"]["decision"], "refuse", "en") == "Refuse"
    assert enum_label(SCHEMA["properties"]["grounds"], "landless", "ky") == "Жери жок"
    assert enum_label({"enum": [1, 2]}, 2, "ky") == "2"
    assert LANGS == ("ky", "ru", "en")


# --------------------------------------------------------------------------- coerce


def browser_post():
    """What a browser sends for the rendered form (werkzeug's request.form)."""
    return MultiDict(
        [
            ("csrf_token", "abc"),
            ("applicant_name", "  Бакыт Асанов "),
            ("address", "Чүй обл.,\r\nАламүдүн р-ну"),
            ("household_size", "5"),
            ("plot_area", "0,12"),
            ("application_date", "2026-03-02"),
            ("decision", "refuse"),
            ("district", ""),
            ("grounds", "landless"),
            ("grounds", "large_family"),
            ("documents_complete", "no"),
            ("refusal_reason", "Жер кадастрынын күбөлүгү жок"),
            ("rows-0-payer", "Асанов"),
            ("rows-0-amount", "1 500"),
            ("rows-0-paid_on", "2026-02-27"),
            ("rows-1-payer", ""),
            ("rows-1-amount", ""),
            ("rows-1-paid_on", ""),
            ("rows-2-payer", "Токтогулова"),
            ("rows-2-amount", "12a"),
            ("rows-2-paid_on", ""),
            ("scan", "att-101"),
            ("attachments", "att-102"),
            ("attachments", "att-103"),
            ("commission_member", "u23"),
        ]
    )


def test_coerce_a_realistic_post(schema):
    data = coerce_form(schema, browser_post())
    assert data == {
        "applicant_name": "Бакыт Асанов",
        "address": "Чүй обл.,\nАламүдүн р-ну",
        "household_size": 5,
        "plot_area": 0.12,
        "application_date": "2026-03-02",
        "decision": "refuse",
        "grounds": ["landless", "large_family"],
        "documents_complete": False,
        "refusal_reason": "Жер кадастрынын күбөлүгү жок",
        "rows": [
            {"payer": "Асанов", "amount": 1500, "paid_on": "2026-02-27"},
            {"payer": "Токтогулова", "amount": "12a"},  # the empty row 1 is skipped, the bad number kept
        ],
        "scan": "att-101",
        "attachments": ["att-102", "att-103"],
        "commission_member": "u23",
        "notify_by_sms": False,  # an unticked checkbox
    }
    # the bad number is reported at the row's position after skipping: rows-1-amount
    _, errors = validate(schema, data, "ky")
    assert errors == {"rows-1-amount": "Сан жазыңыз."}


def test_coerce_booleans_numbers_and_plain_dicts(schema):
    for raw, expected in [("yes", True), ("true", True), ("on", True), ("no", False), ("false", False)]:
        assert coerce_form(schema, {"documents_complete": [raw]})["documents_complete"] is expected
    # radio yes/no left unanswered: no value, not False
    assert "documents_complete" not in coerce_form(schema, {"applicant_name": ["A"]})
    assert coerce_form(schema, {"household_size": ["4.5"]})["household_size"] == 4.5
    assert coerce_form(schema, {"household_size": ["пять"]})["household_size"] == "пять"
    assert coerce_form(schema, {"plot_area": ["nan"]})["plot_area"] == "nan"
    assert coerce_form(schema, {"plot_area": ["-0.25"]})["plot_area"] == -0.25
    assert coerce_form(schema, {"application_date": ["02.03.2026"]})["application_date"] == "2026-03-02"
    assert coerce_form(schema, {"applicant_name": "   ", "address": [""]}) == {"notify_by_sms": False}
    # a hidden "no" before a ticked checkbox: the last value wins
    assert (
        coerce_form(schema, MultiDict([("notify_by_sms", "no"), ("notify_by_sms", "yes")]))["notify_by_sms"]
        is True
    )


def test_coerce_maps_typed_choices_back():
    schema = {
        "type": "object",
        "properties": {
            "floor": {
                "enum": [1, 2, 3],
                "x-label": L("Кабат", "Этаж", "Floor"),
                "x-enum-labels": {"1": L("1", "1", "1"), "2": L("2", "2", "2"), "3": L("3", "3", "3")},
            },
        },
    }
    assert coerce_form(schema, {"floor": ["2"]}) == {"floor": 2}
    assert check_form_schema(schema) == []


def test_form_values_round_trip(schema):
    data = coerce_form(schema, browser_post())
    again = coerce_form(
        schema, MultiDict([(k, v) for k, vs in form_values(schema, data).items() for v in vs])
    )
    assert again == data
    assert form_values(schema, {"documents_complete": True, "grounds": ["landless"]}) == {
        "documents_complete": ["yes"],
        "grounds": ["landless"],
    }


# --------------------------------------------------------------------------- validate


def test_valid_data_passes(schema):
    clean, errors = validate(schema, VALID, "ky")
    assert errors == {}
    assert clean == VALID


def test_required_missing_in_three_languages(schema):
    data = dict(VALID)
    del data["applicant_name"]
    expected = {
        "ky": "Бул талааны толтуруу милдеттүү.",
        "ru": "Обязательное поле.",
        "en": "This field is required.",
    }
    for lang, message in expected.items():
        _, errors = validate(schema, data, lang)
        assert errors == {"applicant_name": message}


def test_all_required_fields_reported_in_field_order(schema):
    _, errors = validate(schema, {}, "ru")
    assert list(errors) == [
        "applicant_name",
        "plot_area",
        "application_date",
        "decision",
        "documents_complete",
    ]
    assert set(errors.values()) == {"Обязательное поле."}


def test_conditional_required_only_when_the_condition_holds(schema):
    _, errors = validate(schema, {**VALID, "documents_complete": False}, "ky")
    assert errors == {"refusal_reason": "Бул талааны толтуруу милдеттүү."}
    _, errors = validate(schema, {**VALID, "documents_complete": True}, "ky")
    assert errors == {}
    clean, errors = validate(schema, {**VALID, "documents_complete": False, "refusal_reason": "Жок"}, "ky")
    assert errors == {} and clean["refusal_reason"] == "Жок"


def test_hidden_and_unknown_fields_are_dropped(schema):
    clean, errors = validate(schema, {**VALID, "refusal_reason": "эски себеп", "is_admin": True}, "en")
    assert errors == {}
    assert "refusal_reason" not in clean and "is_admin" not in clean
    # hidden fields are not validated either
    _, errors = validate(schema, {**VALID, "refusal_reason": 42}, "en")
    assert errors == {}


def test_bad_date(schema):
    for lang, message in [
        ("ky", "Күндү ЖЖЖЖ-АА-КК форматында жазыңыз."),
        ("ru", "Введите дату в формате ГГГГ-ММ-ДД."),
        ("en", "Enter the date as YYYY-MM-DD."),
    ]:
        _, errors = validate(schema, {**VALID, "application_date": "2026-02-30"}, lang)
        assert errors == {"application_date": message}
    _, errors = validate(schema, {**VALID, "application_date": "вчера"}, "ky")
    assert errors == {"application_date": "Күндү ЖЖЖЖ-АА-КК форматында жазыңыз."}


def test_enum_outside_the_list(schema):
    _, errors = validate(schema, {**VALID, "decision": "maybe", "grounds": ["landless", "rich"]}, "ky")
    assert errors == {
        "decision": "Тизмедеги варианттардын бирин тандаңыз.",
        "grounds": "Тизмедеги варианттардын бирин тандаңыз.",
    }
    _, errors = validate(schema, {**VALID, "decision": "maybe"}, "ru")
    assert errors == {"decision": "Выберите один из вариантов списка."}


def test_enum_from_task_data_is_checked_with_context(schema):
    data = {**VALID, "commission_member": "u99"}
    assert validate(schema, data, "en")[1] == {}  # without the task data nothing to check against
    _, errors = validate(schema, data, "en", context=TASK_DATA)
    assert errors == {"commission_member": "Choose one of the options in the list."}
    assert validate(schema, {**VALID, "commission_member": "u17"}, "en", context=TASK_DATA)[1] == {}
    resolved = resolve_enum_from(schema, TASK_DATA)
    assert resolved["properties"]["commission_member"]["enum"] == ["u17", "u23"]
    assert "enum" not in schema["properties"]["commission_member"]


def test_number_range(schema):
    _, errors = validate(schema, {**VALID, "household_size": 0, "plot_area": 0.75}, "ky")
    assert errors == {
        "household_size": "1 же андан көп болушу керек.",
        "plot_area": "0,5 же андан аз болушу керек.",
    }
    _, errors = validate(schema, {**VALID, "household_size": 31, "plot_area": 0}, "ru")
    assert errors == {
        "household_size": "Значение должно быть не больше 30.",
        "plot_area": "Значение должно быть больше 0.",
    }
    _, errors = validate(schema, {**VALID, "household_size": 2.5}, "ru")
    assert errors == {"household_size": "Введите целое число."}
    _, errors = validate(schema, {**VALID, "plot_area": "12a"}, "ru")
    assert errors == {"plot_area": "Введите число."}


def test_max_length(schema):
    data = {**VALID, "applicant_name": "А" * 21}
    assert validate(schema, data, "ky")[1] == {"applicant_name": "Эң көп 20 белги."}
    assert validate(schema, data, "ru")[1] == {"applicant_name": "Не более 20 символов."}
    assert validate(schema, data, "en")[1] == {"applicant_name": "At most 20 characters."}
    one = {
        "type": "object",
        "properties": {"code": {"type": "string", "maxLength": 21, "x-label": L("Код", "Код", "Code")}},
    }
    assert validate(one, {"code": "x" * 22}, "ru")[1] == {"code": "Не более 21 символа."}


def test_rows_sub_field_error_path(schema):
    data = {
        **VALID,
        "rows": [
            {"payer": "Асанов", "amount": 100},
            {"payer": "Токтогулова", "amount": -5},
            {"payer": "Бакиев"},
        ],
    }
    _, errors = validate(schema, data, "ky")
    assert errors == {
        "rows-1-amount": "0 же андан көп болушу керек.",
        "rows-2-amount": "Бул талааны толтуруу милдеттүү.",
    }
    _, errors = validate(schema, {**VALID, "rows": [{"amount": 1, "paid_on": "27.02"}]}, "en")
    assert errors == {"rows-0-paid_on": "Enter the date as YYYY-MM-DD."}


def test_items_unique_and_counted(schema):
    _, errors = validate(schema, {**VALID, "grounds": ["landless", "landless"]}, "ru")
    assert errors == {"grounds": "Значения не должны повторяться."}
    _, errors = validate(schema, {**VALID, "grounds": ["landless", "large_family", "disability"]}, "ru")
    assert errors == {"grounds": "Выберите не более 2 вариантов."}
    _, errors = validate(schema, {**VALID, "attachments": [f"att-{i}" for i in range(6)]}, "ky")
    assert errors == {"attachments": "Эң көп 5 файл тиркөөгө болот."}
    _, errors = validate(schema, {**VALID, "rows": [{"amount": i} for i in range(11)]}, "en")
    assert errors == {"rows": "At most 10 rows."}


def test_pattern_const_and_unknown_language():
    schema = {
        "type": "object",
        "required": ["agree"],
        "properties": {
            "inn": {"type": "string", "pattern": "^[0-9]{14}$", "x-label": L("ИНН", "ИНН", "PIN")},
            "agree": {
                "type": "boolean",
                "const": True,
                "x-widget": "checkbox",
                "x-label": L("Макулмун", "Согласен", "I agree"),
            },
        },
    }
    assert check_form_schema(schema) == []
    _, errors = validate(schema, {"inn": "123", "agree": False}, "ky")
    assert errors == {
        "inn": "Маани талап кылынган форматка туура келбейт.",
        "agree": "Бул жерге белги коюу милдеттүү.",
    }
    _, errors = validate(schema, {"inn": "123", "agree": False}, "ru")
    assert errors == {
        "inn": "Значение не соответствует требуемому формату.",
        "agree": "Необходимо отметить это поле.",
    }
    _, errors = validate(schema, {"agree": True, "inn": 5}, "de")  # unknown language: Kyrgyz
    assert errors == {"inn": "Текст жазыңыз."}


def test_no_raw_jsonschema_english_in_ky_or_ru(schema):
    bad = {
        "applicant_name": 5,
        "household_size": "x",
        "plot_area": -1,
        "application_date": "x",
        "decision": "x",
        "grounds": ["x", "x", "y"],
        "documents_complete": "x",
        "rows": [{"amount": "x"}],
    }
    for lang in ("ky", "ru"):
        _, errors = validate(schema, bad, lang)
        assert len(errors) == 8
        for message in errors.values():
            assert not any(word in message for word in ("is not", "valid", "required", "property", "'")), (
                message
            )


# --------------------------------------------------------------------------- check_form_schema


def test_check_catches_invalid_json_schema(schema):
    schema["properties"]["applicant_name"]["type"] = "strnig"
    problems = check_form_schema(schema)
    assert any("invalid JSON Schema" in p and "applicant_name" in p for p in problems), problems


def test_check_catches_missing_labels(schema):
    del schema["properties"]["address"]["x-label"]["ky"]
    del schema["properties"]["household_size"]["x-label"]["en"]
    del schema["properties"]["rows"]["items"]["properties"]["payer"]["x-label"]
    problems = check_form_schema(schema)
    assert any("address" in p and "'ky'" in p for p in problems), problems
    assert any("household_size" in p and "'en'" in p for p in problems), problems
    assert any("payer" in p and "x-label" in p for p in problems), problems
    assert len(problems) == 3


def test_check_catches_enum_value_without_label(schema):
    schema["properties"]["district"]["enum"].append("talas")
    schema["properties"]["grounds"]["items"]["enum"].append("veteran")
    problems = check_form_schema(schema)
    assert any("district" in p and "'talas'" in p for p in problems), problems
    assert any("grounds" in p and "'veteran'" in p for p in problems), problems
    assert len(problems) == 2


def test_check_catches_show_if_to_a_missing_field(schema):
    schema["properties"]["refusal_reason"]["x-show-if"] = {"documents_ok": False}
    problems = check_form_schema(schema)
    assert problems == [
        "(root)/properties/refusal_reason: x-show-if refers to 'documents_ok', which is not a property here"
    ]


def test_check_catches_other_mistakes(schema):
    schema["type"] = "array"
    schema["properties"]["address"]["x-widget"] = "wysiwyg"
    schema["properties"]["decision"]["x-widget"] = "checkboxes"
    schema["properties"]["application_date"]["format"] = "date-time"
    schema["properties"]["refusal_reason"]["x-lable"] = {}
    schema["required"].append("refusal_reason")
    schema["allOf"][0]["then"]["required"] = ["refusal_reasn"]
    schema["properties"]["documents_complete"]["x-help"] = {"ky": "Түшүндүрмө"}
    problems = "\n".join(check_form_schema(schema))
    for needle in [
        '"type" must be "object"',
        "unknown x-widget 'wysiwyg'",
        "x-widget 'checkboxes' does not fit",
        "format 'date-time'",
        "unknown keyword 'x-lable'",
        'must not be in "required"',
        "'refusal_reasn' is not a property",
        "x-help has no 'ru'",
    ]:
        assert needle in problems
    assert check_form_schema([]) == ["the form must be a JSON object"]


# --------------------------------------------------------------------------- load_form


def test_load_form_reads_and_caches(tmp_path):
    (tmp_path / "citizen_service").mkdir()
    path = tmp_path / "citizen_service" / "D_10_forward.json"
    path.write_text(json.dumps(SCHEMA, ensure_ascii=False), encoding="utf-8")
    first = load_form(tmp_path, "citizen_service/D_10_forward.json")
    assert first == SCHEMA
    first["properties"].clear()  # callers get their own copy
    assert load_form(tmp_path, "citizen_service/D_10_forward.json") == SCHEMA
    path.write_text(json.dumps({"type": "object", "properties": {}}), encoding="utf-8")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000_000))
    assert load_form(tmp_path, "citizen_service/D_10_forward.json") == {"type": "object", "properties": {}}


@pytest.mark.parametrize(
    "relpath",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "citizen_service/../../x.json",
        "",
        "missing.json",
        "citizen_service",
    ],
)
def test_load_form_refuses_paths_outside_or_missing(tmp_path, relpath):
    forms = tmp_path / "forms"
    (forms / "citizen_service").mkdir(parents=True)
    (tmp_path / "x.json").write_text("{}", encoding="utf-8")
    with pytest.raises(FormNotFound):
        load_form(forms, relpath)


def test_load_form_refuses_a_symlink_out_of_the_directory(tmp_path):
    forms = tmp_path / "forms"
    forms.mkdir()
    (tmp_path / "secret.json").write_text("{}", encoding="utf-8")
    (forms / "link.json").symlink_to(tmp_path / "secret.json")
    with pytest.raises(FormNotFound):
        load_form(forms, "link.json")


def test_load_form_rejects_a_non_object(tmp_path):
    (tmp_path / "list.json").write_text("[]", encoding="utf-8")
    with pytest.raises(ValueError):
        load_form(tmp_path, "list.json")


def test_show_if_chains_and_rows():
    schema = {
        "type": "object",
        "properties": {
            "has_debt": {"type": "boolean", "x-label": L("Карызы барбы", "Есть долг", "Has debt")},
            "debt_kind": {
                "enum": ["tax", "rent"],
                "x-label": L("Карыздын түрү", "Вид долга", "Kind of debt"),
                "x-enum-labels": {"tax": L("Салык", "Налог", "Tax"), "rent": L("Ижара", "Аренда", "Rent")},
                "x-show-if": {"has_debt": True},
            },
            "lease_number": {
                "type": "string",
                "x-label": L("Ижара келишиминин номери", "Номер договора аренды", "Lease number"),
                "x-show-if": {"debt_kind": "rent"},
            },
            "heirs": {
                "type": "array",
                "x-label": L("Мураскорлор", "Наследники", "Heirs"),
                "items": {
                    "type": "object",
                    "properties": {
                        "minor": {
                            "type": "boolean",
                            "x-label": L("Жашы жете элек", "Несовершеннолетний", "Minor"),
                        },
                        "guardian": {
                            "type": "string",
                            "x-label": L("Камкорчу", "Опекун", "Guardian"),
                            "x-show-if": {"minor": True},
                        },
                    },
                    "allOf": [
                        {
                            "if": {"properties": {"minor": {"const": True}}, "required": ["minor"]},
                            "then": {"required": ["guardian"]},
                        }
                    ],
                },
            },
        },
    }
    assert check_form_schema(schema) == []
    # debt_kind is hidden, so lease_number (shown by debt_kind) goes too
    clean, errors = validate(schema, {"has_debt": False, "debt_kind": "rent", "lease_number": "7"}, "en")
    assert clean == {"has_debt": False} and errors == {}
    clean, _ = validate(schema, {"has_debt": True, "debt_kind": "rent", "lease_number": "7"}, "en")
    assert clean["lease_number"] == "7"
    post = {"heirs-0-minor": ["no"], "heirs-0-guardian": ["Асанов"], "heirs-1-minor": ["yes"]}
    clean, errors = validate(schema, coerce_form(schema, post), "ru")
    assert clean == {"heirs": [{"minor": False}, {"minor": True}]}
    assert errors == {"heirs-1-guardian": "Обязательное поле."}


# --------------------------------------------------------------------------- x-date-not-before

REGISTERED = {"registration": {"number": "DS-2026-00007", "registered_on": "2026-11-18"}}


def _hand_over_schema():
    return {
        "type": "object",
        "required": ["handed_over_on"],
        "properties": {
            "handed_over_on": {
                "type": "string",
                "format": "date",
                "x-label": L("Берилген күнү", "Дата выдачи", "Date"),
                "x-date-not-before": "registration.registered_on",
            },
        },
    }


def test_date_not_before_a_task_data_date_in_three_languages():
    schema = _hand_over_schema()
    for lang, message in [
        ("ky", "Бул күн 18.11.2026 күнүнөн эрте боло албайт."),
        ("ru", "Дата не может быть раньше 18.11.2026."),
        ("en", "The date cannot be before 2026-11-18."),
    ]:
        _, errors = validate(schema, {"handed_over_on": "2026-11-17"}, lang, context=REGISTERED)
        assert errors == {"handed_over_on": message}
    for same_or_later in ("2026-11-18", "2026-11-19", "2027-01-04"):
        assert validate(schema, {"handed_over_on": same_or_later}, "ky", context=REGISTERED)[1] == {}
    # "17.11.2026" as typed in a browser without a date picker is coerced, then refused the same way
    typed = coerce_form(schema, MultiDict({"handed_over_on": "17.11.2026"}), context=REGISTERED)
    assert validate(schema, typed, "ru", context=REGISTERED)[1] == {
        "handed_over_on": "Дата не может быть раньше 18.11.2026."
    }
    # a bad date keeps the format message, not a comparison of text
    assert validate(schema, {"handed_over_on": "2026-02-30"}, "en", context=REGISTERED)[1] == {
        "handed_over_on": "Enter the date as YYYY-MM-DD."
    }


def test_date_not_before_without_the_variable_sets_no_bound():
    schema = _hand_over_schema()
    assert validate(schema, {"handed_over_on": "2000-01-01"}, "ky")[1] == {}  # no task data
    assert validate(schema, {"handed_over_on": "2000-01-01"}, "ky", context={})[1] == {}
    assert (
        validate(
            schema,
            {"handed_over_on": "2000-01-01"},
            "ky",
            context={"registration": {"registered_on": "later"}},
        )[1]
        == {}
    )
    assert "x-min-date" not in schema["properties"]["handed_over_on"]  # the schema itself is not modified


def test_date_not_before_gives_the_field_its_minimum():
    (field,) = fields(_hand_over_schema(), "ky", REGISTERED)
    assert field.schema["x-min-date"] == "2026-11-18"
    (field,) = fields(_hand_over_schema(), "ky", {})
    assert "x-min-date" not in field.schema


def test_check_date_not_before_only_on_date_fields_naming_a_variable():
    schema = _hand_over_schema()
    assert check_form_schema(schema) == []
    schema["properties"]["handed_over_on"]["x-date-not-before"] = ""
    assert any("x-date-not-before must name a task-data variable" in p for p in check_form_schema(schema))
    schema["properties"]["handed_over_on"] = {
        "type": "string",
        "x-label": L("а", "б", "c"),
        "x-date-not-before": "registration.registered_on",
    }
    assert any("x-date-not-before is for date fields" in p for p in check_form_schema(schema))
