"""Browser-test support: the real app served on a free port from a thread, and Debian's Chromium
driven by Playwright. Every browser test module uses these fixtures (see tests/conftest.py)."""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from babel.dates import format_date
from sqlalchemy import select
from werkzeug.serving import make_server

from engine.bootstrap import create_kyzmat
from engine.calendar.days import to_local_date
from engine.platform.config import REPO_ROOT
from engine.platform.models import HumanTask
from engine.runtime.context import Kyzmat

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
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


# --- helpers for walking cases through the pages (webui) ---------------------------------------------

LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 375, "height": 740}


def submit(page: object, selector: str = "button[name=action][value=complete]") -> None:
    """Click a submit button and wait for the page it leads to."""
    with page.expect_navigation():
        page.click(selector)
    page.wait_for_load_state()


def answer(page: object, name: str, value: object) -> None:
    """Fill one form field by its name, whatever control the form renders for it."""
    control = page.locator(f"[name='{name}']")
    kind = control.first.evaluate("e => e.tagName.toLowerCase() + ':' + (e.type || '')")
    if kind.startswith("select"):
        page.select_option(f"select[name='{name}']", str(value))
    elif kind.endswith(("radio", "checkbox")):
        if isinstance(value, bool) and control.count() == 1:
            control.set_checked(value)
            return
        values = value if isinstance(value, list) else [value]
        for v in values:
            word = ("yes" if v else "no") if isinstance(v, bool) else str(v)
            page.check(f"[name='{name}'][value='{word}']")
    else:
        page.fill(f"[name='{name}']", str(value))


def fill_form(page: object, data: dict[str, object]) -> None:
    for name, value in data.items():
        answer(page, name, value)


def accessibility_problems(page: object) -> list[str]:
    """What an automated look finds wrong: inputs without a label, no lang, no landmarks, nameless buttons."""
    return page.evaluate("""() => {
      const out = [];
      if (!document.documentElement.lang) out.push('html without lang');
      if (!document.querySelector('main')) out.push('no <main> landmark');
      for (const e of document.querySelectorAll('input, select, textarea')) {
        if (['hidden', 'submit', 'button', 'reset'].includes(e.type)) continue;
        if (!(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby'))
          out.push('input without a label: ' + (e.name || e.id || e.outerHTML.slice(0, 80)));
      }
      for (const b of document.querySelectorAll('button, a[href]')) {
        if (!b.textContent.trim() && !b.getAttribute('aria-label') && !b.getAttribute('title')) out.push('control without a name: ' + b.outerHTML.slice(0, 80));
      }
      return out;
    }""")


def overflows_horizontally(page: object) -> bool:
    """Whether the page is wider than the window (a phone user would have to scroll sideways)."""
    return page.evaluate("() => document.documentElement.scrollWidth > window.innerWidth + 1")


@dataclass
class Watch:
    """Every request a browser context makes and every page error or CSP violation it reports."""

    origin: str
    urls: list[str]
    errors: list[str]

    def foreign(self) -> list[str]:
        return [
            u for u in self.urls if not (u.startswith(self.origin + "/") or u.startswith(("data:", "blob:")))
        ]


def watch(page: object, origin: str) -> Watch:
    seen = Watch(origin, [], [])
    page.context.on("request", lambda r: seen.urls.append(r.url))
    page.on("pageerror", lambda exc: seen.errors.append(f"page error: {exc}"))
    page.on("console", lambda msg: seen.errors.append(msg.text) if msg.type == "error" else None)
    return seen


def bytes_over_the_wire(page: object, path: str) -> tuple[int, dict[str, int]]:
    """Load `path` with the cache off and add up every byte received (headers and bodies), per URL."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    urls: dict[str, str] = {}
    sizes: dict[str, int] = {}
    cdp.on("Network.requestWillBeSent", lambda e: urls.__setitem__(e["requestId"], e["request"]["url"]))
    cdp.on(
        "Network.loadingFinished",
        lambda e: sizes.__setitem__(urls.get(e["requestId"], e["requestId"]), int(e["encodedDataLength"])),
    )
    page.goto(path)
    page.wait_for_load_state("networkidle")
    cdp.detach()
    return sum(sizes.values()), sizes


def long_date(d: date, lang: str) -> str:
    """A date as the pages write it (Flask-Babel's long format) in `lang`."""
    return format_date(d, format="long", locale=lang)


def today() -> date:
    return to_local_date(datetime.now(UTC))


def open_steps(server: LiveServer, instance_id: int) -> dict[str, HumanTask]:
    """The case's open steps by step id, read from the live server's database."""
    with server.kz.sessions() as s:
        rows = s.scalars(
            select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.status == "open")
        )
        return {t.step_id: t for t in rows}


def instance_of(page: object) -> int:
    """The case a task page belongs to (from its breadcrumb link)."""
    href = page.locator(".crumbs a").get_attribute("href")
    match = re.fullmatch(r"/cases/(\d+)", href or "")
    assert match, href
    return int(match.group(1))


class Clerk:
    """One browser context per person: logs in, checks every page it sees, walks its steps."""

    def __init__(
        self, chromium: object, server: LiveServer, username: str, lang: str, viewport: dict
    ) -> None:
        self.context = chromium.new_context(base_url=server.url, viewport=viewport)
        self.context.set_default_timeout(10_000)
        self.page = self.context.new_page()
        self.seen: Watch = watch(self.page, server.url)
        self.server, self.lang = server, lang
        login(self.page, username, lang)

    def check_page(self) -> None:
        assert self.page.locator("html").get_attribute("lang") == self.lang
        assert accessibility_problems(self.page) == [], self.page.url
        assert not overflows_horizontally(self.page), self.page.url

    def at_step(self, instance_id: int, step_id: str) -> None:
        """On the task page of `step_id`: its title in the user's language, its due date as the engine set it."""
        task = open_steps(self.server, instance_id)[step_id]
        assert self.page.url.endswith(f"/tasks/{task.id}"), (self.page.url, step_id)
        assert self.page.locator("h1").inner_text() == task.names[self.lang]
        if task.due_at is not None:
            assert long_date(to_local_date(task.due_at), self.lang) in self.page.locator(".meta").inner_text()
        self.check_page()

    def complete(self, data: dict[str, object]) -> None:
        fill_form(self.page, data)
        submit(self.page)
        assert self.page.locator(".error").count() == 0, self.page.locator("main").inner_text()

    def inbox_rows(self, view: str, reference: str) -> list[str]:
        self.page.goto(f"/?view={view}&q={reference}")
        self.check_page()
        return [r.inner_text() for r in self.page.locator("table.list tbody tr").all()]

    def open_from_inbox(self, view: str, reference: str) -> None:
        self.page.goto(f"/?view={view}&q={reference}")
        with self.page.expect_navigation():
            self.page.locator("table.list tbody tr a").first.click()

    def close(self) -> None:
        assert self.seen.foreign() == [], self.seen.foreign()
        assert self.seen.errors == [], self.seen.errors
        self.context.close()
