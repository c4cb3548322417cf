"""Process A (the Additional List): the diagram, its decision table and its forms as artefacts."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from lxml import etree

from engine.accounts.roles import KNOWN_ROLES
from engine.bpmn.loader import load_diagram
from engine.definitions.checks import check_files
from engine.forms.schema import check_form_schema

ROOT = Path(__file__).resolve().parent.parent
BPMN_FILE = ROOT / "processes" / "additional_list.bpmn"
DMN_FILE = ROOT / "processes" / "expertise_criteria.dmn"
FORMS = ROOT / "forms" / "additional_list"
NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
    "dmn": "https://www.omg.org/spec/DMN/20191111/MODEL/",
}
NAMED = (
    "startEvent",
    "endEvent",
    "userTask",
    "scriptTask",
    "businessRuleTask",
    "subProcess",
    "exclusiveGateway",
    "parallelGateway",
    "boundaryEvent",
)
LANES = {"ao_specialist", "ao_head", "working_commission", "coordination_body", "council_secretary"}
CYRILLIC = set("абвгдеёжзийклмнопрстуфхцчшщъыьэюяңөү")


def parse(path: Path) -> etree._Element:
    return etree.fromstring(
        path.read_bytes(), etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    )


@pytest.fixture(scope="module")
def process() -> etree._Element:
    (proc,) = parse(BPMN_FILE).findall("bpmn:process", NS)
    return proc


@pytest.fixture(scope="module")
def info():
    return load_diagram(BPMN_FILE.read_bytes(), BPMN_FILE.name, {DMN_FILE.name: DMN_FILE.read_bytes()}).info


def props(el: etree._Element) -> dict[str, str]:
    return {
        p.get("name"): p.get("value")
        for p in el.findall("bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS)
    }


def test_kyzmat_processes_check_passes() -> None:
    assert check_files([BPMN_FILE], forms_dir=ROOT / "forms") == []


def test_process_properties(process) -> None:
    p = props(process)
    assert process.get("id") == "additional_list" and process.get("isExecutable") == "true"
    assert p["scope"] == "municipal"
    assert set(p["starter_roles"].split(",")) == {"ao_specialist", "ao_head"}
    assert p["name_ru"] and p["name_en"] and p["catalogue_ref"] == "§2 Process A"


def test_every_element_is_named_in_three_languages(process) -> None:
    elements = [el for el in process.iter() if etree.QName(el).localname in NAMED]
    assert len(elements) > 40
    for el in elements:
        p = props(el)
        assert el.get("name") and CYRILLIC & set(el.get("name").lower()), el.get("id")
        assert p.get("name_ru") and CYRILLIC & set(p["name_ru"].lower()), el.get("id")
        # English (the catalogue keeps the acronyms ЖӨБЭММА and ВАК in English too).
        assert p.get("name_en") and p["name_en"].split()[0].isascii(), el.get("id")
        assert len({el.get("name"), p["name_ru"], p["name_en"]}) == 3, el.get("id")


def test_lanes_are_roles_and_steps_sit_in_the_right_ones(info) -> None:
    assert set(info.lanes) == LANES and LANES <= KNOWN_ROLES
    lanes = {e.id: e.lane for e in info.user_tasks()}
    assert lanes["A_06_assess"] == lanes["A_07_draft_list"] == "working_commission"
    assert lanes["A_08_decide"] == "ao_head"
    assert {lanes[t] for t in ("A_11_K1_zhobemma", "A_11_K2_vak", "A_11_K3_antimonopoly")} == {
        "coordination_body"
    }
    assert lanes["A_15_council_session"] == lanes["A_18_council_standards"] == "council_secretary"
    assert all(lane in LANES for lane in lanes.values())


def test_five_initiative_sources_are_the_start_events(process) -> None:
    starts = process.findall("bpmn:startEvent", NS)
    assert sorted(props(s)["catalogue_ref"] for s in starts) == [f"A-01, I-{i}" for i in range(1, 6)]
    for s in starts:
        (cond,) = s.findall("bpmn:conditionalEventDefinition/bpmn:condition", NS)
        assert cond.text == f'start_event == "{s.get("id")}"'
    kurultai = process.find("bpmn:startEvent[@id='A_01_I1_kurultai']", NS)
    assert kurultai.get("name") == "чогулуштардагы (курултайлардагы) жарандардын кайрылуулары"


def test_every_user_task_has_its_form(info) -> None:
    tasks = {t.id for t in info.user_tasks()}
    files = {p.stem for p in FORMS.glob("*.json")}
    assert tasks == files
    for path in FORMS.glob("*.json"):
        schema = json.loads(path.read_text(encoding="utf-8"))
        assert check_form_schema(schema) == [], path.name
        for name, field in schema["properties"].items():
            assert set(field["x-label"]) == {"ky", "ru", "en"}, (path.name, name)


def test_forms_carry_the_catalogue_wording() -> None:
    assess = json.loads((FORMS / "A_06_assess.json").read_text(encoding="utf-8"))["properties"]
    assert assess["c1_municipal_service"]["x-label"]["ky"] == (
        "КР мыйзамдарында аныкталган «муниципалдык кызматтар» түшүнүгүнүн критерийлерине"
    )
    assert {
        assess[k]["x-widget"]
        for k in ("e1_focus_group_protocol", "e2_request_protocols", "e3_written_appeals")
    } == {"file"}
    package = json.loads((FORMS / "A_12_package.json").read_text(encoding="utf-8"))["properties"]
    assert [k[:2] for k in package if k.startswith("p")] == ["p1", "p2", "p3", "p4", "p5"]
    assert package["p5_draft_council_decision"]["x-label"]["ky"] == "жергиликтүү кеңештин чечиминин долбоору"
    decide = json.loads((FORMS / "A_08_decide.json").read_text(encoding="utf-8"))
    assert decide["properties"]["refusal_reason"]["x-show-if"] == {"decision": "refuse"}
    assert {
        "if": {"properties": {"decision": {"const": "refuse"}}, "required": ["decision"]},
        "then": {"required": ["refusal_reason"]},
    } in decide["allOf"]


def test_the_only_timer_is_the_thirty_day_standardisation_rule(info) -> None:
    timers = info.timers()
    assert [(t.id, t.attached_to, t.cancel_activity, t.timer) for t in timers] == [
        ("A_16_organise_due", "A_16_organise", False, ("timeDate", "add_days(session_date, 30)"))
    ]
    assert timers[0].properties["catalogue_ref"] == "§8 #1" and timers[0].properties["rule_en"]


def test_decision_table_has_exactly_one_rule_for_every_answer() -> None:
    table = parse(DMN_FILE).find(".//dmn:decisionTable", NS)
    assert table.get("hitPolicy") == "UNIQUE"
    rules = [
        [e.findtext("dmn:text", namespaces=NS) for e in r.findall("dmn:inputEntry", NS)]
        + [e.findtext("dmn:text", namespaces=NS) for e in r.findall("dmn:outputEntry", NS)]
        for r in table.findall("dmn:rule", NS)
    ]
    for answer in itertools.product(("True", "False"), repeat=5):
        hits = [r for r in rules if all(c in ("-", a) for c, a in zip(r[:5], answer))]
        assert len(hits) == 1, answer
        c1, c2, e1, e2, e3 = (a == "True" for a in answer)
        assert hits[0][5:] == [str(e1 or e2 or e3), str(c1 and c2 and (e1 or e2 or e3))]
