"""Browser-test support: the real app served on a free port from a thread, and Debian's Chromium
driven by Playwright. Every browser test module uses these fixtures (see tests/conftest.py)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from engine.config import REPO_ROOT
from engine.context import Kyzmat, create_kyzmat

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
SCREENSHOTS = REPO_ROOT / "var" / "screenshots"
DEMO_PASSWORD = "kyzmat-demo"


@dataclass
class LiveServer:
    url: str
    kz: Kyzmat


def serve(kz: Kyzmat) -> Iterator[LiveServer]:
    """Serve the app for `kz` until the generator is closed."""
    from webapp import create_app

    app = create_app({"TESTING": False}, kyzmat=kz)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", kz)
    finally:
        server.shutdown()
        thread.join(5)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A committed SQLite database with the shipped processes and demo data, served over HTTP.

    Browser tests change this database for real (no rollback); each test starts its own cases."""
    from tests.conftest import make_settings, prepare_database

    var_dir = tmp_path_factory.mktemp("live")
    url = f"sqlite:///{var_dir / 'live.sqlite3'}"
    engine = prepare_database(url, var_dir)
    kz = create_kyzmat(make_settings(var_dir, url), engine=engine)
    yield from serve(kz)
    engine.dispose()


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed: run `make browser` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: object, live_server: LiveServer) -> Iterator[object]:
    """A fresh browser context (no cookies) with the live server as base URL."""
    context = chromium.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    pg = context.new_page()
    yield pg
    context.close()


def login(page: object, username: str, lang: str = "ky", password: str = DEMO_PASSWORD) -> None:
    """Log in through the login form, then switch the interface language with its button."""
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button.primary")
    page.wait_for_load_state()
    if lang:
        page.click(f"button[lang='{lang}']")
        page.wait_for_load_state()


def screenshot(page: object, name: str) -> Path:
    """Save a full-page screenshot under var/screenshots/ (not committed) for a person to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
