"""The notice board's draft Additional List: shown from Process A's public notification (A-10, §2.9)
until the council decides, walked through the engine."""

# ruff: noqa: F811 - the fixtures app, client and frozen come from tests/test_citizens.py
from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.test_citizens import app, client, frozen  # noqa: F401
from tests.test_process_a_scenarios import BUS, COAL, INCLUDE, MEETS, Walk, walk  # noqa: F401
from tests.test_web import body_text

BODY, PROVIDER = "Дыйкан айыл өкмөтү", "Мектеп автобусу МИ"


def board(client: FlaskClient, session: Session, lang: str = "ky", code: str = "sadyrbaev") -> str:
    session.commit()
    resp = client.get(f"/board/{code}?lang={lang}")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    return body_text(html[html.index('id="draft-list"') : html.index('id="approved-list"')])


def to_notification(walk: Walk) -> None:
    """Two services drafted; the aiyl okmotu includes the bus and refuses the coal: A-10 is reached."""
    walk.to_preliminary_list([(BUS, "free"), (COAL, "free")])
    walk.expertise(
        {
            BUS: {**MEETS, "e1_focus_group_protocol": walk.file()},
            COAL: {**MEETS, "e1_focus_group_protocol": walk.file()},
        }
    )
    walk.complete(
        "A_07_draft_list",
        {
            "draft_list": [
                {"name": BUS, "standardisation_body": BODY, "provider": PROVIDER, "paid_or_free": "free"},
                {
                    "name": COAL,
                    "standardisation_body": BODY,
                    "provider": "Айыл өкмөтү",
                    "paid_or_free": "free",
                },
            ],
            "wc_protocol": walk.file(),
        },
    )


def decide_and_refuse(walk: Walk) -> None:
    walk.decide({BUS: INCLUDE, COAL: {"decision": "refuse", "paid": False, "refusal_reason": "Каражат жок"}})
    walk.complete(
        "A_09_refusal_notice",
        {
            "service_name": COAL,
            "initiator": "Кара-Булак айылынын чогулушу",
            "refusal_reason": "Каражат жок",
            "sent_on": "2026-11-18",
        },
    )


def test_the_draft_list_is_public_from_the_notification_until_the_council_decides(
    walk: Walk, client: FlaskClient, session: Session
) -> None:
    to_notification(walk)
    assert walk.open_steps() == ["A_08_decide", "A_08_decide"]
    assert "Азыр талкууга коюлган тизменин долбоору жок." in board(client, session)  # not yet notified
    decide_and_refuse(walk)
    assert walk.open_steps() == ["A_10_notify"]
    ky = board(client, session)
    assert BUS in ky and BODY in ky and PROVIDER in ky and "Акысыз" in ky
    assert COAL not in ky  # refused by the aiyl okmotu: not in the draft
    assert "Кызматтардын аталыштары" in ky and "2026-ж., 18-ноябрь" in ky
    ru = board(client, session, "ru")
    assert (
        BUS in ru and "Бесплатно" in ru and "Наименования услуг" in ru and "Опубликован для обсуждения" in ru
    )
    assert BUS not in board(client, session, code="kyzyl-adyr")  # another municipality's board
    walk.complete("A_10_notify", {"channels": ["info_boards", "markets"]})
    assert walk.open_steps() == ["A_12_package"] and BUS in board(client, session)
    walk.package()
    assert walk.open_steps() == ["A_15_council_session"] and BUS in board(client, session)
    walk.council("approved")
    assert BUS not in board(client, session)  # the council decided: the draft is no longer open


def test_a_returned_list_leaves_the_board_until_it_is_notified_again(
    walk: Walk, client: FlaskClient, session: Session
) -> None:
    to_notification(walk)
    decide_and_refuse(walk)
    walk.complete("A_10_notify", {"channels": ["info_boards"]})
    walk.package()
    walk.council("returned")
    assert walk.open_steps() == ["A_08_decide", "A_08_decide"]  # back to the aiyl okmotu's decisions
    assert BUS not in board(client, session)
    decide_and_refuse(walk)
    assert walk.open_steps() == ["A_10_notify"] and BUS in board(client, session)
