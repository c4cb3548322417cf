"""The runtime with every feature plugged in: the one `create_kyzmat` that apps, the CLI and tests call.

Features above the runtime (monitoring's step hooks) register here, so that the runtime never imports them.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from engine.monitoring.hooks import ON_OPEN as MONITORING_HOOKS
from engine.platform.clock import Clock
from engine.platform.config import Settings
from engine.runtime.context import Kyzmat, make_kyzmat


def create_kyzmat(
    settings: Settings | None = None, clock: Clock | None = None, engine: Engine | None = None
) -> Kyzmat:
    """Build the runtime for this process: settings, clock, database and the features' hooks."""
    kz = make_kyzmat(settings, clock, engine)
    kz.step_hooks.update(MONITORING_HOOKS)
    return kz
