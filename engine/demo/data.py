"""Demo data for `make run`: the D. Sadyrbaev aiyl okmotu and one user per role."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.accounts import users as accounts
from engine.platform.models import Municipality

DEMO_PASSWORD = "kyzmat-demo"  # noqa: S105 - printed for newcomers; demo only

MUNICIPALITIES = [
    {
        "code": "sadyrbaev",
        "names": {
            "ky": "Д.Садырбаев айыл өкмөтү",
            "ru": "Айыл окмоту им. Д. Садырбаева",
            "en": "D. Sadyrbaev aiyl okmotu",
        },
        "journal_prefix": "DS",
        "region": "Чүй облусу",
        "district": "Кемин району",
        "remote_villages": ["Кара-Булак", "Жаңы-Жол"],
    },
    {
        "code": "kyzyl-adyr",
        "names": {
            "ky": "Кызыл-Адыр айыл өкмөтү",
            "ru": "Айыл окмоту Кызыл-Адыр",
            "en": "Kyzyl-Adyr aiyl okmotu",
        },
        "journal_prefix": "KA",
        "region": "Талас облусу",
        "district": "Кара-Буура району",
        "remote_villages": [],
    },
]

# Municipality settings: which evaluation sheet it hands out (catalogue §6) and its approved Additional
# List (the seed 000 annex is D. Sadyrbaev's).
SETTINGS = {
    "sadyrbaev": {"evaluation_sheet": "full", "additional_list": ["AL1", "AL2", "AL3", "AL4", "AL5", "AL6"]},
    "kyzyl-adyr": {"evaluation_sheet": "short"},
}

# (username, role, municipality code or None for national)
LOGINS: list[tuple[str, str, str | None]] = [
    ("operator", "csc_operator", "sadyrbaev"),
    ("specialist", "ao_specialist", "sadyrbaev"),
    ("head", "ao_head", "sadyrbaev"),
    ("commission", "working_commission", "sadyrbaev"),
    ("council", "council_secretary", "sadyrbaev"),
    ("zags", "state_body", "sadyrbaev"),
    ("coordination", "coordination_body", None),
    ("monitoring", "monitoring_executor", None),
    ("ministry", "authorized_body_head", None),
    ("owner", "process_owner", None),
    ("admin", "admin", None),
    ("operator2", "csc_operator", "kyzyl-adyr"),
]

NAMES = {
    "operator": "Айгүл Осмонова",
    "specialist": "Бакыт Жумабеков",
    "head": "Шайыркүл Дарманкулова",
    "commission": "Нурлан Токтогулов",
    "council": "Гүлнара Асанова",
    "zags": "Эрмек Сатыбалдиев",
    "coordination": "Марат Иманалиев",
    "monitoring": "Жылдыз Абдыкадырова",
    "ministry": "Азамат Бекмуратов",
    "owner": "Чынара Мамытова",
    "admin": "Тимур Алиев",
    "operator2": "Садыр Токтосунов",
}


def load(session: Session, now: datetime) -> bool:
    """Create the demo municipalities and users; return False when they already exist."""
    if session.scalar(select(Municipality.id).where(Municipality.code == "sadyrbaev")) is not None:
        return False
    for m in MUNICIPALITIES:
        row = accounts.create_municipality(session, **m)  # type: ignore[arg-type]
        row.settings = dict(SETTINGS.get(row.code, {}))
    for username, role, code in LOGINS:
        accounts.create_user(
            session,
            username=username,
            password=DEMO_PASSWORD,
            full_name=NAMES[username],
            now=now,
            grants=[(role, code)],
            locale="ky",
        )
    return True
