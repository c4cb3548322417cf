"""A citizen's request walked through Process D up to the hand-over (D_13), for the citizens' pages tests."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from engine.platform.models import ProcessInstance, User
from engine.runtime.context import Kyzmat
from tests.test_process_d_scenarios import ALL_DOCS, Walk, intake


def registered_case(kz: Kyzmat, session: Session, user: Callable[[str], User]) -> Walk:
    """A case of service M2 registered, its receipt handed out, the result being prepared."""
    walk = Walk(kz, session, user)
    intake(walk, "M2")
    walk.complete("D_06_check_documents", {"documents_received": ALL_DOCS["M2"], "documents_complete": True})
    walk.complete("D_09_issue_receipt", {"receipt_handed_over": True})
    walk.complete("D_10_forward", {"forwarded_to": "Айыл өкмөтүнүн катчысы"})
    return walk


def hand_over(walk: Walk) -> ProcessInstance:
    walk.complete(
        "D_11_prepare_municipal",
        {"outcome": "document", "document_number": "142", "result_transferred_to_csc": True},
        username="specialist",
    )
    registered_on = walk.data()["registration"]["registered_on"]  # handed over that day (not before it)
    walk.complete(
        "D_13_hand_over",
        {
            "outcome": "document",
            "result_handed_over": True,
            "handed_over_on": registered_on,
            "evaluation_sheet_offered": True,
        },
    )
    assert walk.instance is not None and walk.instance.status == "completed"
    return walk.instance
