"""The runtime context: settings, clock, database, caches. One per process, built by `create_kyzmat`."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from engine.bpmn import workflow as wfapi
from engine.calendar.days import WorkingCalendar, sandbox_helpers
from engine.catalogue.services import DEFAULT_CATALOGUE_PATH, Catalogue, load_catalogue
from engine.catalogue.services import sandbox_helpers as catalogue_helpers
from engine.platform.clock import Clock, SystemClock
from engine.platform.config import Settings
from engine.platform.db import make_engine, make_sessionmaker, readonly_sessionmaker
from engine.platform.models import CalendarException, ProcessVersion
from engine.runtime.step_hooks import Hook


@dataclass
class LoadedVersion:
    """A published version ready to run: its spec objects and the facts the runtime needs."""

    id: int
    process_id: str
    number: int
    bundle: wfapi.SpecBundle
    info: dict[str, Any]
    forms: dict[str, Any]
    names: dict[str, Any]


class _LiveCalendar:
    """Stands in for the calendar in sandbox helpers, always reading the current exceptions."""

    def __init__(self, kz: Kyzmat) -> None:
        self._kz = kz

    def __getattr__(self, name: str) -> Any:
        return getattr(self._kz.calendar(), name)


@dataclass
class Kyzmat:
    settings: Settings
    clock: Clock
    db: Engine
    sessions: sessionmaker[Session]
    catalogue: Catalogue
    read_sessions: sessionmaker[Session]
    calendar_ttl_s: float = 30.0
    _calendar: WorkingCalendar | None = None
    _calendar_loaded_at: float = 0.0
    _versions: dict[int, LoadedVersion] = field(default_factory=dict)
    _workflows: OrderedDict[int, tuple[str, Any]] = field(default_factory=OrderedDict)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _script_engine: wfapi.KyzmatScriptEngine | None = None
    # What the engine does when certain steps open, {(process id, step id): hook}; see engine.bootstrap.
    step_hooks: dict[tuple[str, str], Hook] = field(default_factory=dict)

    @property
    def hooked_steps(self) -> frozenset[str]:
        return frozenset(step for _, step in self.step_hooks)

    # --- calendar -------------------------------------------------------------------------------
    def calendar(self) -> WorkingCalendar:
        """The working-day calendar with the administrator's exceptions (cached briefly)."""
        with self._lock:
            if self._calendar is None or time.monotonic() - self._calendar_loaded_at > self.calendar_ttl_s:
                with self.read_sessions() as session:
                    self._calendar = WorkingCalendar(load_calendar_exceptions(session))
                self._calendar_loaded_at = time.monotonic()
            return self._calendar

    def calendar_changed(self) -> None:
        with self._lock:
            self._calendar = None

    # --- scripts --------------------------------------------------------------------------------
    def script_engine(self) -> wfapi.KyzmatScriptEngine:
        if self._script_engine is None:
            from engine.runtime.operators import OPERATORS

            helpers: dict[str, Any] = {}
            helpers.update(sandbox_helpers(_LiveCalendar(self), self.clock.now))  # type: ignore[arg-type]
            helpers.update(catalogue_helpers(self.catalogue))
            self._script_engine = wfapi.KyzmatScriptEngine(helpers, OPERATORS)
        return self._script_engine

    # --- versions -------------------------------------------------------------------------------
    def version(self, session: Session, version_id: int) -> LoadedVersion:
        loaded = self._versions.get(version_id)
        if loaded is None:
            row = session.get(ProcessVersion, version_id)
            if row is None:
                raise KeyError(version_id)
            loaded = LoadedVersion(
                id=row.id,
                process_id=row.process_id,
                number=row.number,
                bundle=wfapi.spec_from_json(row.spec_json),
                info=row.info,
                forms=row.forms,
                names=row.names,
            )
            with self._lock:
                self._versions[version_id] = loaded
        return loaded

    # --- live workflows between requests ----------------------------------------------------------
    def take_workflow(self, instance_id: int, revision: str) -> Any | None:
        """A cached live workflow if it is exactly the committed revision; removed while in use."""
        with self._lock:
            cached = self._workflows.pop(instance_id, None)
        if cached is not None and cached[0] == revision:
            return cached[1]
        return None

    def keep_workflow(self, instance_id: int, revision: str, wf: Any, limit: int = 256) -> None:
        with self._lock:
            self._workflows[instance_id] = (revision, wf)
            self._workflows.move_to_end(instance_id)
            while len(self._workflows) > limit:
                self._workflows.popitem(last=False)


def load_calendar_exceptions(session: Session) -> dict[date, bool]:
    return {row.day: row.working for row in session.scalars(select(CalendarException))}


def make_kyzmat(
    settings: Settings | None = None, clock: Clock | None = None, engine: Engine | None = None
) -> Kyzmat:
    settings = settings or Settings.from_env()
    if engine is None:
        if settings.database_url.startswith("sqlite:///"):
            settings.var_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.database_url)
    return Kyzmat(
        settings=settings,
        clock=clock or SystemClock(),
        db=engine,
        sessions=make_sessionmaker(engine),
        read_sessions=readonly_sessionmaker(engine),
        catalogue=load_catalogue(settings.processes_dir / "services.json")
        if (settings.processes_dir / "services.json").exists()
        else load_catalogue(DEFAULT_CATALOGUE_PATH),
    )
