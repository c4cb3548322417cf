"""Moving a running workflow onto another spec (SpiffWorkflow's ``diff_workflow`` / ``migrate_workflow``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn.util.diff import diff_workflow, migrate_workflow

from .workflow import _STATE, BpmnWorkflow, SpecBundle


@dataclass
class MigrationPlan:
    """What moving a workflow onto a new spec would do; steps are matched by their BPMN id."""

    removed: list[str]  # steps of the workflow that the new spec lacks
    subprocess_changed: bool  # a sub-process spec changed or disappeared (not supported)
    added: list[str]  # steps the new spec adds
    _diff: Any


def plan_migration(wf: BpmnWorkflow, old: SpecBundle, new: SpecBundle) -> MigrationPlan:
    top, subs = diff_workflow(_STATE.registry, wf, new.spec, new.subprocess_specs)
    removed = sorted(
        {
            t.task_spec.bpmn_id or t.task_spec.name
            for t in top.removed
            if getattr(t.task_spec, "bpmn_id", None)
        }
    )
    added = sorted(
        s.bpmn_id
        for s in new.spec.task_specs.values()
        if getattr(s, "bpmn_id", None) and s.name not in old.spec.task_specs
    )
    changed = any(d is None or d.removed or d.changed for d in subs.values())
    return MigrationPlan(removed=removed, subprocess_changed=changed, added=added, _diff=top)


def apply_migration(plan: MigrationPlan, wf: BpmnWorkflow, new: SpecBundle) -> None:
    """Move the workflow onto the new spec as planned (the caller advances and saves it)."""
    migrate_workflow(plan._diff, wf, new.spec)
    wf.subprocess_specs = new.subprocess_specs
