"""The same check of every save as tests/test_state_cache.py, on Process A's paths: its services
run as sub-workflows (one per service), whose tasks a save converts with the same reuse of
finished tasks' dicts. Cached and uncached states must be equal byte for byte; a restored
workflow's state is compared as JSON values (SpiffWorkflow restores a sub-workflow's data with
another key order, see Process A's Walk)."""

from __future__ import annotations

from typing import Any

import pytest

from engine.bpmn import workflow as wfapi
from tests.test_process_a_scenarios import (  # noqa: F401  (the fixture and the paths, re-run below)
    Walk,
    test_council_returns_the_list_to_the_aiyl_okmotu,
    test_free_list_approved_and_standardised_in_time,
    test_negative_conclusion_returns_the_service_to_the_aiyl_okmotu,
    test_paid_service_coordinated_with_three_bodies,
    test_refused_services_get_a_justified_refusal_and_the_rest_go_on,
    walk,
)
from tests.test_state_cache import checked


@pytest.fixture(autouse=True)
def checked_saves(monkeypatch: pytest.MonkeyPatch, kz: Any) -> Any:
    seen = {"saves": 0, "reused": 0, "subworkflow_tasks_reused": 0}
    check = checked(kz, wfapi.serialize, seen, same_key_order=False)

    def serialize(wf: Any) -> str:
        seen["subworkflow_tasks_reused"] += sum(
            wfapi.converted_tasks_cached(sub) for sub in wf.subprocesses.values()
        )
        return check(wf)

    monkeypatch.setattr(wfapi, "serialize", serialize)
    yield seen
    assert seen["saves"] > 0 and seen["reused"] > 0
    assert seen["subworkflow_tasks_reused"] > 0  # the sub-workflows' finished tasks were reused, and checked
