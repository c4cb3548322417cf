"""Process D's happy path: the persisted engine (one SQLite transaction per step) against the same
diagram run by SpiffWorkflow alone in memory. Prints one JSON line; medians of interleaved rounds."""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import bindparam, select  # noqa: E402
from sqlalchemy.orm import joinedload  # noqa: E402

from engine.accounts import users as accounts
from engine.bootstrap import create_kyzmat
from engine.bpmn import workflow as wfapi
from engine.calendar.days import BISHKEK
from engine.definitions import publishing as processes
from engine.demo import data as demo
from engine.platform import schema
from engine.platform.config import REPO_ROOT, Settings
from engine.platform.db import make_engine, transaction
from engine.platform.models import HumanTask, ProcessInstance, User
from engine.runtime import cases

RECEPTION = {
    "applicant_name": "Асель Бекова",
    "village": "Кара-Булак",
    "remote_village": False,
    "is_representative": False,
    "appeal_form": "written",
    "service_code": "M2",
}
STEPS: list[tuple[str, str, dict[str, Any]]] = [
    ("operator", "D_02_reception", RECEPTION),
    ("operator", "D_03_advise", {"documents_help_given": True}),
    (
        "operator",
        "D_06_check_documents",
        {"documents_received": ["application", "id_document", "house_book"], "documents_complete": True},
    ),
    ("operator", "D_09_issue_receipt", {"receipt_handed_over": True}),
    ("operator", "D_10_forward", {"forwarded_to": "Айыл өкмөтү"}),
    (
        "specialist",
        "D_11_prepare_municipal",
        {"outcome": "document", "document_number": "1", "result_transferred_to_csc": True},
    ),
    # handed_over_on: today in Bishkek, filled in at the step (not before the registration date).
    (
        "operator",
        "D_13_hand_over",
        {"outcome": "document", "result_handed_over": True, "evaluation_sheet_offered": True},
    ),
]


def step_data(step_id: str, data: dict[str, Any]) -> dict[str, Any]:
    if step_id == "D_13_hand_over":
        return {**data, "handed_over_on": datetime.now(BISHKEK).date().isoformat()}
    return data


USER_IDS: dict[str, int] = {}


def setup(tmp: Path) -> Any:
    url = f"sqlite:///{tmp / 'bench.sqlite3'}"
    engine = make_engine(url)
    schema.upgrade(engine)
    settings = Settings.from_env(
        {},
        database_url=url,
        var_dir=tmp,
        processes_dir=REPO_ROOT / "processes",
        forms_dir=REPO_ROOT / "forms",
        secret_key="bench",
        scheduler=False,
    )
    kz = create_kyzmat(settings, engine=engine)
    with transaction(kz.sessions) as s:
        processes.load_directory(s, settings.processes_dir, settings.forms_dir, kz.clock.now())
        demo.load(s, kz.clock.now())
    with kz.sessions() as s:
        USER_IDS.update({u.username: u.id for u in s.scalars(select(User))})
    return kz


# The open step with its case, as the web app's step page reads it before completing it
# (complete_task then finds both in the session).
OPEN_STEP = (
    select(HumanTask)
    .options(joinedload(HumanTask.instance).lazyload(ProcessInstance.municipality))
    .where(
        HumanTask.instance_id == bindparam("instance_id"),
        HumanTask.step_id == bindparam("step_id"),
        HumanTask.status == "open",
    )
)


def persisted_instance(kz: Any) -> None:
    """One case, each step its own transaction, the user loaded by id per request as the web app does."""
    with transaction(kz.sessions) as s:
        operator = accounts.load_user(s, USER_IDS["operator"])
        instance_id = cases.start_case(kz, s, operator, "citizen_service").id
    for username, step_id, data in STEPS:
        with transaction(kz.sessions) as s:
            actor = accounts.load_user(s, USER_IDS[username])
            task = s.execute(OPEN_STEP, {"instance_id": instance_id, "step_id": step_id}).scalar_one()
            cases.complete_task(kz, s, actor, task.id, step_data(step_id, data))


def in_memory_instance(bundle: Any, script_engine: Any) -> None:
    """The same diagram and sandbox, SpiffWorkflow alone: no database, no serialization."""
    wf = wfapi.new_workflow(bundle, script_engine, {"municipality_code": "sadyrbaev"})
    wfapi.advance(wf)
    for _username, step_id, data in STEPS:
        task = next(t for t in wfapi.ready_user_tasks(wf) if t.step_id == step_id)
        wfapi.complete_user_task(wf, task.uuid, step_data(step_id, data))
    assert wfapi.is_completed(wf)


def main(rounds: int = 15, per_round: int = 20, block: int = 5) -> None:
    """Each round runs `per_round` instances of each kind in alternating blocks of `block`
    (which kind goes first alternates by round), so both sides sample the same spells of a shared
    machine's speed; a round's ratio is its two rates' ratio; the figures are medians of rounds."""
    with tempfile.TemporaryDirectory() as tmp:
        kz = setup(Path(tmp))
        with kz.sessions() as s:
            version = kz.version(s, processes.latest_version(s, "citizen_service").id)
        counter = iter(range(1, 10**9))

        def register(_ctx: Any, _data: Any, _params: Any) -> dict[str, Any]:
            n = next(counter)
            return {
                "number": f"DS-2026-{n:05d}",
                "sequence": n,
                "registered_at": "2026-11-18T10:00:00+06:00",
                "registered_on": "2026-11-18",
            }

        memory_engine = wfapi.KyzmatScriptEngine(
            kz.script_engine().environment.helpers,  # type: ignore[attr-defined]
            {"register_in_journal": register},
        )
        runs = {
            "memory": lambda: in_memory_instance(version.bundle, memory_engine),
            "persisted": lambda: persisted_instance(kz),
        }
        for _ in range(3):  # warm up caches and the sandbox's compiled code
            for run in runs.values():
                run()
        mem, db, cpu_ratios = [], [], []
        for n in range(rounds):
            wall = {"memory": 0.0, "persisted": 0.0}
            cpu = {"memory": 0.0, "persisted": 0.0}
            order = ["memory", "persisted"] if n % 2 == 0 else ["persisted", "memory"]
            for _ in range(per_round // block):
                for kind in order:
                    t0, c0 = time.perf_counter(), time.process_time()
                    for _ in range(block):
                        runs[kind]()
                    wall[kind] += time.perf_counter() - t0
                    cpu[kind] += time.process_time() - c0
            mem.append(per_round / wall["memory"])
            db.append(per_round / wall["persisted"])
            cpu_ratios.append(cpu["memory"] / cpu["persisted"])
    in_memory, persisted = statistics.median(mem), statistics.median(db)
    print(
        json.dumps(
            {
                "benchmark": "engine",
                "process": "citizen_service",
                "steps_per_instance": len(STEPS) + 1,
                "rounds": rounds,
                "instances_per_round": per_round,
                "block": block,
                "in_memory_per_s": round(in_memory, 1),
                "persisted_per_s": round(persisted, 1),
                "ratio": round(persisted / in_memory, 3),
                "ratio_per_round": [round(d / m, 3) for d, m in zip(db, mem, strict=True)],
                # The same ratio from this process's CPU time: what the engine costs, without the time the
                # other processes of a shared machine take from it (the wall-clock ratio is the target).
                "ratio_cpu": round(statistics.median(cpu_ratios), 3),
            }
        )
    )


if __name__ == "__main__":
    main()
