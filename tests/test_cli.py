"""The `kyzmat` command against a fresh SQLite file: in-process with click's CliRunner, and the
installed console script through subprocess where what the shell sees matters."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from flask.cli import ScriptInfo
from sqlalchemy import select

import webapp
from engine.bootstrap import create_kyzmat
from engine.demo.data import DEMO_PASSWORD
from engine.platform.config import REPO_ROOT, Settings
from engine.platform.db import make_engine
from engine.platform.models import RoleGrant, User
from webapp.cli import main

KYZMAT = Path(sys.executable).parent / "kyzmat"
PROCESS_D = REPO_ROOT / "processes" / "citizen_service.bpmn"


@dataclass
class Env:
    var_dir: Path
    url: str

    def vars(self) -> dict[str, str]:
        return {
            "KYZMAT_DATABASE_URL": self.url,
            "KYZMAT_VAR_DIR": str(self.var_dir),
            "KYZMAT_SECRET_KEY": "cli-test-secret",
            "KYZMAT_SCHEDULER": "0",
        }


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(var_dir=tmp_path / "var", url=f"sqlite:///{tmp_path / 'kyzmat.sqlite3'}")


@pytest.fixture
def cli(env: Env) -> Iterator[Callable[..., Result]]:
    """Run a command in-process, as the console script would, with the env's settings."""
    engines = []

    def run(*args: str, forms_dir: Path | None = None, input: str | None = None) -> Result:
        variables = env.vars() | ({"KYZMAT_FORMS_DIR": str(forms_dir)} if forms_dir else {})
        kz = create_kyzmat(Settings.from_env(variables))
        engines.append(kz.db)
        app = webapp.create_app(kyzmat=kz)
        # FlaskGroup sets FLASK_RUN_FROM_CLI; listing it here has the runner restore it afterwards.
        return CliRunner().invoke(
            main,
            list(args),
            obj=ScriptInfo(create_app=lambda: app),
            input=input,
            env={"FLASK_RUN_FROM_CLI": None},
            catch_exceptions=False,
        )

    yield run
    for engine in engines:
        engine.dispose()


def script(env: Env, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The installed console script, in a clean working directory."""
    assert KYZMAT.exists(), KYZMAT
    variables = {k: v for k, v in os.environ.items() if not k.startswith(("KYZMAT_", "FLASK_"))}
    variables.update(env.vars())
    variables.update(extra_env or {})
    env.var_dir.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [str(KYZMAT), *args],
        capture_output=True,
        text=True,
        env=variables,
        cwd=env.var_dir,
        timeout=120,
        check=False,
    )


def lines(result: Result) -> list[str]:
    return result.output.strip().splitlines()


@pytest.fixture
def initialised(cli: Callable[..., Result]) -> Callable[..., Result]:
    result = cli("init")
    assert result.exit_code == 0, result.output
    return cli


# --- before init -----------------------------------------------------------------------------------


def test_a_command_before_init_says_to_run_init(env: Env) -> None:
    proc = script(env, "calendar", "next-working-day", "2026-11-20")
    assert proc.returncode != 0
    assert "not initialised" in proc.stderr
    assert "kyzmat init" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        ["demo"],
        ["calendar", "holidays", "2026"],
        ["calendar", "set", "2027-01-08", "day-off", "--reason", "Decree"],
        [
            "users",
            "create",
            "aibek",
            "--name",
            "A",
            "--password",
            "long-enough",
            "--role",
            "csc_operator@sadyrbaev",
        ],
    ],
)
def test_every_command_before_init_refuses(cli: Callable[..., Result], args: list[str]) -> None:
    result = cli(*args)
    assert result.exit_code == 1
    assert "not initialised" in result.output and "kyzmat init" in result.output


def test_an_unreachable_database_is_a_message_not_a_traceback(env: Env, tmp_path: Path) -> None:
    proc = script(
        env,
        "calendar",
        "next-working-day",
        "2026-11-20",
        extra_env={"KYZMAT_DATABASE_URL": f"sqlite:///{tmp_path / 'no-such-dir' / 'x.sqlite3'}"},
    )
    assert proc.returncode == 1
    assert "Cannot open the database" in proc.stderr
    assert "Traceback" not in proc.stderr


# --- init --------------------------------------------------------------------------------------------


def test_init_is_idempotent(cli: Callable[..., Result], env: Env) -> None:
    first = cli("init")
    assert first.exit_code == 0, first.output
    assert "citizen_service: version 1 (published)" in first.output
    assert "Database ready" in first.output
    second = cli("init")
    assert second.exit_code == 0, second.output
    assert "citizen_service: version 1 (unchanged)" in second.output
    assert "published" not in second.output


# --- calendar ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["next-working-day", "2026-11-20"], "2026-11-23"),  # Fri -> Mon
        (["add-working-days", "2026-12-31", "1"], "2027-01-08"),  # over the New Year week
        (["add-days", "2026-10-01", "30"], "2026-11-02"),  # Sat 31 Oct -> Mon 2 Nov
        (["add-working-days", "2026-11-20", "0"], "2026-11-20"),
    ],
)
def test_calendar_arithmetic(initialised: Callable[..., Result], args: list[str], expected: str) -> None:
    result = initialised("calendar", *args)
    assert result.exit_code == 0, result.output
    assert result.output == expected + "\n"


def test_calendar_rejects_a_bad_date(initialised: Callable[..., Result]) -> None:
    result = initialised("calendar", "next-working-day", "2026-13-01")
    assert result.exit_code == 2
    assert "YYYY-MM-DD" in result.output


def test_holidays_list_nooruz(initialised: Callable[..., Result]) -> None:
    result = initialised("calendar", "holidays", "2026")
    assert result.exit_code == 0, result.output
    nooruz = [line for line in lines(result) if "Nooruz" in line]
    assert nooruz and nooruz[0].startswith("2026-03-21")
    assert any(line.startswith("2026-08-31") for line in lines(result))  # Independence Day


def test_a_decree_day_off_moves_deadlines_until_unset(initialised: Callable[..., Result]) -> None:
    result = initialised("calendar", "set", "2027-01-08", "day-off", "--reason", "Decree")
    assert result.exit_code == 0, result.output
    assert initialised("calendar", "next-working-day", "2026-12-31").output == "2027-01-11\n"
    listed = [
        line for line in lines(initialised("calendar", "holidays", "2027")) if line.startswith("2027-01-08")
    ]
    assert listed and "Decree" in listed[0] and " no " in listed[0]
    result = initialised("calendar", "unset", "2027-01-08")
    assert result.exit_code == 0, result.output
    assert initialised("calendar", "next-working-day", "2026-12-31").output == "2027-01-08\n"
    again = initialised("calendar", "unset", "2027-01-08")
    assert again.exit_code == 1
    assert "No exception on 2027-01-08" in again.output


def test_a_decree_working_saturday(initialised: Callable[..., Result]) -> None:
    result = initialised("calendar", "set", "2026-11-21", "working-day", "--reason", "Decree 12")
    assert result.exit_code == 0, result.output
    assert initialised("calendar", "next-working-day", "2026-11-20").output == "2026-11-21\n"


def test_calendar_set_needs_a_reason(initialised: Callable[..., Result]) -> None:
    result = initialised("calendar", "set", "2027-01-08", "day-off")
    assert result.exit_code == 2
    assert "--reason" in result.output


# --- users -------------------------------------------------------------------------------------------


def test_users_create_after_demo(initialised: Callable[..., Result], env: Env) -> None:
    demo = initialised("demo")
    assert demo.exit_code == 0, demo.output
    assert "operator2" in demo.output and DEMO_PASSWORD in demo.output
    assert "already loaded" in initialised("demo").output
    result = initialised(
        "users",
        "create",
        "Aibek",
        "--name",
        "Айбек Исаев",
        "--role",
        "csc_operator@sadyrbaev",
        "--role",
        "ao_specialist@sadyrbaev",
        input="long-enough\nlong-enough\n",
    )
    assert result.exit_code == 0, result.output
    assert "Created aibek" in result.output
    engine = make_engine(env.url)
    try:
        with engine.connect() as conn:
            user = conn.execute(select(User.id, User.full_name).where(User.username == "aibek")).one()
            roles = set(conn.scalars(select(RoleGrant.role).where(RoleGrant.user_id == user.id)))
    finally:
        engine.dispose()
    assert user.full_name == "Айбек Исаев"
    assert roles == {"csc_operator", "ao_specialist"}
    duplicate = initialised(
        "users",
        "create",
        "aibek",
        "--name",
        "X",
        "--password",
        "long-enough",
        "--role",
        "csc_operator@sadyrbaev",
    )
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output


@pytest.mark.parametrize(
    ("role", "message"),
    [
        ("csc_operator@nowhere", "No municipality with code 'nowhere'"),
        ("village_elder@sadyrbaev", "Unknown role 'village_elder'"),
        ("csc_operator", "is held in a municipality"),
    ],
)
def test_users_create_refuses_bad_roles(initialised: Callable[..., Result], role: str, message: str) -> None:
    assert initialised("demo").exit_code == 0
    result = initialised(
        "users", "create", "aibek", "--name", "A", "--password", "long-enough", "--role", role
    )
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


# --- processes check ---------------------------------------------------------------------------------


def test_processes_check_passes_on_the_shipped_diagrams(env: Env) -> None:
    proc = script(env, "processes", "check")
    assert proc.returncode == 0, proc.stderr
    shipped = len(list(PROCESS_D.parent.glob("*.bpmn")))
    assert shipped >= 3 and proc.stdout.strip() == f"{shipped} file(s) OK."


def _broken(tmp_path: Path, name: str, change: Callable[[str], str]) -> Path:
    original = PROCESS_D.read_text(encoding="utf-8")
    changed = change(original)
    assert changed != original, name
    target = tmp_path / name / "citizen_service.bpmn"
    target.parent.mkdir()
    target.write_text(changed, encoding="utf-8")
    return target


def _after_declaration(extra: str) -> Callable[[str], str]:
    return lambda text: text.replace("?>\n", "?>\n" + extra + "\n", 1)


def _line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(needle)


BROKEN = {
    "doctype": (
        _after_declaration("<!DOCTYPE bpmn:definitions>"),
        "<!DOCTYPE",
        "DOCTYPE declarations are not allowed",
    ),
    "entity": (
        lambda text: _after_declaration('<!DOCTYPE bpmn:definitions [<!ENTITY who "ККБ">]>')(text).replace(
            "<bpmn:documentation>Process D", "<bpmn:documentation>&who; Process D", 1
        ),
        "<!DOCTYPE",
        "no entities",
    ),
    "script": (
        lambda text: text.replace(
            '<bpmn:script>priority = "high"</bpmn:script>',
            "<bpmn:script>priority = __import__('os').getcwd()</bpmn:script>",
        ),
        "__import__",
        "__import__",
    ),
    "lane": (
        lambda text: text.replace('name="state_body"', 'name="village_elder"'),
        'name="village_elder"',
        "lane 'village_elder' is not a known role",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_processes_check_fails_on_a_broken_diagram(
    case: str, tmp_path: Path, cli: Callable[..., Result]
) -> None:
    change, needle, message = BROKEN[case]
    path = _broken(tmp_path, case, change)
    result = cli("processes", "check", str(path))
    assert result.exit_code == 1
    assert message in result.output
    # file:line, then the problem
    assert f"{path}:{_line_of(path, needle)}:" in result.output
    assert "1 problem(s) in 1 file(s)." in result.output
    assert "Traceback" not in result.output


def test_processes_check_fails_on_a_user_task_without_its_form(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    forms = tmp_path / "forms"
    shutil.copytree(REPO_ROOT / "forms", forms)
    (forms / "citizen_service" / "D_03_advise.json").unlink()
    result = cli("processes", "check", str(PROCESS_D), forms_dir=forms)
    assert result.exit_code == 1
    line = _line_of(PROCESS_D, '<bpmn:userTask id="D_03_advise"')
    assert re.search(
        rf"{re.escape(str(PROCESS_D))}:{line}: \[D_03_advise\] .*D_03_advise\.json does not exist",
        result.output,
    ), result.output


def test_processes_check_with_the_console_script(env: Env, tmp_path: Path) -> None:
    """What the shell sees: exit status 1, one readable line per problem on stderr, no traceback."""
    paths = [_broken(tmp_path, case, BROKEN[case][0]) for case in sorted(BROKEN)]
    forms = tmp_path / "forms"
    shutil.copytree(REPO_ROOT / "forms", forms)
    (forms / "citizen_service" / "D_03_advise.json").unlink()
    proc = script(env, "processes", "check", *map(str, paths), extra_env={"KYZMAT_FORMS_DIR": str(forms)})
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    for path, case in zip(paths, sorted(BROKEN), strict=True):
        _change, needle, message = BROKEN[case]
        problems = [line for line in proc.stderr.splitlines() if line.startswith(f"{path}:")]
        assert any(
            line.startswith(f"{path}:{_line_of(path, needle)}:") and message in line for line in problems
        ), (case, problems)
        if case not in ("doctype", "entity"):  # a refused DTD stops the reading of the file
            assert any("D_03_advise.json does not exist" in line for line in problems), (case, problems)
    assert re.search(r"\d+ problem\(s\) in 4 file\(s\)\.", proc.stderr)
    assert proc.stdout == ""


def test_processes_check_never_passes_without_checking_a_diagram(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    (tmp_path / "notes.txt").write_text("not a diagram")
    result = cli("processes", "check", str(tmp_path / "notes.txt"))
    assert result.exit_code == 1
    assert "not a .bpmn file" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli("processes", "check", str(empty))
    assert result.exit_code == 1
    assert "No .bpmn files to check." in result.output
    result = cli("processes", "check", str(tmp_path / "missing.bpmn"))
    assert result.exit_code == 1
    assert f"{tmp_path / 'missing.bpmn'}: cannot read" in result.output
    result = cli("processes", "check", str(REPO_ROOT / "processes"))
    assert result.exit_code == 0
    assert result.output.strip() == f"{len(list((REPO_ROOT / 'processes').glob('*.bpmn')))} file(s) OK."
