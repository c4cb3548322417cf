"""The deadline register (engine/deadlines.py, `kyzmat processes deadlines`) against catalogue §8."""

from __future__ import annotations

import pytest
from click.testing import Result
from sqlalchemy.orm import Session

from engine.deadlines.register import deadline_register, deadlines_of, format_register, split_refs
from engine.definitions.publishing import latest_versions
from tests.test_cli import cli, env  # noqa: F401  (fixtures: the command against a fresh SQLite file)

# Catalogue §8: the ruled deadlines each published process must carry as timers, by process id.
# Rows of §8 without a timer, and why: docs/processes.md ("The deadline register").
# The lead adds Process A (additional_list: §8 #1) and Process E (§8 #11, #14, #16, #17, #18) at merge.
EXPECTED: dict[str, list[str]] = {
    "additional_list": ["§8 #1"],
    "citizen_service": ["§8 #8", "§8 #9", "§8 #10"],
    "list_dispute": [],  # [000] §5 sets no deadline (§8.1)
    "csc_establishment": ["§8 #2", "§8 #3", "§8 #4"],
    "quality_monitoring": ["§8 #11", "§8 #14", "§8 #15", "§8 #16", "§8 #17", "§8 #18"],
    "csc_monitoring": [],  # Model Regulation §6 sets no deadline
}


def test_every_published_process_is_in_the_expected_table_and_back(session: Session) -> None:
    published = {v.process_id for v in latest_versions(session)}
    assert published == set(EXPECTED)
    assert {p.process_id for p in deadline_register(session)} == published


@pytest.mark.parametrize("process_id", sorted(EXPECTED))
def test_the_register_lists_every_ruled_deadline_of_the_catalogue(session: Session, process_id: str) -> None:
    (process,) = [p for p in deadline_register(session, "en") if p.process_id == process_id]
    listed = {ref for row in process.deadlines for ref in row.refs}
    for ref in EXPECTED[process_id]:
        assert ref in listed, f"{process_id}: no timer for {ref}"
    for row in process.deadlines:
        assert row.rule and row.expression and row.catalogue_ref, row.timer_id


def test_rules_and_names_come_in_the_users_language(session: Session) -> None:
    rows = {r.timer_id: r for p in deadline_register(session, "ky") for r in p.deadlines}
    council = rows["C_02_council_decision_due"]
    assert council.expression == "add_working_days(submitted_on, 5)"
    assert council.step_id == "C_02_council_decision"
    assert council.timer_name == "Беш жумушчу күн ичинде"
    assert "Жергиликтүү кеңештин кароосуна киргизилгенден беш жумушчу күн ичинде" in council.rule
    by_lang = {
        lang: next(
            r
            for p in deadline_register(session, lang)
            for r in p.deadlines
            if r.timer_id == "D_10_forward_due"
        )
        for lang in ("ky", "ru", "en")
    }
    assert by_lang["ru"].rule.startswith("Не позднее рабочего дня")
    assert by_lang["en"].rule.startswith("No later than the working day")
    assert by_lang["ky"].rule.startswith("Каттоого алгандан кийинки")
    assert by_lang["ru"].step_name != by_lang["en"].step_name


def test_split_refs_continues_the_section() -> None:
    assert split_refs("§8 #9, #10") == ["§8 #9", "§8 #10"]
    assert split_refs("§8 #2") == ["§8 #2"]
    assert split_refs("D-10, D-11") == ["D-10", "D-11"]
    assert split_refs("") == []


def test_a_rule_missing_in_a_language_falls_back_to_english() -> None:
    info = {
        "process_id": "p",
        "names": {"ky": "П"},
        "elements": {
            "T": {
                "id": "T",
                "names": {"ky": "Т"},
                "timer": ["timeDate", "add_days(d, 1)"],
                "attached_to": None,
                "properties": {"rule_en": "One day"},
                "catalogue_ref": "§8 #1",
            }
        },
    }
    (row,) = deadlines_of(info, 3, "ru")
    assert (row.rule, row.step_id, row.step_name, row.version) == ("One day", "T", "Т", 3)
    assert format_register([], "ru") == "Нет опубликованных диаграмм."


def test_cli_prints_the_register(cli) -> None:  # noqa: F811
    assert cli("init").exit_code == 0
    result: Result = cli("processes", "deadlines")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Процесс: csc_establishment" in out
    assert "Туюнтма: add_working_days(submitted_on, 5)" in out
    assert "Каталог: §8 #3" in out
    assert "Бул диаграммада таймер жок." in out  # list_dispute
    english = cli("processes", "deadlines", "--lang", "en").output
    assert "Rule:       Within five working days of submission to the local council" in english
    assert "Step:       C_04_premises — Allocate and equip the CSC premises" in english


def test_cli_refuses_an_unknown_language(cli) -> None:  # noqa: F811
    assert cli("init").exit_code == 0
    result = cli("processes", "deadlines", "--lang", "de")
    assert result.exit_code == 2
    assert "'de' is not one of 'ky', 'ru', 'en'" in result.output
