"""A small process whose one step's form has every field kind, published into the test's transaction.

Used by the web tests for form rendering, validation and attachments (Process D's forms have no file field).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from engine.definitions import publishing as processes
from tests.test_web import app, frozen

# The web tests' fixtures, for `from tests.web_fixtures import *` (Flask app on the rolled-back runtime, frozen clock).
__all__ = ["app", "frozen"]


def L(ky: str, ru: str, en: str) -> dict[str, str]:  # noqa: N802 - a label
    return {"ky": ky, "ru": ru, "en": en}


ALL_FIELDS_FORM: dict[str, Any] = {
    "type": "object",
    "x-label": L("Бардык талаалар", "Все поля", "All fields"),
    "required": ["title", "count", "visit_date", "kind", "tags", "agree", "people", "scan"],
    "properties": {
        "title": {
            "type": "string",
            "maxLength": 20,
            "x-label": L("Аталышы", "Заголовок", "Title"),
            "x-help": L("Кыскача жазыңыз", "Кратко", "Briefly"),
        },
        "notes": {"type": "string", "x-widget": "textarea", "x-label": L("Эскертүү", "Заметки", "Notes")},
        "count": {
            "type": "integer",
            "minimum": 1,
            "maximum": 10,
            "x-label": L("Саны", "Количество", "Count"),
        },
        "amount": {"type": "number", "x-label": L("Суммасы", "Сумма", "Amount")},
        "visit_date": {"type": "string", "format": "date", "x-label": L("Күнү", "Дата", "Date")},
        "kind": {
            "type": "string",
            "enum": ["a", "b"],
            "x-label": L("Түрү", "Вид", "Kind"),
            "x-enum-labels": {"a": L("Биринчи", "Первый", "First"), "b": L("Экинчи", "Второй", "Second")},
        },
        "tags": {
            "type": "array",
            "items": {"type": "string", "enum": ["x", "y"]},
            "x-label": L("Белгилер", "Метки", "Tags"),
            "x-enum-labels": {"x": L("Икс", "Икс", "Ex"), "y": L("Игрек", "Игрек", "Why")},
        },
        "agree": {"type": "boolean", "x-label": L("Макулсузбу", "Согласны", "Agree")},
        "reason": {
            "type": "string",
            "x-show-if": {"agree": False},
            "x-label": L("Себеби", "Причина", "Reason"),
        },
        "people": {
            "type": "array",
            "x-label": L("Адамдар", "Люди", "People"),
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "x-label": L("Аты", "Имя", "Name")},
                    "age": {"type": "integer", "minimum": 0, "x-label": L("Жашы", "Возраст", "Age")},
                },
            },
        },
        "scan": {"type": "string", "x-widget": "file", "x-label": L("Скан", "Скан", "Scan")},
        "extras": {
            "type": "array",
            "x-widget": "file",
            "items": {"type": "string"},
            "x-label": L("Кошумча файлдар", "Доп. файлы", "More files"),
        },
    },
    "if": {"properties": {"agree": {"const": False}}, "required": ["agree"]},
    "then": {"required": ["reason"]},
}

DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="defs_all_fields" targetNamespace="http://kyzmat.kg/bpmn">
  <bpmn:process id="all_fields" name="Бардык талаалар" isExecutable="true">
    <bpmn:extensionElements>
      <spiffworkflow:properties>
        <spiffworkflow:property name="name_ru" value="Все поля" />
        <spiffworkflow:property name="name_en" value="All fields" />
        <spiffworkflow:property name="scope" value="municipal" />
        <spiffworkflow:property name="starter_roles" value="csc_operator" />
        <spiffworkflow:property name="subject_variable" value="title" />
      </spiffworkflow:properties>
    </bpmn:extensionElements>
    <bpmn:laneSet id="lanes">
      <bpmn:lane id="lane_csc" name="csc_operator">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>fill</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>end</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="fill" name="Толтуруу">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="name_ru" value="Заполнить" />
          <spiffworkflow:property name="name_en" value="Fill in" />
        </spiffworkflow:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="fill" />
    <bpmn:sequenceFlow id="f2" sourceRef="fill" targetRef="end" />
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""


def publish_all_fields(session: Session, forms_root: Path, now: Any) -> None:
    """Publish the all-fields process (its form written under forms_root) in the session's transaction."""
    (forms_root / "all_fields").mkdir(parents=True, exist_ok=True)
    (forms_root / "all_fields" / "fill.json").write_text(
        json.dumps(ALL_FIELDS_FORM, ensure_ascii=False), "utf-8"
    )
    processes.publish(
        session, DIAGRAM.encode(), "all_fields.bpmn", forms_dir=forms_root, now=now, note="test"
    )
    session.commit()
