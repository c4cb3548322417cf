"""The citizens' side: receipt (QR, PDF), public status page, evaluation sheets, notice board."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
import zxingcpp
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from pypdf import PdfReader
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import webapp
from engine.citizens import evaluation, public
from engine.demo.data import DEMO_PASSWORD
from engine.forms.schema import check_form_schema, load_form
from engine.platform.config import REPO_ROOT
from engine.platform.models import EvaluationSheet, Municipality, ProcessInstance, User
from engine.runtime.context import Kyzmat
from tests.citizens_support import hand_over, registered_case
from tests.conftest import RECEPTION
from tests.test_web import body_text

FULL_ANSWERS = {
    "age": "34",
    "gender": "female",
    "health_limitations": "no",
    **{
        q: "fully_satisfied"
        for q in (
            "q1_schedule",
            "q2_premises",
            "q3_queue",
            "q4_time",
            "q5_competence",
            "q6_politeness",
            "q7_overall",
        )
    },
    "q8_information": "partially_satisfied",
    "unfounded_actions": "yes",
    "unfounded_kinds": ["unofficial_queue", "extra_documents"],
    "corruption": "no",
}


@pytest.fixture(autouse=True)
def frozen() -> Iterator[time_machine.Coordinates]:
    """Wed 18 Nov 2026, 16:00 in Bishkek."""
    with time_machine.travel(datetime(2026, 11, 18, 10, 0, tzinfo=UTC), tick=False) as traveller:
        yield traveller


@pytest.fixture
def app(kz: Kyzmat) -> Flask:
    return webapp.create_app({"TESTING": True, "WTF_CSRF_ENABLED": False}, kyzmat=kz)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def login(client: FlaskClient, username: str) -> None:
    resp = client.post("/login", data={"username": username, "password": DEMO_PASSWORD})
    assert resp.status_code == 302


def text(resp) -> str:
    return body_text(resp.get_data(as_text=True))


@pytest.fixture
def served(kz: Kyzmat, session: Session, user: Callable[[str], User]) -> ProcessInstance:
    instance = hand_over(registered_case(kz, session, user))
    session.commit()
    return instance


@pytest.fixture
def registered(kz: Kyzmat, session: Session, user: Callable[[str], User]) -> ProcessInstance:
    walk = registered_case(kz, session, user)
    session.commit()
    assert walk.instance is not None
    return walk.instance


def sheet_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(EvaluationSheet)) or 0


# --- the sheets as files ------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["short", "full"])
def test_sheet_files_are_valid_forms_with_the_scale_verbatim(variant: str) -> None:
    schema = load_form(REPO_ROOT / "forms", f"evaluation/{variant}.json")
    assert check_form_schema(schema) == []
    scale = [
        schema["properties"][q]["x-enum-labels"][v]["ky"]
        for q in schema["x-grid"]
        for v in schema["properties"][q]["enum"]
    ]
    assert scale[:4] == [
        "Толук канааттанам",
        "Жарым-жартылай канааттанам",
        "Канааттанбайм",
        "Жооп берүүдөн кыйналам",
    ]
    assert schema["x-label"]["ky"].startswith("Кызмат көрсөтүү борборлору көрсөткөн мамлекеттик")
    for name in ("csc", "appeal_date", "official", "service_name", "age", "gender", "health_limitations"):
        assert name in schema["properties"]


def test_full_sheet_has_the_eight_questions_and_the_two_yes_no_blocks() -> None:
    schema = load_form(REPO_ROOT / "forms", "evaluation/full.json")
    assert len(schema["x-grid"]) == 8
    props = schema["properties"]
    assert props["q3_queue"]["x-label"]["ky"] == "Сизди кезекти уюштуруу иши канааттандырабы?"
    assert props["unfounded_kinds"]["x-show-if"] == {"unfounded_actions": True}
    assert len(props["unfounded_kinds"]["items"]["enum"]) == 5
    assert "comment" not in props  # the full sheet has no free comment after the grid (§6.4)
    short = load_form(REPO_ROOT / "forms", "evaluation/short.json")
    assert short["x-grid"] == ["result"] and "comment" in short["properties"]


# --- receipt ------------------------------------------------------------------------------------------


def decode_qr(png: bytes) -> str:
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert len(found) == 1
    return found[0].text


def test_receipt_qr_code_decodes_to_the_status_link(
    client: FlaskClient, registered: ProcessInstance, kz: Kyzmat
) -> None:
    login(client, "operator")
    page = client.get(f"/cases/{registered.id}/receipt").get_data(as_text=True)
    uri = re.search(r'<img src="data:image/png;base64,([^"]+)"', page)
    assert uri is not None
    link = decode_qr(base64.b64decode(uri.group(1)))
    assert link == f"{kz.settings.base_url}/s/{registered.public_token}"
    assert link in page  # printed beside the code too
    path = link.removeprefix(kz.settings.base_url)
    client.post("/logout")
    resp = client.get(path)
    assert resp.status_code == 200
    assert "DS-2026-00001" in text(resp)


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("ky", ["ТАЛОН", "Д.Садырбаев айыл өкмөтү", "Жашаган жеринен", "Үй китеби", "2026-ж., 23-ноябрь"]),
        (
            "ru",
            [
                "ТАЛОН / Талон",
                "Айыл окмоту им. Д. Садырбаева",
                "Справка с места жительства",
                "Домовая книга",
                "23 ноября 2026",
            ],
        ),
    ],
)
@pytest.mark.parametrize("paper", ["a5", "roll"])
def test_receipt_pdf_has_the_facts_and_a_qr_code_of_the_status_link(
    client: FlaskClient, registered: ProcessInstance, kz: Kyzmat, lang: str, words: list[str], paper: str
) -> None:
    login(client, "operator")
    client.post(f"/lang/{lang}")
    resp = client.get(f"/cases/{registered.id}/receipt.pdf?paper={paper}")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    reader = PdfReader(io.BytesIO(resp.data))
    assert len(reader.pages) == 1
    page = reader.pages[0]
    content = re.sub(r"\s+", " ", page.extract_text())
    for word in words + ["DS-2026-00001", "Айгүл Осмонова", registered.public_token[:20]]:
        assert word in content, (word, content)
    width_mm = float(page.mediabox.width) / 72 * 25.4
    assert round(width_mm) == (148 if paper == "a5" else 80)
    images = list(page.images)
    assert len(images) == 1
    assert decode_qr(images[0].data) == f"{kz.settings.base_url}/s/{registered.public_token}"


def test_receipt_pdf_needs_a_login_and_access_to_the_case(
    client: FlaskClient, registered: ProcessInstance
) -> None:
    assert client.get(f"/cases/{registered.id}/receipt.pdf").status_code == 302
    login(client, "operator2")  # Kyzyl-Adyr's operator
    assert client.get(f"/cases/{registered.id}/receipt.pdf").status_code == 403


def test_receipt_page_prints_on_a5_or_a_receipt_printer(
    client: FlaskClient, registered: ProcessInstance
) -> None:
    """A5 by default; the roll class selects the stylesheet's named 80 mm page (no inline style: CSP)."""
    login(client, "operator")
    a5 = client.get(f"/cases/{registered.id}/receipt").get_data(as_text=True)
    roll = client.get(f"/cases/{registered.id}/receipt?paper=roll").get_data(as_text=True)
    assert '<body class="receipt">' in a5 and '<body class="receipt roll">' in roll
    css = (Path(client.application.static_folder) / "kyzmat.css").read_text(encoding="utf-8")
    assert "@page { size: A5" in css
    assert "@page roll { size: 80mm" in css and "body.receipt.roll { page: roll; }" in css


# --- status page --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "service", "phase"),
    [
        ("ky", "Жашаган жеринен", "Жыйынтык даярдалууда."),
        ("ru", "Справка с места жительства", "Результат готовится."),
    ],
)
def test_status_page_says_where_the_case_is_and_nothing_personal(
    client: FlaskClient, registered: ProcessInstance, lang: str, service: str, phase: str
) -> None:
    resp = client.get(f"/s/{registered.public_token}?lang={lang}")
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "no-store" and resp.headers["Referrer-Policy"] == "no-referrer"
    body = text(resp)
    assert service in body and phase in body
    assert "DS-2026-00001" in body
    assert ("2026-ж., 23-ноябрь" if lang == "ky" else "23 ноября 2026") in body  # the result date
    for personal in (
        RECEPTION["applicant_name"],
        "Асель",
        "Бекова",
        RECEPTION["village"],
        "Айгүл Осмонова",
        "паспорт",
        "Үй китеби",
        "Домовая книга",
    ):
        assert personal not in resp.get_data(as_text=True), personal
    assert "/evaluation" not in resp.get_data(as_text=True)  # not before the hand-over


def test_status_after_hand_over_offers_the_sheet_once(
    client: FlaskClient, served: ProcessInstance, session: Session
) -> None:
    page = client.get(f"/s/{served.public_token}")
    assert "Жыйынтык сизге берилди." in text(page)
    assert f"/s/{served.public_token}/evaluation" in page.get_data(as_text=True)
    resp = client.post(f"/s/{served.public_token}/evaluation", data=FULL_ANSWERS)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/thanks")
    assert "Баалоо баракчасын толтурганыңызга ырахмат!" in text(client.get(resp.headers["Location"]))
    page = client.get(f"/s/{served.public_token}")
    assert f"/s/{served.public_token}/evaluation" not in page.get_data(as_text=True)
    # a second sheet for the same receipt is refused, by the page and by a replayed post
    again = client.post(f"/s/{served.public_token}/evaluation", data={**FULL_ANSWERS, "age": "50"})
    assert again.status_code == 409
    assert "бир гана жолу" in text(again)
    assert client.get(f"/s/{served.public_token}/evaluation").status_code == 409
    assert sheet_count(session) == 1


def test_answers_are_stored_anonymously_against_service_municipality_date_and_operator(
    client: FlaskClient, served: ProcessInstance, session: Session, user: Callable[[str], User]
) -> None:
    client.post(
        f"/s/{served.public_token}/evaluation",
        data={**FULL_ANSWERS, "corruption": "yes", "corruption_details": "акча сурашты"},
    )
    row = session.scalars(select(EvaluationSheet)).one()
    assert row.service_code == "M2"
    assert row.municipality_id == served.municipality_id
    assert row.appeal_date == date(2026, 11, 18)
    assert row.operator_id == user("operator").id
    assert (row.variant, row.source, row.entered_by_id) == ("full", "online", None)
    assert row.answers == {
        "age": 34,
        "gender": "female",
        "health_limitations": False,
        **{
            q: "fully_satisfied"
            for q in (
                "q1_schedule",
                "q2_premises",
                "q3_queue",
                "q4_time",
                "q5_competence",
                "q6_politeness",
                "q7_overall",
            )
        },
        "q8_information": "partially_satisfied",
        "unfounded_actions": True,
        "unfounded_kinds": ["unofficial_queue", "extra_documents"],
        "corruption": True,
        "corruption_details": "акча сурашты",
    }
    # nothing in the row leads back to the case: no id, no token, no applicant
    values = " ".join(str(getattr(row, c.key)) for c in EvaluationSheet.__table__.columns)
    for secret in (served.public_token, RECEPTION["applicant_name"], RECEPTION["village"]):
        assert secret not in values
    assert "instance_id" not in EvaluationSheet.__table__.columns


def test_a_sheet_with_errors_keeps_what_was_typed(
    client: FlaskClient, served: ProcessInstance, session: Session
) -> None:
    partial = {k: v for k, v in FULL_ANSWERS.items() if k != "q4_time"} | {"age": "abc"}
    resp = client.post(f"/s/{served.public_token}/evaluation", data=partial)
    assert resp.status_code == 422
    body = resp.get_data(as_text=True)
    assert "Бул талааны толтуруу милдеттүү." in body and "Бүтүн сан жазыңыз." in body
    assert (
        'name="q1_schedule" value="fully_satisfied" aria-labelledby="q-q1_schedule opt-fully_satisfied" checked'
        in body
    )
    assert 'value="abc"' in body
    assert sheet_count(session) == 0


def test_the_sheet_opens_only_after_the_hand_over(
    client: FlaskClient, registered: ProcessInstance, session: Session
) -> None:
    assert client.get(f"/s/{registered.public_token}/evaluation").status_code == 403
    resp = client.post(f"/s/{registered.public_token}/evaluation", data=FULL_ANSWERS)
    assert resp.status_code == 403
    assert sheet_count(session) == 0


def test_the_municipality_chooses_the_short_sheet(
    client: FlaskClient, served: ProcessInstance, session: Session
) -> None:
    municipality = session.get(Municipality, served.municipality_id)
    assert municipality is not None
    evaluation.set_sheet_variant(session, municipality, "short")
    session.commit()
    body = text(client.get(f"/s/{served.public_token}/evaluation"))
    assert "1-вариант (Кыска)" in body and "Кызмат көрсөтүүнүн жыйынтыгы" in body
    assert "Кызматкерлердин компетенттүүлүгүнө канааттанасызбы?" not in body
    resp = client.post(
        f"/s/{served.public_token}/evaluation", data={"result": "not_satisfied", "comment": "узак күттүм"}
    )
    assert resp.status_code == 302
    row = session.scalars(select(EvaluationSheet)).one()
    assert (row.variant, row.answers) == ("short", {"result": "not_satisfied", "comment": "узак күттүм"})


def test_a_clerk_types_in_a_paper_sheet_once(
    client: FlaskClient, served: ProcessInstance, session: Session, user: Callable[[str], User]
) -> None:
    login(client, "operator2")  # another municipality's CSC
    assert client.post(f"/cases/{served.id}/evaluation", data=FULL_ANSWERS).status_code == 403
    client.post("/logout")
    login(client, "specialist")  # sees the case but is not the CSC
    assert client.post(f"/cases/{served.id}/evaluation", data=FULL_ANSWERS).status_code == 403
    client.post("/logout")
    login(client, "operator")
    form = client.get(f"/cases/{served.id}/evaluation")
    assert "Кызматкерлердин сылыктыгына жана ыкластуулугуна канааттанасызбы?" in text(form)
    resp = client.post(f"/cases/{served.id}/evaluation", data=FULL_ANSWERS)
    assert resp.status_code == 302
    row = session.scalars(select(EvaluationSheet)).one()
    assert (row.source, row.entered_by_id) == ("paper", user("operator").id)
    # the citizen cannot add a second one online, nor the clerk on paper
    assert client.post(f"/s/{served.public_token}/evaluation", data=FULL_ANSWERS).status_code == 409
    assert client.post(f"/cases/{served.id}/evaluation", data=FULL_ANSWERS).status_code == 409
    assert sheet_count(session) == 1


# --- unguessable links, rate limit ---------------------------------------------------------------------


def test_unknown_and_guessed_links_are_404_and_guessing_is_slowed(
    client: FlaskClient, registered: ProcessInstance, frozen: time_machine.Coordinates, session: Session
) -> None:
    token = registered.public_token
    assert client.get("/s/../../etc/passwd").status_code == 404
    guesses = [
        "0" * 64,
        token[:-1] + ("0" if token[-1] != "0" else "1"),
        token[:32],
        token.upper(),
        str(registered.id),
        "%00",
    ]
    for guess in guesses:
        assert client.get(f"/s/{guess}").status_code == 404, guess
    assert client.get(f"/s/{guesses[0]}/evaluation").status_code == 404
    for i in range(public.MAX_FAILURES - len(guesses) - 1):
        assert client.get(f"/s/{i:064x}").status_code == 404
    # the limit is reached: every lookup from this client now waits, even the right link
    blocked = client.get(f"/s/{token}")
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["Retry-After"]) <= public.WINDOW.total_seconds()
    assert client.get(f"/s/{'1' * 64}").status_code == 429
    # another client is not slowed
    assert client.get(f"/s/{token}", environ_base={"REMOTE_ADDR": "10.0.0.7"}).status_code == 200
    frozen.shift(public.WINDOW - timedelta(seconds=5))
    assert client.get(f"/s/{token}").status_code == 429
    frozen.shift(timedelta(seconds=5))
    assert client.get(f"/s/{token}").status_code == 200
    assert client.get(f"/s/{'2' * 64}").status_code == 404  # a new window counts from one


def test_a_valid_link_does_not_count_as_a_failure(client: FlaskClient, registered: ProcessInstance) -> None:
    for _ in range(public.MAX_FAILURES * 2):
        assert client.get(f"/s/{registered.public_token}").status_code == 200


# --- notice board --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        (
            "ky",
            [
                "Окуучуларды муниципалдык автотраспорт менен мектепке таашуу",
                "Айыл өкмөтү",
                "Аутсорсинг",
                "Акысыз",
                "Кызматтарды стандартташтырууга жооптуу органдын аты",
            ],
        ),
        (
            "ru",
            [
                "Подвоз учащихся в школу муниципальным автотранспортом",
                "Айыл окмоту",
                "Бесплатно",
                "Наименование органа, ответственного за стандартизацию услуг",
            ],
        ),
    ],
)
def test_notice_board_shows_the_approved_additional_list(
    client: FlaskClient, lang: str, words: list[str]
) -> None:
    resp = client.get(f"/board/sadyrbaev?lang={lang}")
    assert resp.status_code == 200
    body = text(resp)
    for word in words:
        assert word in body, word
    assert resp.get_data(as_text=True).count("<tr><td>") == 6
    assert 'id="draft-list"' in resp.get_data(as_text=True)


def test_notice_board_of_a_municipality_without_a_list(client: FlaskClient) -> None:
    assert "Бекитилген Кошумча тизме азырынча жок." in text(client.get("/board/kyzyl-adyr"))
    assert client.get("/board/nowhere").status_code == 404


def test_forwarded_addresses_count_only_behind_a_configured_proxy(
    kz: Kyzmat, registered: ProcessInstance
) -> None:
    """The per-address limit counts the connection's address; X-Forwarded-For is believed only
    with KYZMAT_PROXY_HOPS set (else a guesser would name a new address with every request)."""

    def guess_until_blocked(client: FlaskClient, forwarded_for: str | None = None) -> None:
        for i in range(public.MAX_FAILURES):
            headers = {"X-Forwarded-For": forwarded_for or f"203.0.113.{i}"}
            assert client.get(f"/s/{i:064x}", headers=headers).status_code == 404

    # No proxy configured: changing the header every time does not escape the limit.
    direct = webapp.create_app({"TESTING": True}, kyzmat=kz).test_client()
    guess_until_blocked(direct)
    assert (
        direct.get(f"/s/{registered.public_token}", headers={"X-Forwarded-For": "198.51.100.1"}).status_code
        == 429
    )

    # Behind one proxy (every request comes from the proxy's address): each citizen is counted apart.
    kz.settings = replace(kz.settings, proxy_hops=1)
    proxied = webapp.create_app({"TESTING": True}, kyzmat=kz).test_client()
    proxy = {"REMOTE_ADDR": "10.9.9.9"}
    for i in range(public.MAX_FAILURES):
        assert (
            proxied.get(
                f"/s/{i:064x}", headers={"X-Forwarded-For": "198.51.100.20"}, environ_base=proxy
            ).status_code
            == 404
        )
    assert (
        proxied.get(
            f"/s/{registered.public_token}", headers={"X-Forwarded-For": "198.51.100.20"}, environ_base=proxy
        ).status_code
        == 429
    )
    assert (
        proxied.get(
            f"/s/{registered.public_token}", headers={"X-Forwarded-For": "198.51.100.21"}, environ_base=proxy
        ).status_code
        == 200
    )
