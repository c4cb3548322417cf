"""The CSC service catalogue: processes/services.json and engine/catalogue.py."""

import json
from pathlib import Path

import pytest

from engine.catalogue.services import (
    CSC_MODES,
    DEFAULT_CATALOGUE_PATH,
    GROUPS,
    Catalogue,
    CatalogueError,
    Service,
    load_catalogue,
    sandbox_helpers,
)

EXPECTED_CODES = {
    "municipal": ["M1", "M2", "M3", "M4", "M5", "M6"],
    "additional": ["AM1", "AM2", "AM3", "AM4", "AM5", "AM6", "AM7"],
    "state": ["S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8"],
    "additional_list": ["AL1", "AL2", "AL3", "AL4", "AL5", "AL6"],
}

# Kyrgyz names verbatim from the sources (catalogue §5.8 and §2.10, typos included).
VERBATIM = {
    "M1": "Үй-бүлөсүнүн курамы жөнүндө",
    "M6": "Жеке турак-жай салуу үчүн жер тилкесин алуу үчүн",
    "AM2": "ТТК жана ЖТК чогултуу жана ташып кетүү",
    "S8": "Жарандарды жашаган жерине каттоого алуу жана чыгаруу",
    "AL1": "Окуучуларды муниципалдык автотраспорт менен мектепке таашуу",
    "AL5": "Интелектуалдык жана спор тук мелдештерге катышкан талантуу балдарга транспорттук чыгымдарын толук төлөп берүү",
}


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue(DEFAULT_CATALOGUE_PATH)


@pytest.fixture(scope="module")
def helpers(catalogue):
    return sandbox_helpers(catalogue)


def raw() -> dict:
    return json.loads(DEFAULT_CATALOGUE_PATH.read_text(encoding="utf-8"))


def write(tmp_path: Path, data) -> Path:
    path = tmp_path / "services.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the shipped file


def test_default_path_is_the_shipped_file():
    assert DEFAULT_CATALOGUE_PATH == Path(__file__).resolve().parent.parent / "processes" / "services.json"


def test_every_named_service_is_listed_once_in_its_group(catalogue):
    assert len(catalogue) == 27
    for group, codes in EXPECTED_CODES.items():
        assert [s.code for s in catalogue.all(group)] == codes
    assert [s.group for s in catalogue.all()] == [g for g in GROUPS for _ in EXPECTED_CODES[g]]


def test_kyrgyz_names_are_verbatim(catalogue):
    for code, name in VERBATIM.items():
        assert catalogue.get(code).names["ky"] == name


def test_every_entry_is_complete(catalogue):
    for s in catalogue.all():
        assert isinstance(s, Service)
        assert all(s.names[lang].strip() for lang in ("ky", "ru", "en"))
        assert all(s.provider.names[lang].strip() for lang in ("ky", "ru", "en"))
        assert s.csc_mode in CSC_MODES
        assert 1 <= s.standard_term_days <= 60
        assert s.required_documents, s.code
        assert s.required_documents[0].code == "application"
        assert s.source.strip()


def test_modes_follow_amb_c16(catalogue):
    for s in catalogue.all():
        expected = "consult_only" if s.group == "state" else "intake_and_forward"
        assert s.csc_mode == expected, s.code
        if s.group == "state":
            assert s.provider.kind == "state"
        else:
            assert s.provider.kind in ("municipal", "outsourced")


def test_additional_list_follows_the_annex(catalogue):
    for s in catalogue.all("additional_list"):
        assert s.paid is False  # «Акысыз» for all six
        assert "paid" not in s.to_confirm and "provider" not in s.to_confirm
    assert catalogue.get("AL6").provider.kind == "outsourced"
    assert catalogue.get("AL6").provider.names["ky"] == "Аутсорсинг"
    assert {s.provider.kind for s in catalogue.all("additional_list")} == {"municipal", "outsourced"}


def test_land_and_certificate_defaults(catalogue):
    assert catalogue.get("M6").standard_term_days == 20
    assert catalogue.get("M6").interdepartmental is True
    for code in ("M1", "M2", "M3", "M4", "M5"):
        assert catalogue.get(code).standard_term_days == 3
        assert catalogue.get(code).paid is False
    assert catalogue.get("AM4").paid is True  # «акы чогултуу»: fees are in the text


# --------------------------------------------------------------------------- sandbox helpers


def test_helpers_return_json_values(helpers):
    info = helpers["service_info"]("M6")
    assert json.loads(json.dumps(info)) == info
    assert info["code"] == "M6"
    assert info["provider"] == {
        "kind": "municipal",
        "names": {"ky": "Айыл өкмөтү", "ru": "Айыл окмоту", "en": "Aiyl okmotu"},
    }
    assert info["csc_mode"] == "intake_and_forward"
    assert info["interdepartmental"] is True
    assert helpers["service_term"]("M1") == 3
    assert helpers["service_mode"]("S1") == "consult_only"
    assert helpers["service_mode"]("AL2") == "intake_and_forward"


def test_helpers_return_fresh_copies(helpers, catalogue):
    info = helpers["service_info"]("M1")
    info["names"]["ky"] = "changed"
    info["provider"]["names"]["ky"] = "changed"
    assert catalogue.get("M1").names["ky"] == "Үй-бүлөсүнүн курамы жөнүндө"
    assert helpers["service_info"]("M1")["provider"]["names"]["ky"] == "Айыл өкмөтү"


def test_service_choices(helpers):
    choices = helpers["service_choices"]()
    assert len(choices) == 27
    assert choices[0] == {
        "value": "M1",
        "label": {
            "ky": "Үй-бүлөсүнүн курамы жөнүндө",
            "ru": "Справка о составе семьи",
            "en": "Certificate of family composition",
        },
    }
    assert [c["value"] for c in helpers["service_choices"]("state")] == EXPECTED_CODES["state"]
    with pytest.raises(ValueError, match="service_choices: unknown service group 'nope'"):
        helpers["service_choices"]("nope")


def test_service_documents(helpers):
    documents = helpers["service_documents"]("M2")
    assert [d["value"] for d in documents] == ["application", "id_document", "house_book"]
    assert set(documents[0]["label"]) == {"ky", "ru", "en"}
    assert documents[0]["label"]["ky"] == "Арыз"


@pytest.mark.parametrize("name", ["service_info", "service_term", "service_mode", "service_documents"])
def test_unknown_code_is_a_readable_value_error(helpers, name):
    with pytest.raises(ValueError, match=rf"^{name}: unknown service code 'X9'; known codes: M1, M2"):
        helpers[name]("X9")
    with pytest.raises(ValueError, match=rf"^{name}: a service code must be a string, got None"):
        helpers[name](None)


def test_wrong_arguments_are_value_errors(helpers):
    with pytest.raises(ValueError, match="^service_info: "):
        helpers["service_info"]()


def test_get_and_membership(catalogue):
    assert "M1" in catalogue and "X" not in catalogue and 5 not in catalogue
    assert catalogue.codes()[:3] == ["M1", "M2", "M3"]
    with pytest.raises(ValueError, match="unknown service code 'nope'"):
        catalogue.get("nope")
    with pytest.raises(ValueError, match="unknown service group"):
        catalogue.all("nope")


def test_to_dict_round_trips_through_the_loader(catalogue, tmp_path):
    data = {"services": [s.to_dict() for s in catalogue.all()]}
    again = load_catalogue(write(tmp_path, data))
    assert [s.to_dict() for s in again.all()] == [s.to_dict() for s in catalogue.all()]


# --------------------------------------------------------------------------- validation


def broken(mutate):
    data = raw()
    mutate(data)
    return data


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["services"][2].pop("paid"), r"service #3 \(M3\): missing paid"),
        (lambda d: d["services"][0].update(extra=1), r"service #1 \(M1\): unknown key\(s\) extra"),
        (
            lambda d: d["services"][1].update(group="village"),
            r"service #2 \(M2\): group must be one of municipal",
        ),
        (lambda d: d["services"][0]["names"].pop("ru"), r"\(M1\): names: no ru text"),
        (lambda d: d["services"][0]["names"].update(ky="  "), r"\(M1\): names: no ky text"),
        (
            lambda d: d["services"][0].update(standard_term_days=0),
            r"\(M1\): standard_term_days must be a whole number",
        ),
        (lambda d: d["services"][0].update(standard_term_days=True), r"\(M1\): standard_term_days"),
        (lambda d: d["services"][0].update(standard_term_days=2.5), r"\(M1\): standard_term_days"),
        (lambda d: d["services"][0].update(paid="no"), r"\(M1\): paid must be true or false, got 'no'"),
        (
            lambda d: d["services"][0].update(csc_mode="forward"),
            r"\(M1\): csc_mode must be one of intake_and_forward",
        ),
        (lambda d: d["services"][0]["provider"].update(kind="ngo"), r"\(M1\): provider.kind must be one of"),
        (lambda d: d["services"][0]["provider"].pop("names"), r"\(M1\): provider must be an object"),
        (
            lambda d: d["services"][0]["required_documents"].append(
                {"code": "application", "label": {"ky": "a", "ru": "b", "en": "c"}}
            ),
            r"\(M1\): required_documents #6: document code 'application' appears twice",
        ),
        (
            lambda d: d["services"][0]["required_documents"][1]["label"].pop("en"),
            r"\(M1\): required_documents #2 \(id_document\): label: no en text",
        ),
        (lambda d: d["services"][0].update(to_confirm=["code"]), r"\(M1\): to_confirm names code"),
        (lambda d: d["services"][0].update(source=""), r"\(M1\): source must name"),
        (lambda d: d["services"][3].update(code="M1"), r"service code 'M1' appears twice"),
        (lambda d: d["services"][0].update(code=""), r"service #1: 'code' must be a short non-empty string"),
        (lambda d: d.update(services=[]), r"'services' must be a non-empty list"),
        (lambda d: d.update(format="v2"), r"format must be 'kyzmat-services/1'"),
        (lambda d: d.update(extra=1), r"unknown top-level key\(s\) extra"),
    ],
)
def test_malformed_entries_are_named(tmp_path, mutate, message):
    path = write(tmp_path, broken(mutate))
    with pytest.raises(CatalogueError, match=message) as info:
        load_catalogue(path)
    assert str(path) in str(info.value)


def test_unreadable_and_non_json_files(tmp_path):
    with pytest.raises(CatalogueError, match="cannot read the service catalogue"):
        load_catalogue(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(CatalogueError, match="not valid UTF-8 JSON"):
        load_catalogue(bad)
    listed = write(tmp_path, [1, 2])
    with pytest.raises(CatalogueError, match="must be a JSON object"):
        load_catalogue(listed)
    assert issubclass(CatalogueError, ValueError)
