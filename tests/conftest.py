"""Fixtures: a real database per backend (SQLite always, PostgreSQL when KYZMAT_TEST_POSTGRES_URL is set),
the shipped processes published once, and each test inside a transaction that is rolled back."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from engine.bootstrap import create_kyzmat
from engine.definitions import publishing as processes
from engine.demo import data as demo
from engine.platform import schema
from engine.platform.config import REPO_ROOT, Settings
from engine.platform.db import make_engine, transaction
from engine.platform.models import User
from engine.runtime.context import Kyzmat

# The reception form of Process D (D_02) as typed data, for tests that walk a citizen's request.
RECEPTION = {
    "applicant_name": "Асель Бекова",
    "village": "Кара-Булак",
    "remote_village": False,
    "is_representative": False,
    "appeal_form": "written",
    "service_code": "M2",
}

POSTGRES_URL = os.environ.get("KYZMAT_TEST_POSTGRES_URL")
BACKENDS = ["sqlite"] + (["postgres"] if POSTGRES_URL else [])


def make_settings(var_dir: Path, url: str, **overrides: Any) -> Settings:
    return Settings.from_env(
        {},
        database_url=url,
        var_dir=var_dir,
        processes_dir=REPO_ROOT / "processes",
        forms_dir=REPO_ROOT / "forms",
        secret_key="test-secret",
        attachments_dir=var_dir / "attachments",
        scheduler=False,
        **overrides,
    )


def reset_postgres(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))


def postgres_database(name: str, *, drop: bool = False) -> str:
    """Create (or with `drop`, drop) a database of this run's own on the test server; return its URL.

    Every run works in databases named after its process, so runs that overlap on one server (two
    developers, or two branches) never drop each other's tables."""
    from sqlalchemy.engine import make_url

    assert POSTGRES_URL is not None
    admin = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            if not drop:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


def prepare_database(url: str, var_dir: Path) -> Engine:
    """A fresh schema with the shipped processes and the demo users, committed."""
    engine = make_engine(url)
    if url.startswith("postgresql"):
        reset_postgres(engine)
    schema.upgrade(engine)
    kz = create_kyzmat(make_settings(var_dir, url), engine=engine)
    with transaction(kz.sessions) as session:
        processes.load_directory(session, kz.settings.processes_dir, kz.settings.forms_dir, kz.clock.now())
        demo.load(session, kz.clock.now())
    return engine


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def db_engine(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    var_dir = tmp_path_factory.mktemp(f"var-{backend}")
    pg_name = f"kyzmat_test_{os.getpid()}"
    url = f"sqlite:///{var_dir / 'test.sqlite3'}" if backend == "sqlite" else postgres_database(pg_name)
    engine = prepare_database(url, var_dir)
    yield engine
    engine.dispose()
    if backend == "postgres":
        postgres_database(pg_name, drop=True)


@pytest.fixture
def kz(db_engine: Engine, tmp_path: Path) -> Iterator[Kyzmat]:
    """A runtime whose every session joins one outer transaction, rolled back after the test."""
    connection = db_engine.connect()
    outer = connection.begin()
    k = create_kyzmat(
        make_settings(tmp_path, str(db_engine.url.render_as_string(hide_password=False))), engine=db_engine
    )
    k.sessions = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    k.read_sessions = k.sessions
    yield k
    outer.rollback()
    connection.close()


@pytest.fixture
def session(kz: Kyzmat) -> Iterator[Session]:
    with kz.sessions() as s:
        yield s


@pytest.fixture
def user(session: Session) -> Callable[[str], User]:
    """Look up a demo user by username (see engine/demo.py)."""

    def get(username: str) -> User:
        found = session.scalar(select(User).where(User.username == username))
        assert found is not None, username
        return found

    return get


# Browser fixtures (live_server, chromium, page) live in tests/browser.py.
from tests.browser import chromium, live_server, page  # noqa: E402, F401
