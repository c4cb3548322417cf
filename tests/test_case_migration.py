"""Moving running cases to the newest version: a case that can move (its council deadline follows the
new rule), one that cannot (a step it is at was removed), read models and audit after the move."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.definitions import drafts
from engine.definitions import migration as case_migration
from engine.platform.config import REPO_ROOT
from engine.platform.models import AuditEvent, HumanTask, Timer, User
from engine.runtime import cases
from engine.runtime.context import Kyzmat
from tests.test_process_bc_scenarios import CaseWalk, adopted, bishkek_end_of

C = "csc_establishment"
SHIPPED = (REPO_ROOT / "processes" / f"{C}.bpmn").read_text(encoding="utf-8")
WHEN = datetime(2026, 4, 20, 4, 0, tzinfo=UTC)  # Mon 20 Apr 2026, 10:00 in Bishkek


def without(xml: str, ids: set[str]) -> str:
    """The diagram with these elements, their flows, lane references and shapes removed."""
    from lxml import etree

    root = etree.fromstring(xml.encode("utf-8"))
    flows = {
        f.get("id") for f in root.iter("{*}sequenceFlow") if {f.get("sourceRef"), f.get("targetRef")} & ids
    }
    gone = ids | flows
    for el in list(root.iter()):
        if not isinstance(el.tag, str):
            continue
        if (
            el.get("id") in gone
            or el.get("bpmnElement") in gone
            or (
                etree.QName(el).localname in ("flowNodeRef", "incoming", "outgoing")
                and (el.text or "") in gone
            )
        ):
            el.getparent().remove(el)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode("utf-8")


def publish(kz: Kyzmat, session: Session, owner: User, xml: str, note: str) -> int:
    drafts.save_draft(session, owner, C, xml, {}, now=WHEN)
    return drafts.publish_draft(kz, session, owner, C, note).number


@pytest.fixture
def at_council(kz: Kyzmat, session: Session, user: Callable[[str], User]) -> CaseWalk:
    """A Process C case (version 1) at the council's decision, submitted Mon 20 Apr: due Mon 27 Apr."""
    walk = CaseWalk(kz, session, user, C)
    with time_machine.travel(WHEN, tick=False):
        walk.start("head")
        walk.complete("C_00_launch", {"launch_order_number": "47", "launch_order_date": "2026-04-20"})
        walk.complete("C_01_submit_draft", {"submitted_on": "2026-04-20"})
    assert walk.open_task("C_02_council_decision").due_at == bishkek_end_of(2026, 4, 27)
    return walk


@time_machine.travel(WHEN, tick=False)
def test_a_case_moves_to_the_new_deadline(kz, session, user, at_council):
    owner = user("owner")
    assert (
        publish(
            kz,
            session,
            owner,
            SHIPPED.replace("add_working_days(submitted_on, 5)", "add_working_days(submitted_on, 7)"),
            "seven days",
        )
        == 2
    )
    instance = at_council.instance
    assert [c.id for c in case_migration.movable_cases(session, C)] == [instance.id]
    task_before = at_council.open_task("C_02_council_decision")

    preview = case_migration.preview_migration(kz, session, instance.id)
    assert (preview.from_version, preview.to_version) == (1, 2)
    changed = {(m.element_id, m.kind): m for m in preview.moves if m.change == "changed"}
    assert set(changed) == {("C_02_council_decision", "step"), ("C_02_council_decision_due", "timer")}
    assert changed[("C_02_council_decision", "step")].after == bishkek_end_of(2026, 4, 29)
    session.refresh(instance)
    assert instance.version.number == 1  # the preview moved nothing
    assert at_council.open_task("C_02_council_decision").due_at == bishkek_end_of(2026, 4, 27)

    case_migration.migrate_case(kz, session, owner, instance.id)
    session.refresh(instance)
    assert instance.version.number == 2
    task = at_council.open_task("C_02_council_decision")
    assert task.id == task_before.id and task.due_at == bishkek_end_of(2026, 4, 29)  # same step row, new date
    timer = session.scalar(
        select(Timer).where(
            Timer.instance_id == instance.id,
            Timer.status == "waiting",
            Timer.element_id == "C_02_council_decision_due",
        )
    )
    assert timer.due_at.replace(tzinfo=UTC) == bishkek_end_of(2026, 4, 29)
    event = session.scalar(
        select(AuditEvent).where(AuditEvent.instance_id == instance.id, AuditEvent.action == "case_migrated")
    )
    assert event.actor_id == owner.id and (event.detail["from_version"], event.detail["to_version"]) == (1, 2)
    assert case_migration.movable_cases(session, C) == []
    with pytest.raises(case_migration.MigrationRefused) as info:
        case_migration.preview_migration(kz, session, instance.id)
    assert info.value.reason == "newest"

    # The moved case runs on: the timer fires at the new date, not the old one, and the council decides.
    with time_machine.travel(datetime(2026, 4, 28, 4, 0, tzinfo=UTC), tick=False):
        assert cases.fire_due_timers(kz, session) == 0
    with time_machine.travel(datetime(2026, 4, 29, 4, 0, tzinfo=UTC), tick=False):
        at_council.complete("C_02_council_decision", adopted("2026-04-29"), username="council")
    assert "C_03_responsible_specialist" in at_council.open_steps()


@time_machine.travel(WHEN, tick=False)
def test_a_case_whose_step_was_removed_cannot_move(kz, session, user, at_council):
    owner = user("owner")
    no_deadline = without(SHIPPED, {"C_02_council_decision_due", "C_02_overdue", "C_02_end_overdue"})
    assert publish(kz, session, owner, no_deadline, "the council's deadline is no longer tracked") == 2
    instance = at_council.instance
    for attempt in (
        case_migration.preview_migration,
        lambda k, s, i: case_migration.migrate_case(k, s, owner, i),
    ):
        with pytest.raises(case_migration.MigrationRefused) as info:
            attempt(kz, session, instance.id)
        assert info.value.reason == "removed" and "C_02_council_decision_due" in info.value.detail
    session.refresh(instance)
    assert instance.version.number == 1
    assert at_council.open_task("C_02_council_decision").due_at == bishkek_end_of(2026, 4, 27)
    assert session.scalar(select(AuditEvent).where(AuditEvent.action == "case_migrated")) is None


def test_only_running_cases_move(kz, session, user, at_council):
    at_council.instance.status = "cancelled"
    session.flush()
    with pytest.raises(case_migration.MigrationRefused) as info:
        case_migration.preview_migration(kz, session, at_council.instance.id)
    assert info.value.reason == "not_running"
    assert (
        session.scalar(select(HumanTask.id).where(HumanTask.instance_id == at_council.instance.id))
        is not None
    )


@time_machine.travel(WHEN, tick=False)
def test_the_versions_page_moves_a_case_after_a_preview(kz, session, user, at_council):
    from tests.test_web_editor import client_for

    publish(
        kz,
        session,
        user("owner"),
        SHIPPED.replace("add_working_days(submitted_on, 5)", "add_working_days(submitted_on, 7)"),
        "seven days",
    )
    session.commit()
    instance_id = at_council.instance.id
    client = client_for(kz, "owner")
    client.post("/lang/ru")
    page = client.get(f"/processes/{C}/versions").get_data(as_text=True)
    move_url = f"/processes/{C}/cases/{instance_id}/move"
    assert f'data-case="{instance_id}"' in page and move_url in page
    preview = client.get(move_url).get_data(as_text=True)
    assert (
        'data-element="C_02_council_decision" data-change="changed"' in preview
        and "29 апреля 2026" in preview
    )
    assert client_for(kz, "operator").post(move_url).status_code == 403
    assert client.post(move_url).status_code == 302
    session.expire_all()
    assert at_council.open_task("C_02_council_decision").due_at == bishkek_end_of(2026, 4, 29)
    page = client.get(f"/processes/{C}/versions").get_data(as_text=True)
    assert f'data-case="{instance_id}"' not in page and "Дело переведено на новую версию" in page
    refused = client.get(move_url)
    assert refused.status_code == 409 and "уже идёт по новейшей версии" in refused.get_data(as_text=True)
