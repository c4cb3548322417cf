"""A municipality's own variant of a process: its process owner publishes it (Process C's council deadline
5 -> 7 working days in Sadyrbaev), new cases there follow it while the other municipality keeps the
national rule, running cases keep their version; the owner is refused the national version and the
other municipality's variant, in the engine and on every editor route."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.accounts import users as accounts
from engine.definitions import drafts
from engine.definitions import history as versions
from engine.definitions import migration as case_migration
from engine.definitions import publishing as processes
from engine.platform.errors import Forbidden
from engine.platform.models import AuditEvent, Municipality, ProcessInstance, User
from engine.runtime.context import Kyzmat
from tests.browser import DEMO_PASSWORD
from tests.test_case_migration import SHIPPED, WHEN, C
from tests.test_process_bc_scenarios import CaseWalk, bishkek_end_of
from tests.test_web_editor import client_for

SEVEN = SHIPPED.replace("add_working_days(submitted_on, 5)", "add_working_days(submitted_on, 7)")
NINE = SHIPPED.replace("add_working_days(submitted_on, 5)", "add_working_days(submitted_on, 9)")


def mid(session: Session, code: str) -> int:
    return session.scalar(select(Municipality.id).where(Municipality.code == code))


@pytest.fixture
def people(session: Session) -> None:
    """A process owner of Sadyrbaev only, and a head of Kyzyl-Adyr (to start cases there)."""
    accounts.create_user(
        session,
        username="owner_ds",
        password=DEMO_PASSWORD,
        full_name="Owner DS",
        now=WHEN,
        grants=[("process_owner", "sadyrbaev")],
    )
    accounts.create_user(
        session,
        username="head_ka",
        password=DEMO_PASSWORD,
        full_name="Head KA",
        now=WHEN,
        grants=[("ao_head", "kyzyl-adyr")],
    )
    session.commit()


def at_council(kz: Kyzmat, session: Session, user: Callable[[str], User], head: str) -> CaseWalk:
    """A Process C case started by `head` in their municipality, submitted Mon 20 Apr, at the council."""
    walk = CaseWalk(kz, session, user, C)
    walk.start(head)
    walk.complete("C_00_launch", {"launch_order_number": "47", "launch_order_date": "2026-04-20"}, head)
    walk.complete("C_01_submit_draft", {"submitted_on": "2026-04-20"}, head)
    return walk


def due(walk: CaseWalk) -> datetime:
    return walk.open_task("C_02_council_decision").due_at


@time_machine.travel(WHEN, tick=False)
def test_a_municipal_owner_publishes_their_municipalitys_variant(kz, session, user, people):
    ds, ka = mid(session, "sadyrbaev"), mid(session, "kyzyl-adyr")
    owner = user("owner_ds")
    before = at_council(kz, session, user, "head")  # a running Sadyrbaev case on the national version 1

    drafts.save_draft(session, owner, C, SEVEN, {}, now=WHEN, municipality_id=ds)
    variant = drafts.publish_draft(
        kz, session, owner, C, "Sadyrbaev's council meets weekly", municipality_id=ds
    )
    assert (variant.number, variant.municipality_id) == (2, ds)
    assert drafts.get_draft(session, C, ds) is None
    assert processes.latest_version(session, C).number == 1  # the national version is unchanged
    assert processes.latest_version(session, C, ds).id == variant.id
    assert processes.latest_version(session, C, ka).number == 1  # no variant there: the national version

    in_ds = at_council(kz, session, user, "head")
    in_ka = at_council(kz, session, user, "head_ka")
    assert (in_ds.instance.municipality_id, in_ka.instance.municipality_id) == (ds, ka)
    assert in_ds.instance.version_id == variant.id and due(in_ds) == bishkek_end_of(2026, 4, 29)  # seven days
    assert in_ka.instance.version.number == 1 and due(in_ka) == bishkek_end_of(2026, 4, 27)  # still five
    assert before.instance.version.number == 1 and due(before) == bishkek_end_of(
        2026, 4, 27
    )  # kept its version

    # The running Sadyrbaev case may move to the variant; the Kyzyl-Adyr case follows the newest for it already.
    assert [c.id for c in case_migration.movable_cases(session, C)] == [before.instance.id]
    case_migration.migrate_case(kz, session, owner, before.instance.id)
    assert before.instance.version_id == variant.id and due(before) == bishkek_end_of(2026, 4, 29)

    published = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "version_published", AuditEvent.process_id == C)
    ).all()[-1]
    assert published.actor_id == owner.id
    assert published.detail["version"] == 2 and published.detail["municipality"] == "sadyrbaev"
    saved = session.scalars(select(AuditEvent).where(AuditEvent.action == "process_draft_saved")).all()[-1]
    assert saved.detail["municipality_id"] == ds


@time_machine.travel(WHEN, tick=False)
def test_a_national_version_after_a_variant_leaves_the_variant_in_force_there(kz, session, user, people):
    ds = mid(session, "sadyrbaev")
    national = user("owner")
    drafts.save_draft(
        session, national, C, SEVEN, {}, now=WHEN, municipality_id=ds
    )  # a national owner may too
    assert drafts.publish_draft(kz, session, national, C, "variant", municipality_id=ds).number == 2
    drafts.save_draft(session, national, C, NINE, {}, now=WHEN)
    assert drafts.publish_draft(kz, session, national, C, "national nine days").number == 3
    assert due(at_council(kz, session, user, "head")) == bishkek_end_of(2026, 4, 29)  # Sadyrbaev: its variant
    nine = kz.calendar().add_working_days(datetime(2026, 4, 20).date(), 9)  # the May holidays fall in it
    assert due(at_council(kz, session, user, "head_ka")) == bishkek_end_of(nine.year, nine.month, nine.day)
    assert nine > datetime(2026, 4, 29).date()


@time_machine.travel(WHEN, tick=False)
def test_a_municipal_owner_is_refused_the_national_version_and_other_variants(kz, session, user, people):
    ds, ka = mid(session, "sadyrbaev"), mid(session, "kyzyl-adyr")
    owner = user("owner_ds")
    for target in (None, ka):
        with pytest.raises(Forbidden):
            drafts.save_draft(session, owner, C, SEVEN, {}, now=WHEN, municipality_id=target)
        with pytest.raises(Forbidden):
            drafts.open_for_editing(session, owner, C, municipality_id=target)
        with pytest.raises(Forbidden):
            versions.rollback(kz, session, owner, C, 1, "back", municipality_id=target)
    # A draft someone else left for Kyzyl-Adyr cannot be published by Sadyrbaev's owner either.
    drafts.save_draft(session, user("owner"), C, SEVEN, {}, now=WHEN, municipality_id=ka)
    with pytest.raises(Forbidden):
        drafts.publish_draft(kz, session, owner, C, "not mine", municipality_id=ka)
    with pytest.raises(Forbidden):
        drafts.publish_draft(kz, session, owner, C, "not mine")
    in_ka = at_council(kz, session, user, "head_ka")
    with pytest.raises(Forbidden):  # nor move another municipality's cases
        case_migration.migrate_case(kz, session, owner, in_ka.instance.id)
    assert [v.number for v in versions.history(session, C)] == [1]
    assert drafts.get_draft(session, C, ds) is None


ROUTES_GET = [
    "edit",
    "source",
    "versions",
    "diff?old=1&new=1",
    "versions/1.bpmn",
    "form?path=csc_establishment/C_02_council_decision.json",
]
ROUTES_POST = [
    "draft",
    "validate",
    "publish",
    "discard",
    "timer-preview",
    "form-check",
    "rollback",
    "import",
    "rule-texts",
    "reminder-check",
]


def test_editor_routes_refuse_a_municipal_owner_outside_their_variant(kz, session, people):
    client = client_for(kz, "owner_ds")
    for m in ("", "?m=kyzyl-adyr"):
        for route in ROUTES_GET:
            url = f"/processes/{C}/{route}"
            url += ("&" + m[1:] if "?" in url else m) if m else ""
            assert client.get(url).status_code == 403, url
        for route in ROUTES_POST:
            url = f"/processes/{C}/{route}{m}"
            assert client.post(url, json={"xml": SEVEN, "forms": {}, "note": "x"}).status_code == 403, url
    assert client.get(f"/processes/{C}/edit?m=nowhere").status_code == 404
    # The list sends them to their municipality's variants.
    response = client.get("/processes/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/processes/?m=sadyrbaev")
    assert client.get("/processes/?m=kyzyl-adyr").status_code == 403
    with kz.sessions() as s:  # nothing was saved or published, nationally or for Kyzyl-Adyr
        owner_id = s.scalar(select(User.id).where(User.username == "owner_ds"))
        assert (
            s.scalar(
                select(AuditEvent.id).where(
                    AuditEvent.actor_id == owner_id,
                    AuditEvent.action.in_(
                        ("process_draft_saved", "version_published", "process_draft_discarded")
                    ),
                )
            )
            is None
        )
        assert [v.number for v in versions.history(s, C)] == [1]


def test_a_municipal_owner_publishes_over_http_and_the_history_shows_the_variant(kz, session, people):
    client = client_for(kz, "owner_ds")
    page = client.get(f"/processes/{C}/edit?m=sadyrbaev")
    assert page.status_code == 200 and "/processes/csc_establishment/publish?m=sadyrbaev" in page.get_data(
        True
    )
    response = client.post(
        f"/processes/{C}/publish?m=sadyrbaev",
        json={"xml": SEVEN, "forms": {}, "note": "seven days in Sadyrbaev"},
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["version"] == 2
    with kz.sessions() as s:
        row = processes.latest_version(s, C, mid(s, "sadyrbaev"))
        assert (row.number, row.note) == (2, "seven days in Sadyrbaev")
        assert processes.latest_version(s, C).number == 1
    history = client.get(f"/processes/{C}/versions?m=sadyrbaev").get_data(True)
    row2 = history.split('data-version="2"', 1)[1].split("</tr>", 1)[0]
    row1 = history.split('data-version="1"', 1)[1].split("</tr>", 1)[0]
    assert "Садырбаев" in row2 and "badge" in row2  # Sadyrbaev's variant, in use for new cases there
    assert "улуттук" in row1 and "badge" not in row1  # the national version (Kyrgyz page)
    national = client_for(kz, "owner").get(f"/processes/{C}/versions").get_data(True)
    n2 = national.split('data-version="2"', 1)[1].split("</tr>", 1)[0]
    n1 = national.split('data-version="1"', 1)[1].split("</tr>", 1)[0]
    assert "Садырбаев" in n2 and "badge" not in n2 and "badge" in n1  # national new cases still follow 1
    register = client_for(kz, "owner").get("/processes/deadlines").get_data(True)
    assert f'id="register-{C}-sadyrbaev"' in register and "add_working_days(submitted_on, 7)" in register


@time_machine.travel(WHEN, tick=False)
def test_the_start_page_names_the_variant_where_it_applies(kz, session, user, people):
    """Sadyrbaev's variant renames Process C: its head sees and starts that name; Kyzyl-Adyr's head
    still sees the national one."""
    national_ru = "Создание Центра обслуживания населения: подготовительный этап"
    renamed_ru = "Создание ЦОН в Садырбаеве: подготовительный этап"
    renamed = SEVEN.replace(f'name="name_ru" value="{national_ru}"', f'name="name_ru" value="{renamed_ru}"')
    assert renamed != SEVEN
    ds = mid(session, "sadyrbaev")
    drafts.save_draft(session, user("owner_ds"), C, renamed, {}, now=WHEN, municipality_id=ds)
    drafts.publish_draft(kz, session, user("owner_ds"), C, "our own name", municipality_id=ds)
    session.commit()

    def start_page(username: str) -> str:
        client = client_for(kz, username)
        client.post("/lang/ru")
        return client.get("/start").get_data(True)

    here, there = start_page("head"), start_page("head_ka")
    assert renamed_ru in here and national_ru not in here
    assert national_ru in there and renamed_ru not in there
    client = client_for(kz, "head")
    started = client.post(f"/start/{C}")
    assert started.status_code == 302
    case = session.scalars(select(ProcessInstance).order_by(ProcessInstance.id.desc())).first()
    assert case is not None and case.municipality_id == ds and case.version.names["ru"] == renamed_ru
