"""A timer's rule in words, generated from its calendar-helper expression, in Kyrgyz, Russian and English.

When a process owner changes a deadline in the editor's structured form (five working days become
seven), the timer's name and its ``rule_ky``/``rule_ru``/``rule_en`` properties (what the deadline
register shows, engine/deadlines.py) must change with it. The editor fills them from here; the owner
may reword them before applying. Expressions the structured form does not build give None.
"""

from __future__ import annotations

import re
from datetime import date

from babel.dates import format_skeleton

__all__ = ["RuleTexts", "parse_rule", "rule_texts"]

_RULES = (
    ("next", re.compile(r"^next_working_day\((?P<base>.+)\)$")),
    ("working", re.compile(r"^add_working_days\((?P<base>.+),\s*(?P<n>\d{1,4})\)$")),
    ("days", re.compile(r"^add_days\((?P<base>.+),\s*(?P<n>\d{1,4})\)$")),
    ("fixed", re.compile(r"^fixed_date\((?P<base>.+),\s*(?P<month>\d{1,2}),\s*(?P<day>\d{1,2})\)$")),
)


def parse_rule(expression: str) -> dict[str, str | int] | None:
    """{'rule': 'working', 'base': 'submitted_on', 'n': 5} for the expressions the editor's form builds."""
    text = (expression or "").strip()
    for kind, pattern in _RULES:
        m = pattern.match(text)
        if m:
            out: dict[str, str | int] = {"rule": kind, "base": m.group("base").strip()}
            out.update({k: int(v) for k, v in m.groupdict().items() if k != "base" and v is not None})
            return out
    return None


def _ru_genitive(n: int, one: str, many: str) -> str:
    """After «в течение»: 1 рабочего дня, 21 рабочего дня, 5 рабочих дней."""
    return one if n % 10 == 1 and n % 100 != 11 else many


def _en_ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


RuleTexts = dict[str, dict[str, str]]  # {"names": {lang: text}, "rules": {lang: text}}


def rule_texts(expression: str) -> RuleTexts | None:
    """The timer's name and rule in words in ky, ru and en, or None for an expression not built by the form."""
    r = parse_rule(expression)
    if r is None:
        return None
    base = f"«{r['base']}»"
    kind = r["rule"]
    if kind == "next":
        names = {"ky": "Кийинки жумушчу күн", "ru": "Следующий рабочий день", "en": "Next working day"}
        rules = {
            "ky": f"{base} күнүнөн кийинки жумушчу күндүн аягына чейин",
            "ru": f"До конца следующего рабочего дня после {base}",
            "en": f"By the end of the next working day after {base}",
        }
    elif kind == "working":
        n = int(r["n"])
        days_ru = _ru_genitive(n, "рабочего дня", "рабочих дней")
        days_en = "working day" if n == 1 else "working days"
        names = {
            "ky": f"{n} жумушчу күн ичинде",
            "ru": f"В течение {n} {days_ru}",
            "en": f"Within {n} {days_en}",
        }
        rules = {
            "ky": f"{base} күнүнөн тартып {n} жумушчу күн ичинде: {n}-жумушчу күндүн аягына чейин",
            "ru": f"В течение {n} {days_ru} с даты {base}: до конца {n}-го рабочего дня после неё",
            "en": f"Within {n} {days_en} of {base}: end of the {_en_ordinal(n)} working day after it",
        }
    elif kind == "days":
        n = int(r["n"])
        days_ru = _ru_genitive(n, "календарного дня", "календарных дней")
        days_en = "calendar day" if n == 1 else "calendar days"
        names = {
            "ky": f"{n} календардык күн ичинде",
            "ru": f"В течение {n} {days_ru}",
            "en": f"Within {n} {days_en}",
        }
        rules = {
            "ky": f"{base} күнүнөн тартып {n} календардык күн ичинде; дем алыш күнгө туш келсе, "
            "кийинки жумушчу күнгө жылат",
            "ru": f"В течение {n} {days_ru} с даты {base}; если срок выпадает на выходной, "
            "он переносится на следующий рабочий день",
            "en": f"Within {n} {days_en} of {base}; moved to the next working day if it falls on a day off",
        }
    else:
        try:
            sample = date(2024, int(r["month"]), int(r["day"]))  # a leap year: 29 February is a date
        except ValueError:
            return None
        dm = {lang: format_skeleton("MMMMd", sample, locale=lang) for lang in ("ky", "ru", "en")}
        names = {
            "ky": f"Жыл сайын {dm['ky']}",
            "ru": f"Ежегодно до {dm['ru']}",
            "en": f"Each year by {dm['en']}",
        }
        rules = {
            "ky": f"Жыл сайын, {base} жылы: {dm['ky']}; дем алыш күнгө туш келсе, "
            "кийинки жумушчу күнгө жылат",
            "ru": f"Ежегодно до {dm['ru']} (год {base}); если срок выпадает на выходной, "
            "он переносится на следующий рабочий день",
            "en": f"Each year by {dm['en']} (the year {base}); moved to the next working day "
            "if it falls on a day off",
        }
    return {"names": names, "rules": rules}
