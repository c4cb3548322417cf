"""The dry run of a draft: start it in memory and walk its default path with sample data.

Nothing is written to the database. Every script, condition and timer on the path runs in the
same sandbox as in production, with the calendar helpers and a fixed start time; service-task
operators are replaced by samples of what they return. A step that fails is reported with its
element id, so the editor can highlight it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.bpmn import workflow as wfapi
from engine.bpmn.loader import LoadedDiagram, Problem
from engine.calendar.days import BISHKEK
from engine.calendar.days import sandbox_helpers as calendar_helpers
from engine.catalogue.services import sandbox_helpers as catalogue_helpers
from engine.forms import schema as formlib

MAX_STEPS = 200


def _sample_journal(start_at: datetime) -> Callable[..., Any]:
    def register_in_journal(_ctx: Any, _data: dict[str, Any], _params: dict[str, Any]) -> dict[str, Any]:
        local = start_at.astimezone(BISHKEK)
        return {
            "number": f"XX-{local.year}-00001",
            "sequence": 1,
            "registered_at": local.isoformat(timespec="seconds"),
            "registered_on": local.date().isoformat(),
        }

    return register_in_journal


def sample_operators(start_at: datetime) -> dict[str, Callable[..., Any]]:
    """What each operator of engine/operators.py returns, without touching the database."""
    from engine.runtime.operators import OPERATORS

    samples: dict[str, Callable[..., Any]] = {name: (lambda _c, _d, _p: {}) for name in OPERATORS}
    samples["register_in_journal"] = _sample_journal(start_at)
    return samples


# --- sample data from a form's schema ----------------------------------------------------------------


def _sample_value(node: Mapping[str, Any], start_at: datetime) -> Any:
    for key in ("default", "const"):
        if key in node:
            return node[key]
    if isinstance(node.get("examples"), list) and node["examples"]:
        return node["examples"][0]
    if isinstance(node.get("enum"), list):
        return node["enum"][0] if node["enum"] else None
    kind = node.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "boolean":
        return True
    if kind in ("integer", "number"):
        low = node.get("minimum", node.get("exclusiveMinimum", 0))
        value = max(1, int(low) + (1 if "exclusiveMinimum" in node else 0))
        return value if kind == "integer" else float(value)
    if kind == "string":
        if node.get("x-widget") == "file":
            return "dry-run-sample-file"  # an attachment token, as the task page puts in the data
        if node.get("format") == "date":
            return start_at.astimezone(BISHKEK).date().isoformat()
        if node.get("format") == "date-time":
            return start_at.isoformat()
        text = "Үлгү"
        low = int(node.get("minLength", 0) or 0)
        if low > len(text):
            text = text + "ү" * (low - len(text))
        high = node.get("maxLength")
        return text[: int(high)] if isinstance(high, int) and high > 0 else text
    if kind == "array":
        items = node.get("items") if isinstance(node.get("items"), Mapping) else {}
        if isinstance(items.get("enum"), list):
            return list(items["enum"])
        if items.get("type") == "object" or "properties" in items:
            count = max(1, int(node.get("minItems", 1) or 1))
            return [sample_data(items, start_at) for _ in range(count)]
        count = int(node.get("minItems", 0) or 0)
        return [_sample_value(items, start_at) for _ in range(count)]
    if kind == "object" or "properties" in node:
        return sample_data(node, start_at)
    return None


def sample_data(
    schema: Mapping[str, Any], start_at: datetime, context: Mapping[str, Any] | None = None
) -> dict:
    """A value for every field: defaults and examples first, else the first choice, yes, 1, text."""
    if context is not None:
        schema = formlib.resolve_enum_from(dict(schema), context)
    out: dict[str, Any] = {}
    for name, node in (schema.get("properties") or {}).items():
        if isinstance(node, Mapping):
            value = _sample_value(node, start_at)
            if value is not None:
                out[name] = value
    return out


# --- the walk ----------------------------------------------------------------------------------------


@dataclass
class DryRunResult:
    problems: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)  # not blocking: what the owner should know
    walked: list[str] = field(default_factory=list)  # user tasks completed, in order
    timers: dict[str, str] = field(default_factory=dict)  # timer element id -> due (ISO) when first met
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)  # element id -> task data there
    end: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def script_engine(kz: Any, start_at: datetime) -> wfapi.KyzmatScriptEngine:
    """The production sandbox and helpers, with the clock fixed at `start_at` and sample operators."""
    helpers: dict[str, Any] = {}
    helpers.update(calendar_helpers(kz.calendar(), lambda: start_at))
    helpers.update(catalogue_helpers(kz.catalogue))
    return wfapi.KyzmatScriptEngine(helpers, sample_operators(start_at))


def dry_run(
    kz: Any,
    loaded: LoadedDiagram,
    forms: Mapping[str, dict],
    *,
    start_at: datetime,
    max_steps: int = MAX_STEPS,
) -> DryRunResult:
    """Start the diagram in memory and walk its default path; report the first step that fails."""
    result = DryRunResult()
    filename = loaded.info.file
    elements = loaded.info.elements
    engine = script_engine(kz, start_at)
    data = {"case_id": 0, "municipality_code": "sample", "started_by": "dry-run"}
    current: str | None = next((e.id for e in elements.values() if e.kind == "startEvent"), None)

    def fail(err: Exception, element_id: str | None) -> DryRunResult:
        element_id = getattr(err, "element_id", None) or wfapi.failing_element(err) or element_id
        line = elements[element_id].line if element_id in elements else None
        result.problems.append(Problem(filename, f"dry run: {err}", element_id, line))
        return result

    try:
        bundle = wfapi.SpecBundle(loaded.spec, loaded.subprocess_specs)
        options = wfapi.start_options(bundle)
        if options:  # several ways to start (Process A): walk the first, as start_case would be told
            data["start_event"] = current = options[0]
        wf = wfapi.new_workflow(bundle, engine, data)
        wfapi.advance(wf)
    except Exception as err:  # noqa: BLE001 - any failure is the draft's problem
        return fail(err, current)
    for _ in range(max_steps):
        _note_timers(wf, result)
        ready = wfapi.ready_user_tasks(wf)
        if not ready:
            if wfapi.is_completed(wf):
                result.end = wfapi.reached_end_event(wf)
                return result
            if not wfapi.pass_intermediate_timers(wf):
                result.notes.append(
                    Problem(
                        filename,
                        "dry run: the walk stopped here waiting for an event it cannot simulate",
                        current,
                        elements[current].line if current in elements else None,
                    )
                )
                return result
            try:
                wfapi.advance(wf)
            except Exception as err:  # noqa: BLE001
                return fail(err, current)
            continue
        task = ready[0]
        current = task.step_id
        element = elements.get(task.step_id)
        result.snapshots[task.step_id] = dict(task.data)
        schema = forms.get(element.form or "", {}) if element is not None else {}
        sample = sample_data(schema, start_at, task.data)
        clean, errors = formlib.validate(schema, sample, "en", task.data) if schema else (sample, {})
        if errors:
            result.notes.append(
                Problem(
                    filename,
                    "dry run: the sample data does not fill the form "
                    f"{element.form if element else ''}: "
                    + "; ".join(f"{k}: {v}" for k, v in errors.items()),
                    task.step_id,
                    element.line if element else None,
                )
            )
            clean = sample
        try:
            wfapi.complete_user_task(wf, task.uuid, clean)
        except Exception as err:  # noqa: BLE001
            return fail(err, task.step_id)
        result.walked.append(task.step_id)
    result.problems.append(
        Problem(
            filename,
            f"dry run: the default path did not reach an end within {max_steps} steps (a loop?)",
            current,
        )
    )
    return result


def _note_timers(wf: Any, result: DryRunResult) -> None:
    """Record every timer the walk has computed (waiting, or already passed for a past start date)."""
    for element_id, due, data in wfapi.computed_timers(wf):
        if element_id not in result.timers:
            result.timers[element_id] = due.astimezone(BISHKEK).isoformat()
            result.snapshots.setdefault(element_id, dict(data))
