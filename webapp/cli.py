"""The `kyzmat` command: a Flask CLI group whose commands call engine verbs."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy.exc import OperationalError

from engine.platform import schema
from engine.platform.db import transaction
from engine.platform.errors import KyzmatError, NotFound, NotInitialised
from engine.runtime.context import Kyzmat


def _create_app() -> Any:
    from . import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False, add_version_option=False)
def main() -> None:
    """Kyzmat: municipal workflows on the Kyrgyz working-day calendar."""


def kz() -> Kyzmat:
    return current_app.extensions["kyzmat"]


def _unreachable(k: Kyzmat, err: OperationalError) -> click.ClickException:
    reason = str(getattr(err, "orig", None) or err).strip().splitlines()[-1]
    return click.ClickException(
        f"Cannot open the database at {k.db.url.render_as_string(hide_password=True)}: {reason}\n"
        "Check KYZMAT_DATABASE_URL (and that the database server is running)."
    )


def _initialised() -> Kyzmat:
    """The context, after checking the schema exists and is current (a clear message otherwise)."""
    k = kz()
    try:
        schema.require_current(k.db)
    except NotInitialised as err:
        raise click.ClickException(str(err)) from None
    except OperationalError as err:
        raise _unreachable(k, err) from None
    return k


@main.command("init")
@with_appcontext
def init() -> None:
    """Create or upgrade the schema and load the diagrams in processes/."""
    from engine.definitions import publishing as processes

    k = kz()
    try:
        schema.upgrade(k.db)
    except OperationalError as err:
        raise _unreachable(k, err) from None
    with transaction(k.sessions) as session:
        try:
            results = processes.load_directory(
                session, k.settings.processes_dir, k.settings.forms_dir, k.clock.now()
            )
        except KyzmatError as err:
            raise click.ClickException(str(err)) from None
        except Exception as err:  # a DiagramError lists every problem
            if type(err).__name__ == "DiagramError":
                raise click.ClickException(f"processes/ does not pass the checks:\n{err}") from None
            raise
    for version, created in results:
        state = "published" if created else "unchanged"
        click.echo(f"{version.process_id}: version {version.number} ({state})")
    click.echo(f"Database ready: {k.db.url.render_as_string(hide_password=True)}")


@main.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option(
    "--scheduler/--no-scheduler", default=True, show_default=True, help="Run the timer scheduler in-process."
)
@with_appcontext
def run(host: str, port: int, scheduler: bool) -> None:
    """Serve the app (with the in-process scheduler)."""
    _initialised()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if scheduler and app.extensions["kyzmat"].settings.scheduler:
        from engine.worker import start_in_process

        start_in_process(app.extensions["kyzmat"])
    click.echo(f"Kyzmat on http://{host}:{port}/")
    from werkzeug.serving import run_simple

    run_simple(host, port, app, threaded=True, use_reloader=False)


@main.command("worker")
@click.option("--once", is_flag=True, help="Do what is due now, then exit (for cron or a test).")
@with_appcontext
def worker(once: bool) -> None:
    """Run the background worker: due timers, reminders, digests, the e-mail outbox."""
    import logging
    import signal
    import threading

    from engine.worker import run_forever, tick

    k = _initialised()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if once:
        for name, count in tick(k).items():
            click.echo(f"{name}: {count}")
        return
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    click.echo(f"Kyzmat worker on {k.db.url.render_as_string(hide_password=True)} (Ctrl+C stops it)")
    run_forever(k, stop)


@main.command("demo")
@click.option(
    "--history/--no-history",
    default=True,
    show_default=True,
    help="Also generate a year of CSC cases and evaluation sheets (once), for the analytics.",
)
@click.option(
    "--cases", "count", default=None, type=click.IntRange(1, 20000), help="How many generated cases."
)
@click.option("--remove", is_flag=True, help="Delete the generated cases, sheets, users and municipality.")
@with_appcontext
def demo(history: bool, count: int | None, remove: bool) -> None:
    """Load the demo municipality and one user per role; print the logins."""
    from engine.demo import data as demo_data
    from engine.demo import history as demo_history

    k = _initialised()
    if remove:
        with transaction(k.sessions) as session:
            counts = demo_history.remove(k, session)
        click.echo("Removed generated demo data: " + ", ".join(f"{n} {what}" for what, n in counts.items()))
        return
    with transaction(k.sessions) as session:
        created = demo_data.load(session, k.clock.now())
    if history:
        _demo_history(k, count)
    click.echo("Demo logins (password for all: " + demo_data.DEMO_PASSWORD + "):")
    for username, role, muni in demo_data.LOGINS:
        click.echo(f"  {username:<14} {role:<22} {muni or 'national'}")
    if not created:
        click.echo("(demo data was already loaded)")


def _demo_history(k: Kyzmat, count: int | None) -> None:
    """Generate the demo year once (a second `kyzmat demo` finds it and says so)."""
    import time

    from sqlalchemy import select

    from engine.calendar.days import to_local_date
    from engine.demo import history as demo_history
    from engine.platform.models import ProcessInstance

    with transaction(k.sessions) as session:
        if (
            session.scalar(
                select(ProcessInstance.id)
                .where(ProcessInstance.summary["demo"].as_boolean().is_(True))
                .limit(1)
            )
            is not None
        ):
            click.echo("(the generated demo year was already loaded; `kyzmat demo --remove` deletes it)")
            return
        year = demo_history.demo_year(to_local_date(k.clock.now()))
        started = time.perf_counter()
        try:
            made = demo_history.generate(k, session, year=year, count=count or demo_history.DEFAULT_CASES)
        except ModuleNotFoundError as err:
            raise click.ClickException(
                f"The generated demo year needs {err.name} (installed by `make install`); "
                "`kyzmat demo --no-history` loads the users only."
            ) from None
    click.echo(
        f"Generated {made} demo CSC cases of {year} with evaluation sheets "
        f"in {time.perf_counter() - started:.1f} s (`kyzmat demo --remove` deletes them)."
    )


# --- processes --------------------------------------------------------------------------------------


@main.group("processes")
def processes_group() -> None:
    """Check and list diagrams."""


@processes_group.command("check")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@with_appcontext
def processes_check(files: tuple[Path, ...]) -> None:
    """Validate diagrams (all of processes/ by default); exit 1 on any problem."""
    from engine.definitions.checks import check_files

    k = kz()
    paths: list[Path] = []
    for given in files or (k.settings.processes_dir,):
        if given.is_dir():
            paths += sorted(given.glob("*.bpmn"))
        elif given.suffix.lower() == ".bpmn":
            paths.append(given)  # a missing file is reported by the check
        else:
            raise click.ClickException(
                f"{given}: not a .bpmn file or a directory (DMN tables are checked with the diagrams beside them)."
            )
    if not paths:
        raise click.ClickException("No .bpmn files to check.")
    problems = check_files(paths, forms_dir=k.settings.forms_dir)
    for problem in problems:
        click.echo(str(problem), err=True)
    if problems:
        click.echo(f"{len(problems)} problem(s) in {len(paths)} file(s).", err=True)
        sys.exit(1)
    click.echo(f"{len(paths)} file(s) OK.")


@processes_group.command("publish")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--note", required=True, help="Why the process changed (required; kept with the version).")
@click.option(
    "--municipality",
    "municipality_code",
    default=None,
    metavar="CODE",
    help="Publish as this municipality's own variant (new cases there follow it).",
)
@with_appcontext
def processes_publish(file: Path, note: str, municipality_code: str | None) -> None:
    """Validate FILE (the checks and a dry run) and publish it as a new version; exit 1 when refused."""
    from engine.accounts import users as accounts
    from engine.definitions.drafts import DraftRefused, NoteRequired, publish_file

    k = _initialised()
    try:
        with transaction(k.sessions) as session:
            municipality_id = None
            if municipality_code is not None:
                try:
                    municipality_id = accounts.municipality_by_code(session, municipality_code).id
                except NotFound as err:
                    known = ", ".join(m.code for m in accounts.list_municipalities(session))
                    raise click.ClickException(f"{err}; known codes: {known}.") from None
            version, created = publish_file(k, session, file, note, municipality_id=municipality_id)
            number, process_id = version.number, version.process_id
    except DraftRefused as err:
        for problem in err.problems:
            click.echo(str(problem), err=True)
        click.echo(f"Refused: {len(err.problems)} problem(s); nothing was published.", err=True)
        sys.exit(1)
    except NoteRequired as err:
        raise click.ClickException(str(err)) from None
    where = f" for {municipality_code}" if municipality_code else ""
    if created:
        click.echo(f"{process_id}: version {number} published{where}")
    else:
        click.echo(f"{process_id}: unchanged, version {number} is already this content{where}")


@processes_group.command("versions")
@click.argument("process_id", required=False)
@with_appcontext
def processes_versions(process_id: str | None) -> None:
    """List published versions (of PROCESS_ID, or of every process): number, when, who, hash, note."""
    from engine.definitions.history import history
    from engine.platform.models import User

    k = _initialised()
    with k.sessions() as session:
        rows = history(session, process_id)
        if not rows:
            raise click.ClickException(f"No published versions{' of ' + process_id if process_id else ''}.")
        for row in rows:
            who = session.get(User, row.published_by_id).username if row.published_by_id else "-"
            click.echo(
                f"{row.process_id:<24} v{row.number:<4} {row.published_at:%Y-%m-%d %H:%M} UTC  "
                f"{who:<12} {row.content_hash[:12]}  {row.note}"
            )


@processes_group.command("deadlines")
@click.option(
    "--lang",
    type=click.Choice(["ky", "ru", "en"]),
    default="ky",
    show_default=True,
    help="Language of the names and rules.",
)
@with_appcontext
def processes_deadlines(lang: str) -> None:
    """Print every timer of every published diagram: step, rule, expression, catalogue reference."""
    from engine.deadlines.register import deadline_register, format_register

    k = _initialised()
    with k.sessions() as session:
        rows = deadline_register(session, lang)
    click.echo(format_register(rows, lang))


# --- calendar ---------------------------------------------------------------------------------------


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date in the form YYYY-MM-DD") from None


@main.group("calendar")
def calendar_group() -> None:
    """The Kyrgyz working-day calendar."""


@calendar_group.command("next-working-day")
@click.argument("day")
@with_appcontext
def cal_next(day: str) -> None:
    """Print the next working day after DAY."""
    click.echo(_initialised().calendar().next_working_day(_date(day)).isoformat())


@calendar_group.command("add-working-days")
@click.argument("day")
@click.argument("n", type=click.IntRange(0, 3660))
@with_appcontext
def cal_add_working(day: str, n: int) -> None:
    """Print the N-th working day after DAY."""
    click.echo(_initialised().calendar().add_working_days(_date(day), n).isoformat())


@calendar_group.command("add-days")
@click.argument("day")
@click.argument("n", type=click.IntRange(0, 3660))
@with_appcontext
def cal_add_days(day: str, n: int) -> None:
    """Print DAY + N calendar days, moved forward to a working day."""
    click.echo(_initialised().calendar().add_days(_date(day), n).isoformat())


@calendar_group.command("holidays")
@click.argument("year", type=click.IntRange(1992, 2100))
@with_appcontext
def cal_holidays(year: int) -> None:
    """Print the year's public holidays and the administrator's exceptions."""
    from engine.calendar.admin import exceptions_for_year

    k = _initialised()
    cal = k.calendar()
    click.echo(f"{'date':<12}{'day':<5}{'working':<9}what")
    rows: dict[date, str] = {d: name for d, name in cal.holidays(year)}
    with k.sessions() as session:
        for exc in exceptions_for_year(session, year):
            kind = "working day by decree" if exc.working else "day off by decree"
            rows[exc.day] = f"{rows[exc.day]}; " if exc.day in rows else ""
            rows[exc.day] += f"{kind}: {exc.reason}"
    for day in sorted(rows):
        click.echo(
            f"{day.isoformat():<12}{day.strftime('%a'):<5}{'yes' if cal.is_working_day(day) else 'no':<9}{rows[day]}"
        )


@calendar_group.command("set")
@click.argument("day")
@click.argument("kind", type=click.Choice(["day-off", "working-day"]))
@click.option("--reason", required=True, help="The decree or reason, shown to users.")
@with_appcontext
def cal_set(day: str, kind: str, reason: str) -> None:
    """Make DAY a day off or a working day (a government decree)."""
    from engine.calendar.admin import set_exception

    k = _initialised()
    with transaction(k.sessions) as session:
        set_exception(session, _date(day), kind == "working-day", reason, now=k.clock.now())
    k.calendar_changed()
    click.echo(f"{day}: {kind}")


@calendar_group.command("unset")
@click.argument("day")
@with_appcontext
def cal_unset(day: str) -> None:
    """Remove the exception for DAY."""
    from engine.calendar.admin import unset_exception

    k = _initialised()
    with transaction(k.sessions) as session:
        if not unset_exception(session, _date(day), now=k.clock.now()):
            raise click.ClickException(f"No exception on {day}.")
    k.calendar_changed()
    click.echo(f"{day}: exception removed")


# --- users ------------------------------------------------------------------------------------------


@main.group("users")
def users_group() -> None:
    """Users and their roles."""


@users_group.command("create")
@click.argument("username")
@click.option("--name", "full_name", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    help="ROLE@MUNICIPALITY_CODE, or ROLE for a national role; repeatable.",
)
@click.option("--email")
@click.option("--locale", type=click.Choice(["ky", "ru", "en"]), default="ky")
@with_appcontext
def users_create(
    username: str, full_name: str, password: str, roles: tuple[str, ...], email: str | None, locale: str
) -> None:
    """Create a user with roles."""
    from engine.accounts import users as accounts

    k = _initialised()
    grants = [(r.split("@", 1)[0], r.split("@", 1)[1] if "@" in r else None) for r in roles]
    try:
        with transaction(k.sessions) as session:
            user = accounts.create_user(
                session,
                username=username,
                password=password,
                full_name=full_name,
                now=k.clock.now(),
                grants=grants,
                email=email,
                locale=locale,
            )
    except KyzmatError as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"Created {user.username}")


# --- municipalities ---------------------------------------------------------------------------------


@main.group("municipalities")
def municipalities_group() -> None:
    """Municipalities' settings."""


@municipalities_group.command("set-sheet")
@click.argument("code")
@click.argument("variant", metavar="short|full")
@with_appcontext
def municipalities_set_sheet(code: str, variant: str) -> None:
    """Choose the evaluation sheet (short or full) the municipality's citizens get."""
    from engine.accounts import users as accounts
    from engine.citizens import evaluation
    from engine.platform import audit

    k = _initialised()
    try:
        with transaction(k.sessions) as session:
            row = accounts.municipality_by_code(session, code)
            before, after = evaluation.set_evaluation_sheet(session, row, variant)
            audit.record(
                session,
                "municipality_changed",
                at=k.clock.now(),
                code=row.code,
                evaluation_sheet_before=before,
                evaluation_sheet_after=after,
                via="cli",
            )
    except KyzmatError as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"{code}: evaluation sheet {before} -> {after}")
