"""The deadline register: every timer of every published diagram, with its rule in words.

A process owner checks the regulation against it (`kyzmat processes deadlines`). Everything
comes from the published versions' DiagramInfo (ProcessVersion.info), so the register shows
what running cases follow, in the user's language: names from the diagram's own texts and the
rule from the timer's ``rule_<lang>`` property (docs/modelling.md, "Deadlines").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from engine.runtime.versions import latest_versions

__all__ = [
    "Deadline",
    "HEADERS",
    "ProcessDeadlines",
    "deadline_register",
    "deadlines_of",
    "format_register",
    "split_refs",
]

LANGS = ("ky", "ru", "en")

HEADERS: dict[str, dict[str, str]] = {
    "ky": {
        "process": "Процесс",
        "version": "версия",
        "step": "Кадам",
        "timer": "Таймер",
        "rule": "Эреже",
        "expression": "Туюнтма",
        "ref": "Каталог",
        "none": "Жарыяланган диаграммалар жок.",
        "no_timers": "Бул диаграммада таймер жок.",
    },
    "ru": {
        "process": "Процесс",
        "version": "версия",
        "step": "Шаг",
        "timer": "Таймер",
        "rule": "Правило",
        "expression": "Выражение",
        "ref": "Каталог",
        "none": "Нет опубликованных диаграмм.",
        "no_timers": "В этой диаграмме нет таймеров.",
    },
    "en": {
        "process": "Process",
        "version": "version",
        "step": "Step",
        "timer": "Timer",
        "rule": "Rule",
        "expression": "Expression",
        "ref": "Catalogue",
        "none": "No published diagrams.",
        "no_timers": "This diagram has no timers.",
    },
}


@dataclass(frozen=True)
class Deadline:
    process_id: str
    process_name: str
    version: int
    step_id: str
    step_name: str
    timer_id: str
    timer_name: str
    rule: str
    expression: str
    kind: str
    catalogue_ref: str

    @property
    def refs(self) -> list[str]:
        return split_refs(self.catalogue_ref)


@dataclass(frozen=True)
class ProcessDeadlines:
    process_id: str
    process_name: str
    version: int
    deadlines: list[Deadline]


_SECTION_RE = re.compile(r"^(§\d+(?:\.\d+)?)\s*#\d+$")


def split_refs(catalogue_ref: str) -> list[str]:
    """'§8 #9, #10' -> ['§8 #9', '§8 #10']: a bare '#n' continues the section named before it."""
    refs: list[str] = []
    section = ""
    for part in (p.strip() for p in catalogue_ref.split(",")):
        if not part:
            continue
        m = _SECTION_RE.match(part)
        if m:
            section = m.group(1)
            refs.append(part)
        elif part.startswith("#") and section:
            refs.append(f"{section} {part}")
        else:
            refs.append(part)
    return refs


def _pick(texts: dict[str, str], lang: str) -> str:
    return texts.get(lang) or texts.get("ky") or texts.get("en") or ""


def deadlines_of(info: dict[str, Any], version: int, lang: str = "ky") -> list[Deadline]:
    """The timers of one published diagram (its DiagramInfo as stored), in document order."""
    lang = lang if lang in LANGS else "ky"
    elements: dict[str, dict[str, Any]] = info.get("elements", {})
    rows = []
    for element in elements.values():
        timer = element.get("timer")
        if not timer:
            continue
        props = element.get("properties") or {}
        step = elements.get(element.get("attached_to") or "", element)
        rows.append(
            Deadline(
                process_id=info["process_id"],
                process_name=_pick(info.get("names") or {}, lang),
                version=version,
                step_id=step["id"],
                step_name=_pick(step.get("names") or {}, lang),
                timer_id=element["id"],
                timer_name=_pick(element.get("names") or {}, lang),
                rule=props.get(f"rule_{lang}") or props.get("rule_en") or "",
                expression=timer[1],
                kind=timer[0],
                catalogue_ref=element.get("catalogue_ref") or props.get("catalogue_ref") or "",
            )
        )
    return rows


def deadline_register(session: Session, lang: str = "ky") -> list[ProcessDeadlines]:
    """Every timer of the newest published version of every process, by process id."""
    return [
        ProcessDeadlines(
            version.process_id,
            _pick(version.info.get("names") or {}, lang),
            version.number,
            deadlines_of(version.info, version.number, lang),
        )
        for version in latest_versions(session)
    ]


def format_register(register: list[ProcessDeadlines], lang: str = "ky") -> str:
    """The register as plain text, one block per timer, grouped by process."""
    h = HEADERS.get(lang, HEADERS["ky"])
    if not register:
        return h["none"]
    width = max(len(h[k]) for k in ("step", "timer", "rule", "expression", "ref")) + 2
    lines: list[str] = []
    for process in register:
        if lines:
            lines.append("")
        lines.append(
            f"{h['process']}: {process.process_id} — {process.process_name} ({h['version']} {process.version})"
        )
        if not process.deadlines:
            lines.append(f"  {h['no_timers']}")
        for row in process.deadlines:
            lines.append(f"  {h['step'] + ':':<{width}}{row.step_id} — {row.step_name}")
            lines.append(f"    {h['timer'] + ':':<{width}}{row.timer_id} — {row.timer_name}")
            lines.append(f"    {h['rule'] + ':':<{width}}{row.rule}")
            lines.append(f"    {h['expression'] + ':':<{width}}{row.expression}")
            lines.append(f"    {h['ref'] + ':':<{width}}{row.catalogue_ref}")
    return "\n".join(lines)
