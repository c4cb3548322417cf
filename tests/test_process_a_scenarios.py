"""Process A (the Additional List) through the persisted engine: every path, with the clock
moved, the state round-tripped from the database after every step."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.bpmn import workflow as wfapi
from engine.platform.errors import InvalidData, KyzmatError
from engine.platform.models import AuditEvent, HumanTask, ProcessInstance, Timer, User
from engine.runtime import cases
from engine.runtime.context import Kyzmat
from tests.test_process_d_scenarios import Walk as BaseWalk

PROCESS = "additional_list"
START_EVENTS = {
    "A_01_I1_kurultai": "I-1",
    "A_01_I2_consumers": "I-2",
    "A_01_I3_vulnerable": "I-3",
    "A_01_I4_deputies": "I-4",
    "A_01_I5_own": "I-5",
}
# Every step's author (demo users of engine/demo.py, all of D. Sadyrbaev but `coordination`).
USERS = {
    "ao_specialist": "specialist",
    "ao_head": "head",
    "working_commission": "commission",
    "coordination_body": "coordination",
    "council_secretary": "council",
}


class Walk(BaseWalk):
    """Drives one case as the right users, restoring the saved state after every step."""

    same_key_order = False  # per-service sub-processes

    def __init__(self, kz: Kyzmat, session: Session, user: Callable[[str], User]) -> None:
        super().__init__(kz, session, user)
        self.files = 0

    def file(self) -> str:
        self.files += 1
        return f"att-{self.files:04d}"

    def start(self, start_event: str = "A_01_I1_kurultai", username: str = "specialist") -> ProcessInstance:
        self.instance = cases.start_case(
            self.kz, self.session, self.user(username), PROCESS, start_event=start_event
        )
        self.session.flush()
        self.check_round_trip()
        return self.instance

    def complete_row(self, task: HumanTask, data: dict[str, Any]) -> None:
        cases.complete_task(self.kz, self.session, self.user(USERS[task.role]), task.id, data, lang="en")
        self.session.flush()
        self.check_round_trip()

    def complete(self, step_id: str, data: dict[str, Any]) -> None:
        self.complete_row(self.open_task(step_id), data)

    def task_data(self, task: HumanTask) -> dict[str, Any]:
        wf = self.restored()
        return wfapi.task_data(wf, task.task_uuid)

    # --- the steps, with typical data ------------------------------------------------------------

    def to_preliminary_list(
        self, services: list[tuple[str, str]], *, start_event: str = "A_01_I1_kurultai", **receive: Any
    ) -> None:
        self.start(start_event)
        self.complete(
            "A_01_receive",
            {
                "type": "formation",
                "initiator": "Кара-Булак айылынын чогулушу",
                "document_kind": "protocol",
                "documents": [self.file()],
                "proposed_services": "Окуучуларды мектепке ташуу",
                **receive,
            },
        )
        self.complete(
            "A_03_focus_groups",
            {
                "participant_groups": ["consumers", "women", "elderly"],
                "focus_group_results": "Муктаждыктар аныкталды",
                "focus_group_protocol": self.file(),
            },
        )
        self.complete(
            "A_04_preliminary_list",
            {"preliminary_list": [{"name": name, "paid_or_free": fee} for name, fee in services]},
        )

    def expertise(self, answers: dict[str, dict[str, Any]]) -> None:
        """Answer the expertise of every service: {service name: form data}."""
        tasks = self.open_tasks("A_06_assess")
        assert len(tasks) == len(answers)
        for task in tasks:
            name = self.task_data(task)["service_name"]
            self.complete_row(self.open_task_by_uuid(task.task_uuid), {"service_name": name, **answers[name]})

    def open_task_by_uuid(self, uuid: str) -> HumanTask:
        row = self.session.scalar(
            select(HumanTask).where(HumanTask.task_uuid == uuid, HumanTask.status == "open")
        )
        assert row is not None
        return row

    def decide(self, decisions: dict[str, dict[str, Any]]) -> None:
        tasks = self.open_tasks("A_08_decide")
        assert {self.task_data(t)["service_name"] for t in tasks} == set(decisions)
        for task in tasks:
            name = self.task_data(task)["service_name"]
            self.complete_row(
                self.open_task_by_uuid(task.task_uuid),
                {"service_name": name, "needs_and_budget": "Бюджетте каражат бар", **decisions[name]},
            )

    def package(self) -> None:
        self.complete(
            "A_12_package",
            {
                "p1_application_or_protocol": [self.file()],
                "p2_justification_note": self.file(),
                "p3_budget_expenditure": self.file(),
                "p5_draft_council_decision": self.file(),
                "submitted_to_council": True,
            },
        )

    def council(self, decision: str = "approved", session_date: str = "2026-06-01") -> None:
        data: dict[str, Any] = {
            "session_date": session_date,
            "council_decision": decision,
            "participation_measures": "Аялдар жана карылар чакырылды",
        }
        if decision == "approved":
            data["council_decision_number"] = "12/3"
        else:
            data["return_reason"] = "Бюджеттик чыгымдар такталсын"
        self.complete("A_15_council_session", data)

    def standards(self, decision: str = "approved") -> None:
        self.complete(
            "A_16_draft",
            {
                "draft_standards": [self.file()],
                "draft_regulations": [self.file()],
                "submitted_to_council": True,
            },
        )
        data: dict[str, Any] = {"standards_session_date": "2026-07-20", "standards_decision": decision}
        if decision == "approved":
            data["standards_decision_number"] = "14/1"
        else:
            data["standards_return_reason"] = "Регламент толукталсын"
        self.complete("A_18_council_standards", data)


@pytest.fixture
def walk(kz: Kyzmat, session: Session, user: Callable[[str], User]) -> Walk:
    return Walk(kz, session, user)


MEETS = {"c1_municipal_service": True, "c2_paid_free_compliant": True, "paid": False}
INCLUDE = {"decision": "include", "paid": False}
COAL = "Жалгыз бой, аз камсыз болгон кишилерди кышкы мезгилде кошумча көмүр менен камсыз кылуу"
BUS = "Окуучуларды муниципалдык автотраспорт менен мектепке таашуу"


def free_list_to_council(walk: Walk) -> None:
    """One free service, recommended and included, notified: the case waits for the package."""
    walk.to_preliminary_list([(BUS, "free")])
    walk.expertise({BUS: {**MEETS, "e1_focus_group_protocol": walk.file()}})
    walk.complete(
        "A_07_draft_list",
        {
            "draft_list": [
                {
                    "name": BUS,
                    "standardisation_body": "Айыл өкмөтү",
                    "provider": "Айыл өкмөтү",
                    "paid_or_free": "free",
                }
            ],
            "wc_protocol": walk.file(),
        },
    )
    walk.decide({BUS: INCLUDE})
    walk.complete("A_10_notify", {"channels": ["info_boards", "markets"]})


# --------------------------------------------------------------------------- starting


@pytest.mark.parametrize("start_event", sorted(START_EVENTS))
def test_each_initiative_source_starts_a_case(walk: Walk, start_event: str) -> None:
    walk.start(start_event)
    assert walk.open_steps() == ["A_01_receive"]
    assert walk.open_task("A_01_receive").role == "ao_specialist"
    assert walk.data()["initiative_source"] == START_EVENTS[start_event]
    assert walk.instance is not None and walk.instance.reference == START_EVENTS[start_event]


def test_start_needs_one_of_the_five_sources(
    kz: Kyzmat, session: Session, user: Callable[[str], User]
) -> None:
    with pytest.raises(KyzmatError):
        cases.start_case(kz, session, user("specialist"), PROCESS)
    with pytest.raises(KyzmatError):
        cases.start_case(kz, session, user("specialist"), PROCESS, start_event="A_04_preliminary_list")
    with pytest.raises(KyzmatError):  # Process D has a single start
        cases.start_case(kz, session, user("operator"), "citizen_service", start_event="A_01_I1_kurultai")


def test_start_options_name_the_sources(kz: Kyzmat, session: Session) -> None:
    from engine.definitions.publishing import latest_version

    options = dict(cases.start_options(kz, session, latest_version(session, PROCESS)))
    assert set(options) == set(START_EVENTS)
    assert options["A_01_I4_deputies"]["ky"] == "жергиликтүү кеңештердин депутаттарынын кайрылуулары"
    assert cases.start_options(kz, session, latest_version(session, "citizen_service")) == []


# --------------------------------------------------------------------------- the expertise (DMN)


@pytest.mark.parametrize(
    ("answers", "c3_met", "recommended"),
    [
        ({**MEETS, "e1_focus_group_protocol": "x"}, True, True),
        ({**MEETS, "e2_request_protocols": "x"}, True, True),
        ({**MEETS, "e3_written_appeals": "x"}, True, True),
        ({**MEETS, "e1_focus_group_protocol": "x", "e3_written_appeals": "y"}, True, True),
        (MEETS, False, False),
        ({**MEETS, "c1_municipal_service": False, "e2_request_protocols": "x"}, True, False),
        ({**MEETS, "c2_paid_free_compliant": False, "e3_written_appeals": "x"}, True, False),
        ({**MEETS, "c1_municipal_service": False, "c2_paid_free_compliant": False}, False, False),
    ],
)
def test_expertise_decision_table(
    walk: Walk, answers: dict[str, Any], c3_met: bool, recommended: bool
) -> None:
    walk.to_preliminary_list([(COAL, "free")])
    walk.expertise({COAL: answers})
    (result,) = walk.data()["expertise_results"]
    assert (result["c3_met"], result["recommended"]) == (c3_met, recommended)
    assert result["name"] == COAL
    # Only recommended services are prefilled into the draft list (Annex 1); all go to the head.
    draft = walk.task_data(walk.open_task("A_07_draft_list"))["draft_list"]
    assert draft == ([{"name": COAL, "paid_or_free": "free"}] if recommended else [])


# --------------------------------------------------------------------------- the whole way


def test_free_list_approved_and_standardised_in_time(walk: Walk, kz: Kyzmat, session: Session) -> None:
    with time_machine.travel(datetime(2026, 5, 25, 4, 0, tzinfo=UTC), tick=False) as clock:
        free_list_to_council(walk)
        assert walk.open_steps() == ["A_12_package"]  # free: no coordination (A-G3)
        walk.package()
        walk.council(session_date="2026-06-01")
        organise = walk.open_task("A_16_organise")
        # 1 Jun + 30 days = Wed 1 Jul 2026, end of the day in Bishkek.
        assert organise.due_at == datetime(2026, 7, 1, 17, 59, 59, tzinfo=UTC)
        clock.move_to(datetime(2026, 6, 20, 4, 0, tzinfo=UTC))
        assert cases.fire_due_timers(kz, session) == 0
        walk.complete("A_16_organise", {"responsible_persons": "Адис А.", "work_started_on": "2026-06-20"})
        walk.standards()
    assert walk.end_event() == "A_18_end_approved"
    assert "standardisation_overdue" not in walk.data()
    statuses = set(session.scalars(select(Timer.status).where(Timer.instance_id == walk.instance.id)))
    assert statuses == {"cancelled"}


def test_paid_service_coordinated_with_three_bodies(walk: Walk) -> None:
    with time_machine.travel(datetime(2026, 5, 25, 4, 0, tzinfo=UTC), tick=False):
        walk.to_preliminary_list([(BUS, "paid")])
        assert walk.task_data(walk.open_task("A_06_assess"))["paid"] is True
        walk.expertise({BUS: {**MEETS, "paid": True, "e2_request_protocols": walk.file()}})
        walk.complete("A_07_draft_list", {"wc_protocol": walk.file()})
        walk.decide({BUS: {"decision": "include", "paid": True}})
        walk.complete("A_10_notify", {"channels": ["mass_media", "website"]})
        assert walk.open_steps() == ["A_11_K1_zhobemma", "A_11_K2_vak", "A_11_K3_antimonopoly"]
        assert {walk.open_task(s).role for s in walk.open_steps()} == {"coordination_body"}
        walk.complete("A_11_K2_vak", {"vak_conclusion": "positive", "vak_conclusion_file": walk.file()})
        walk.complete(
            "A_11_K1_zhobemma", {"zhobemma_conclusion": "positive", "zhobemma_conclusion_file": walk.file()}
        )
        assert walk.open_steps() == ["A_11_K3_antimonopoly"]  # the join waits for all three
        walk.complete(
            "A_11_K3_antimonopoly",
            {
                "antimonopoly_conclusion": "positive",
                "antimonopoly_conclusion_file": walk.file(),
                "price_calculation_agreed": True,
            },
        )
        assert walk.open_steps() == ["A_12_package"]
        assert walk.data()["paid_services"] == [BUS]
        walk.package()
        walk.council()
        walk.complete("A_16_organise", {"responsible_persons": "Адис А.", "work_started_on": "2026-06-10"})
        walk.standards()
    assert walk.end_event() == "A_18_end_approved"


@pytest.mark.parametrize("negative", ["zhobemma", "vak", "antimonopoly"])
def test_negative_conclusion_returns_the_service_to_the_aiyl_okmotu(walk: Walk, negative: str) -> None:
    with time_machine.travel(datetime(2026, 5, 25, 4, 0, tzinfo=UTC), tick=False):
        walk.to_preliminary_list([(BUS, "paid")])
        walk.expertise({BUS: {**MEETS, "paid": True, "e3_written_appeals": walk.file()}})
        walk.complete("A_07_draft_list", {"wc_protocol": walk.file()})
        walk.decide({BUS: {"decision": "include", "paid": True}})
        walk.complete("A_10_notify", {"channels": ["info_boards"]})
        steps = {"zhobemma": "A_11_K1_zhobemma", "vak": "A_11_K2_vak", "antimonopoly": "A_11_K3_antimonopoly"}
        for body, step in steps.items():
            data: dict[str, Any] = {
                f"{body}_conclusion": "negative" if body == negative else "positive",
                f"{body}_conclusion_file": walk.file(),
            }
            if body == negative:
                data[f"{body}_reason"] = "Баасы негизделген эмес"
            if body == "antimonopoly":
                data["price_calculation_agreed"] = body != negative
            walk.complete(step, data)
        # Back to A-08: the head decides again; this time the service is made free.
        assert walk.open_steps() == ["A_08_decide"]
        walk.decide({BUS: {"decision": "include", "paid": False}})
        walk.complete("A_10_notify", {"channels": ["info_boards"]})
        assert walk.data()["paid_services"] == []
        assert walk.open_steps() == ["A_12_package"]


def test_refused_services_get_a_justified_refusal_and_the_rest_go_on(walk: Walk) -> None:
    with time_machine.travel(datetime(2026, 5, 25, 4, 0, tzinfo=UTC), tick=False):
        walk.to_preliminary_list([(BUS, "free"), (COAL, "free")])
        walk.expertise(
            {
                BUS: {**MEETS, "e1_focus_group_protocol": walk.file()},
                COAL: {**MEETS, "c1_municipal_service": False},
            }
        )
        walk.complete("A_07_draft_list", {"wc_protocol": walk.file()})
        refusal = {"decision": "refuse", "paid": False, "refusal_reason": "Жергиликтүү бюджетте каражат жок"}
        for task in walk.open_tasks("A_08_decide"):
            name = walk.task_data(task)["service_name"]
            answer = {"service_name": name, "needs_and_budget": "—", **(INCLUDE if name == BUS else refusal)}
            if name == COAL:  # a refusal without its reason is sent back to the form
                with pytest.raises(InvalidData) as err:
                    walk.complete_row(task, {**answer, "refusal_reason": ""})
                assert "refusal_reason" in err.value.errors
            walk.complete_row(walk.open_task_by_uuid(task.task_uuid), answer)
        notice = walk.open_task("A_09_refusal_notice")
        prefilled = walk.task_data(notice)
        assert (prefilled["service_name"], prefilled["refusal_reason"]) == (COAL, refusal["refusal_reason"])
        assert prefilled["initiator"] == "Кара-Булак айылынын чогулушу"
        walk.complete(
            "A_09_refusal_notice",
            {
                "service_name": COAL,
                "initiator": prefilled["initiator"],
                "refusal_reason": refusal["refusal_reason"],
                "sent_on": "2026-05-26",
            },
        )
        assert walk.open_steps() == ["A_10_notify"]
        data = walk.data()
        assert [s["name"] for s in data["included"]] == [BUS]
        assert data["refusal_notices"] == [
            {
                "service": COAL,
                "initiator": "Кара-Булак айылынын чогулушу",
                "reason": refusal["refusal_reason"],
                "sent_on": "2026-05-26",
                "letter": None,
            }
        ]


def test_every_service_refused_ends_the_case(walk: Walk) -> None:
    with time_machine.travel(datetime(2026, 5, 25, 4, 0, tzinfo=UTC), tick=False):
        walk.to_preliminary_list([(COAL, "free")])
        walk.expertise({COAL: MEETS})
        walk.complete("A_07_draft_list", {"wc_protocol": walk.file()})
        walk.decide({COAL: {"decision": "refuse", "paid": False, "refusal_reason": "C3 тастыкталган жок"}})
        walk.complete(
            "A_09_refusal_notice",
            {
                "service_name": COAL,
                "initiator": "Кара-Булак айылынын чогулушу",
                "refusal_reason": "C3 тастыкталган жок",
                "sent_on": "2026-05-27",
            },
        )
    assert walk.end_event() == "A_09_end_all_refused"


def test_council_returns_the_list_to_the_aiyl_okmotu(walk: Walk) -> None:
    with time_machine.travel(datetime(2026, 5, 25, 4, 0, tzinfo=UTC), tick=False):
        free_list_to_council(walk)
        walk.package()
        walk.council("returned")
        assert walk.open_steps() == ["A_08_decide"]
        walk.decide({BUS: INCLUDE})
        walk.complete("A_10_notify", {"channels": ["info_boards"]})
        walk.package()
        walk.council("approved", session_date="2026-06-15")
        assert walk.open_task("A_16_organise").due_at == datetime(2026, 7, 15, 17, 59, 59, tzinfo=UTC)


def test_council_returns_the_standards_for_revision(walk: Walk) -> None:
    with time_machine.travel(datetime(2026, 5, 25, 4, 0, tzinfo=UTC), tick=False):
        free_list_to_council(walk)
        walk.package()
        walk.council()
        walk.complete("A_16_organise", {"responsible_persons": "Адис А.", "work_started_on": "2026-06-02"})
        walk.standards("returned")
        assert walk.open_steps() == ["A_16_draft"]
        walk.standards("approved")
    assert walk.end_event() == "A_18_end_approved"


# --------------------------------------------------------------------------- the 30-day timer


def test_thirty_day_timer_across_the_new_year_fires_once(walk: Walk, kz: Kyzmat, session: Session) -> None:
    """Approved at the session of Thu 3 Dec 2026: +30 days is Sat 2 Jan 2027, inside the New Year
    holidays, so the work must start by Fri 8 Jan 2027."""
    with time_machine.travel(datetime(2026, 11, 20, 4, 0, tzinfo=UTC), tick=False) as clock:
        free_list_to_council(walk)
        walk.package()
        walk.council(session_date="2026-12-03")
        assert walk.open_task("A_16_organise").due_at == datetime(2027, 1, 8, 17, 59, 59, tzinfo=UTC)
        clock.move_to(datetime(2027, 1, 8, 17, 59, 0, tzinfo=UTC))  # Fri 23:59 in Bishkek: in time
        assert cases.fire_due_timers(kz, session) == 0
        clock.move_to(datetime(2027, 1, 8, 18, 0, 5, tzinfo=UTC))  # Sat 00:00:05: late
        assert cases.fire_due_timers(kz, session) == 1
        assert cases.fire_due_timers(kz, session) == 0
        session.flush()
        assert walk.data()["standardisation_overdue"] is True
        fired = session.scalars(
            select(AuditEvent).where(
                AuditEvent.instance_id == walk.instance.id, AuditEvent.action == "timer_fired"
            )
        ).all()
        assert [e.step_id for e in fired] == ["A_16_organise_due"]
        walk.check_round_trip()
        # Non-interrupting: the step stays open and the case goes on.
        walk.complete("A_16_organise", {"responsible_persons": "Адис А.", "work_started_on": "2027-01-11"})
        walk.standards()
    assert walk.end_event() == "A_18_end_approved"


def test_thirty_day_timer_across_the_may_holidays(walk: Walk) -> None:
    """Approved on Wed 1 Apr 2026: +30 days is Fri 1 May, a holiday, and 1-10 May are off; due Mon 11 May."""
    with time_machine.travel(datetime(2026, 3, 20, 4, 0, tzinfo=UTC), tick=False):
        free_list_to_council(walk)
        walk.package()
        walk.council(session_date="2026-04-01")
        assert walk.open_task("A_16_organise").due_at == datetime(2026, 5, 11, 17, 59, 59, tzinfo=UTC)


# --------------------------------------------------------------------------- amendment


def test_amendment_is_the_same_process_with_its_type(walk: Walk) -> None:
    with time_machine.travel(datetime(2026, 5, 25, 4, 0, tzinfo=UTC), tick=False):
        walk.start("A_01_I4_deputies")
        receive = {
            "type": "amendment",
            "initiator": "Депутат Б. Асанов",
            "document_kind": "session_protocol",
            "documents": [walk.file()],
            "proposed_services": "Жаштар кошундарын түзүү",
        }
        with pytest.raises(InvalidData) as err:  # the list being amended is required for an amendment
            walk.complete("A_01_receive", receive)
        assert "amended_list" in err.value.errors
        walk.complete("A_01_receive", {**receive, "amended_list": "Айылдык кеңештин 2025-жылдагы 5/2 чечими"})
        walk.complete(
            "A_03_focus_groups",
            {
                "participant_groups": ["youth", "disabilities"],
                "focus_group_results": "Колдоо көрсөтүлдү",
                "focus_group_protocol": walk.file(),
            },
        )
        walk.complete("A_04_preliminary_list", {"preliminary_list": [{"name": COAL, "paid_or_free": "free"}]})
        walk.expertise({COAL: {**MEETS, "e1_focus_group_protocol": walk.file()}})
        walk.complete("A_07_draft_list", {"wc_protocol": walk.file()})
        walk.decide({COAL: INCLUDE})
        walk.complete("A_10_notify", {"channels": ["info_boards"]})
        walk.package()
        walk.council()
        walk.complete("A_16_organise", {"responsible_persons": "Адис А.", "work_started_on": "2026-06-05"})
        walk.standards()
        data = walk.data()
    assert walk.end_event() == "A_18_end_approved"
    assert (data["type"], data["initiative_source"]) == ("amendment", "I-4")
