"""Work the engine does when certain steps open (a registry filled by `engine.bootstrap`).

A hook runs inside the engine's save (cases._save) in the same transaction: a failure rolls the step back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.platform.models import HumanTask, ProcessInstance

if TYPE_CHECKING:
    from engine.runtime.context import Kyzmat

Hook = Callable[["Kyzmat", Session, ProcessInstance, HumanTask], None]


def run_on_open(kz: Kyzmat, session: Session, instance: ProcessInstance, new: list[tuple[str, str]]) -> None:
    """Run the hooks of the steps that just opened: `new` is their (task uuid, step id)."""
    hooks = kz.step_hooks
    uuids = [uuid for uuid, step in new if (instance.process_id, step) in hooks]
    if not uuids:
        return
    for task in session.scalars(
        select(HumanTask).where(HumanTask.task_uuid.in_(uuids)).order_by(HumanTask.id)
    ):
        hooks[(instance.process_id, task.step_id)](kz, session, instance, task)
