"""Process owners' drafts: save, validate (the checks of `kyzmat processes check` plus a dry run), publish.

A draft is the owner's BPMN and the forms they changed, one per process. Validation and
publication see the forms as they will be published: the files in forms/, overlaid with the
newest version's snapshot, overlaid with the draft's own edits.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.accounts import access
from engine.bpmn import workflow as wfapi
from engine.bpmn.loader import MAX_BYTES, DiagramError, Problem, load_diagram, parse_xml
from engine.definitions import dryrun
from engine.definitions import publishing as processes
from engine.definitions.checks import check_diagram
from engine.forms.schema import check_form_schema, load_form
from engine.platform import audit
from engine.platform.errors import Forbidden, KyzmatError, NotFound
from engine.platform.models import ProcessDraft, ProcessVersion, User

EDITOR_ROLE = "process_owner"
FORM_PATH_RE = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_.-]+)*\.json$")


class DraftRefused(KyzmatError):
    """The draft does not pass validation; ``problems`` says where and why."""

    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


class NoteRequired(KyzmatError):
    def __init__(self) -> None:
        super().__init__("A publication needs a note saying why the process changed.")


# --- who may ---------------------------------------------------------------------------------------


def may_edit(user: User | None, process_id: str | None = None, municipality_id: int | None = None) -> bool:
    """A national process owner edits and publishes the national version and every municipality's variant;
    a process owner of municipality M only M's own variant (``municipality_id`` M)."""
    return user is not None and user.active and access.holds(user, EDITOR_ROLE, municipality_id)


def require_edit(
    user: User | None, process_id: str | None = None, municipality_id: int | None = None
) -> None:
    if not may_edit(user, process_id, municipality_id):
        raise Forbidden(
            "Only a process owner may edit and publish processes."
            if municipality_id is None
            else "Only a process owner of this municipality may edit and publish its variant."
        )


def owner_municipalities(user: User | None) -> set[int | None] | None:
    """The municipalities whose variants the user may edit: None for every one (a national owner), else the
    set of municipality ids (empty: not a process owner)."""
    if user is None or not user.active:
        return set()
    grants = {g.municipality_id for g in user.grants if g.role == EDITOR_ROLE}
    return None if None in grants else grants


# --- forms as they will be published -----------------------------------------------------------------


def _check_form_path(path: str) -> None:
    if not FORM_PATH_RE.match(path) or ".." in path.split("/"):
        raise KyzmatError(
            f"{path!r} is not a form path under forms/ (letters, digits, _ and -, ending .json)"
        )


def base_version(
    session: Session, process_id: str, municipality_id: int | None = None
) -> ProcessVersion | None:
    """The version a draft starts from: the municipality's newest variant, else the newest national one."""
    try:
        return processes.latest_version(session, process_id, municipality_id)
    except NotFound:
        return None


def overlay_forms(
    session: Session,
    process_id: str,
    draft_forms: Mapping[str, Any] | None,
    municipality_id: int | None = None,
) -> dict[str, Any]:
    """The forms the newest version carries, with the draft's edits on top."""
    base = base_version(session, process_id, municipality_id)
    out: dict[str, Any] = dict(base.forms) if base is not None else {}
    out.update(draft_forms or {})
    return out


@contextmanager
def forms_directory(forms_dir: Path, overlay: Mapping[str, Any]) -> Iterator[Path]:
    """A temporary copy of forms/ with `overlay` (path -> schema) written over it."""
    with tempfile.TemporaryDirectory(prefix="kyzmat-forms-") as tmp:
        root = Path(tmp) / "forms"
        if Path(forms_dir).is_dir():
            shutil.copytree(forms_dir, root, symlinks=False)
        else:
            root.mkdir()
        for rel, schema in overlay.items():
            _check_form_path(rel)
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(schema, ensure_ascii=False, indent=2), encoding="utf-8")
        yield root


def form_choices(forms_dir: Path, overlay: Mapping[str, Any], process_id: str) -> list[str]:
    """Form paths an owner may pick for a user task: this process's folder first, then the rest."""
    names = {str(p.relative_to(forms_dir)) for p in Path(forms_dir).rglob("*.json")} | set(overlay)
    return sorted(names, key=lambda n: (not n.startswith(process_id + "/"), n))


# --- drafts ------------------------------------------------------------------------------------------


def get_draft(session: Session, process_id: str, municipality_id: int | None = None) -> ProcessDraft | None:
    """The national draft, or with ``municipality_id`` the draft of that municipality's variant."""
    mine = (
        ProcessDraft.municipality_id.is_(None)
        if municipality_id is None
        else ProcessDraft.municipality_id == municipality_id
    )
    return session.scalar(select(ProcessDraft).where(ProcessDraft.process_id == process_id, mine))


@dataclass
class EditorState:
    process_id: str
    bpmn_xml: str
    forms: dict[str, Any]  # the draft's own form edits
    source: str  # "draft" | "version"
    version: ProcessVersion | None
    draft: ProcessDraft | None
    names: dict[str, str] = field(default_factory=dict)


def open_for_editing(
    session: Session, actor: User, process_id: str, *, municipality_id: int | None = None
) -> EditorState:
    """The draft if there is one, else the newest published version (the municipality's variant if any)."""
    require_edit(actor, process_id, municipality_id)
    version = base_version(session, process_id, municipality_id)
    draft = get_draft(session, process_id, municipality_id)
    if draft is not None:
        return EditorState(
            process_id,
            draft.bpmn_xml,
            dict(draft.forms or {}),
            "draft",
            version,
            draft,
            version.names if version else {},
        )
    if version is None:
        raise NotFound(f"No published process {process_id!r}")
    return EditorState(process_id, version.bpmn_xml, {}, "version", version, None, version.names)


def save_draft(
    session: Session,
    actor: User,
    process_id: str,
    bpmn_xml: str,
    forms: Mapping[str, Any] | None,
    *,
    now: datetime,
    municipality_id: int | None = None,
) -> ProcessDraft:
    """Store the owner's work as it is (a draft may be broken); refuse only what is unsafe to keep."""
    require_edit(actor, process_id, municipality_id)
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$", process_id):
        raise KyzmatError(f"{process_id!r} is not a process id")
    if len(bpmn_xml.encode("utf-8")) > MAX_BYTES:
        raise KyzmatError(f"The diagram is larger than {MAX_BYTES:,} bytes.")
    forms = dict(forms or {})
    for rel, schema in forms.items():
        _check_form_path(rel)
        if not isinstance(schema, dict):
            raise KyzmatError(f"The form {rel} must be a JSON object.")
    if len(json.dumps(forms)) > MAX_BYTES:
        raise KyzmatError(f"The forms are larger than {MAX_BYTES:,} bytes.")
    draft = get_draft(session, process_id, municipality_id)
    if draft is None:
        base = base_version(session, process_id, municipality_id)
        draft = ProcessDraft(
            process_id=process_id,
            municipality_id=municipality_id,
            bpmn_xml=bpmn_xml,
            forms=forms,
            base_version_id=base.id if base else None,
            created_by_id=actor.id,
            created_at=now,
            updated_by_id=actor.id,
            updated_at=now,
        )
        session.add(draft)
    else:
        draft.bpmn_xml, draft.forms = bpmn_xml, forms
        draft.updated_by_id, draft.updated_at = actor.id, now
    session.flush()
    audit.record(
        session,
        "process_draft_saved",
        at=now,
        actor_id=actor.id,
        process_id=process_id,
        forms=sorted(forms),
        size=len(bpmn_xml),
        **_for(municipality_id),
    )
    return draft


def _for(municipality_id: int | None) -> dict[str, Any]:
    """Audit detail naming the municipality of a variant (nothing for the national version)."""
    return {} if municipality_id is None else {"municipality_id": municipality_id}


def discard_draft(
    session: Session, actor: User, process_id: str, *, now: datetime, municipality_id: int | None = None
) -> bool:
    require_edit(actor, process_id, municipality_id)
    draft = get_draft(session, process_id, municipality_id)
    if draft is None:
        return False
    session.delete(draft)
    audit.record(
        session,
        "process_draft_discarded",
        at=now,
        actor_id=actor.id,
        process_id=process_id,
        **_for(municipality_id),
    )
    session.flush()
    return True


# --- validation --------------------------------------------------------------------------------------


@dataclass
class Validation:
    problems: list[Problem]
    notes: list[Problem] = field(default_factory=list)
    dry: dryrun.DryRunResult | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def _dmn_of(version: ProcessVersion | None) -> dict[str, bytes]:
    return {k: v.encode("utf-8") for k, v in (version.dmn_xml or {}).items()} if version is not None else {}


def validate_content(
    kz: Any,
    bpmn: bytes,
    filename: str,
    forms_dir: Path,
    *,
    process_id: str | None = None,
    dmn: dict[str, bytes] | None = None,
    start_at: datetime | None = None,
    base_info: Mapping[str, Any] | None = None,
) -> Validation:
    """The checks of `kyzmat processes check`, then (when they pass) the dry run; notes compare the timers
    with `base_info` (the published version's DiagramInfo)."""
    problems = check_diagram(bpmn, filename, forms_dir=forms_dir, dmn=dmn)
    if problems:
        return Validation(problems)
    loaded = load_diagram(bpmn, filename, dmn)
    if process_id is not None and loaded.info.process_id != process_id:
        return Validation(
            [
                Problem(
                    filename,
                    f"the process id is {loaded.info.process_id!r}; this editor publishes {process_id!r}",
                    loaded.info.process_id,
                )
            ]
        )
    forms = {t.form: load_form(forms_dir, t.form) for t in loaded.info.user_tasks() if t.form}
    dry = dryrun.dry_run(kz, loaded, forms, start_at=start_at or kz.clock.now())
    return Validation(dry.problems, dry.notes + stale_rule_words(loaded.info, base_info), dry)


RULE_WORDS = ("rule_ky", "rule_ru", "rule_en")


def stale_rule_words(info: Any, base_info: Mapping[str, Any] | None) -> list[Problem]:
    """Notes for timers whose expression changed since the published version while their rule in words
    (what the deadline register shows) did not."""
    if not base_info:
        return []
    notes = []
    before = base_info.get("elements") or {}
    for element in info.timers():
        old = before.get(element.id) or {}
        old_timer, old_props = old.get("timer"), old.get("properties") or {}
        if not old_timer or tuple(old_timer) == tuple(element.timer or ()):
            continue
        words = [k for k in RULE_WORDS if old_props.get(k)]
        if words and all(element.properties.get(k) == old_props.get(k) for k in words):
            notes.append(
                Problem(
                    info.file,
                    f"rule in words: the deadline changed to {element.timer[1]!r} but "
                    f"{', '.join(words)} still describe {old_timer[1]!r}; the deadline "
                    "register would show the old rule",
                    element.id,
                    element.line,
                )
            )
    return notes


def validate_draft(
    kz: Any,
    session: Session,
    actor: User,
    process_id: str,
    bpmn_xml: str,
    forms: Mapping[str, Any] | None,
    *,
    start_at: datetime | None = None,
    municipality_id: int | None = None,
) -> Validation:
    require_edit(actor, process_id, municipality_id)
    overlay = overlay_forms(session, process_id, forms, municipality_id)
    base = base_version(session, process_id, municipality_id)
    with forms_directory(kz.settings.forms_dir, overlay) as tmp:
        return validate_content(
            kz,
            bpmn_xml.encode("utf-8"),
            f"{process_id}.bpmn",
            tmp,
            process_id=process_id,
            dmn=_dmn_of(base),
            start_at=start_at,
            base_info=base.info if base else None,
        )


# --- publishing --------------------------------------------------------------------------------------


def publish_content(
    kz: Any,
    session: Session,
    bpmn: bytes,
    filename: str,
    note: str,
    *,
    forms_dir: Path,
    actor_id: int | None,
    process_id: str | None = None,
    dmn: dict[str, bytes] | None = None,
    municipality_id: int | None = None,
) -> tuple[ProcessVersion, bool]:
    """Validate (checks + dry run) and publish as a new version (a municipality's variant with
    ``municipality_id``); DraftRefused says why not. The caller checks who may."""
    if not note or not note.strip():
        raise NoteRequired()
    result = validate_content(kz, bpmn, filename, forms_dir, process_id=process_id, dmn=dmn)
    if not result.ok:
        raise DraftRefused(result.problems)
    try:
        return processes.publish(
            session,
            bpmn,
            filename,
            forms_dir=forms_dir,
            now=kz.clock.now(),
            note=note.strip(),
            actor_id=actor_id,
            dmn=dmn,
            reuse_any=False,
            municipality_id=municipality_id,
        )
    except DiagramError as err:
        raise DraftRefused(err.problems) from None


def publish_draft(
    kz: Any, session: Session, actor: User, process_id: str, note: str, *, municipality_id: int | None = None
) -> ProcessVersion:
    """Publish the saved draft as the next version (the municipality's variant with ``municipality_id``)
    and remove the draft."""
    require_edit(actor, process_id, municipality_id)
    draft = get_draft(session, process_id, municipality_id)
    if draft is None:
        raise NotFound(f"No draft of {process_id!r} to publish")
    overlay = overlay_forms(session, process_id, draft.forms, municipality_id)
    with forms_directory(kz.settings.forms_dir, overlay) as tmp:
        version, _created = publish_content(
            kz,
            session,
            draft.bpmn_xml.encode("utf-8"),
            f"{process_id}.bpmn",
            note,
            forms_dir=tmp,
            actor_id=actor.id,
            process_id=process_id,
            dmn=_dmn_of(base_version(session, process_id, municipality_id)),
            municipality_id=municipality_id,
        )
    session.delete(draft)
    session.flush()
    return version


def publish_file(
    kz: Any,
    session: Session,
    path: Path,
    note: str,
    *,
    actor_id: int | None = None,
    municipality_id: int | None = None,
) -> tuple[ProcessVersion, bool]:
    """`kyzmat processes publish FILE --note TEXT [--municipality CODE]`: forms from forms/, DMN
    tables from beside the file; with a municipality, as that municipality's own variant."""
    data = path.read_bytes()
    dmn = {p.name: p.read_bytes() for p in sorted(path.parent.glob("*.dmn"))}
    return publish_content(
        kz,
        session,
        data,
        path.name,
        note,
        forms_dir=kz.settings.forms_dir,
        actor_id=actor_id,
        dmn=dmn,
        municipality_id=municipality_id,
    )


# --- forms and deadlines in the editor -------------------------------------------------------------------


def check_form(schema_text: str) -> tuple[dict[str, Any] | None, list[str]]:
    """Parse and check a form's JSON Schema as typed in the editor."""
    try:
        schema = json.loads(schema_text)
    except json.JSONDecodeError as exc:
        return None, [f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"]
    if not isinstance(schema, dict):
        return None, ["a form must be a JSON object (a JSON Schema)"]
    try:
        return schema, check_form_schema(schema)
    except Exception as exc:  # noqa: BLE001 - a checker bug must not lose the owner's text
        return schema, [f"{type(exc).__name__}: {exc}"]


@dataclass
class TimerPreview:
    due: str | None  # ISO, Asia/Bishkek
    error: str | None
    reached: bool  # whether the default path of the dry run reached this timer


def preview_timer(
    kz: Any,
    session: Session,
    actor: User,
    process_id: str,
    bpmn_xml: str,
    forms: Mapping[str, Any] | None,
    element_id: str,
    expression: str,
    start_at: datetime,
    *,
    municipality_id: int | None = None,
) -> TimerPreview:
    """The date a timer expression gives for a case started at `start_at`, computed in the sandbox with the
    task data the dry run of the draft has at that timer."""
    from engine.bpmn.sandbox import check_source
    from engine.calendar.days import BISHKEK

    require_edit(actor, process_id, municipality_id)
    errors = check_source(expression, "eval") if expression.strip() else ["the expression is empty"]
    if errors:
        return TimerPreview(None, "; ".join(errors), False)
    context: dict[str, Any] = {}
    reached = False
    overlay = overlay_forms(session, process_id, forms, municipality_id)
    with forms_directory(kz.settings.forms_dir, overlay) as tmp:
        try:
            parse_xml(bpmn_xml, f"{process_id}.bpmn")
            base = base_version(session, process_id, municipality_id)
            loaded = load_diagram(bpmn_xml.encode("utf-8"), f"{process_id}.bpmn", _dmn_of(base))
            used = {t.form: load_form(tmp, t.form) for t in loaded.info.user_tasks() if t.form}
            dry = dryrun.dry_run(kz, loaded, used, start_at=start_at)
        except Exception:  # noqa: BLE001 - a broken draft still gets a preview with less data
            dry = None
    if dry is not None:
        element = loaded.info.elements.get(element_id)
        attached = element.attached_to if element is not None else None
        if element_id in dry.snapshots:
            context, reached = dry.snapshots[element_id], True
        elif attached and attached in dry.snapshots:
            context, reached = dry.snapshots[attached], True
        else:
            for snapshot in dry.snapshots.values():
                context.update(snapshot)
    engine = dryrun.script_engine(kz, start_at)
    try:
        value = engine.environment.evaluate(expression, dict(context))
        due = wfapi.timer_date(value) if isinstance(value, str) else None
        if due is None:
            return TimerPreview(None, f"the expression gives {value!r}, not a date", reached)
        if due.tzinfo is None:
            due = due.replace(tzinfo=BISHKEK)
        return TimerPreview(due.astimezone(BISHKEK).isoformat(), None, reached)
    except Exception as exc:  # noqa: BLE001 - the owner sees why it does not compute
        return TimerPreview(None, f"{type(exc).__name__}: {exc}", reached)


# --- problems in the owner's language ----------------------------------------------------------------------

PROBLEM_KINDS = (
    "unsafe_xml",
    "malformed",
    "xsd",
    "role",
    "form",
    "script",
    "condition",
    "timer",
    "dry_run",
    "rule_words",
    "reminders",
    "other",
)


def problem_kind(problem: Problem) -> str:
    """A category the web layer turns into a sentence in the user's language."""
    m = problem.message
    if "DOCTYPE" in m or "entit" in m.lower():
        return "unsafe_xml"
    if m.startswith("malformed XML") or m.startswith("file is"):
        return "malformed"
    if m.startswith("XSD"):
        return "xsd"
    if m.startswith("dry run"):
        return "dry_run"
    if "known role" in m or m.startswith("lane has no name") or "not in any lane" in m:
        return "role"
    if "form" in m.split(":")[0] or "has no form" in m:
        return "form"
    if m.startswith(("condition", "event condition")) or "without a condition" in m:
        return "condition"
    if m.startswith("reminder property"):
        return "reminders"
    if m.startswith("rule in words"):
        return "rule_words"
    if m.startswith("timer"):
        return "timer"
    if m.startswith(("script", "preScript", "postScript")):
        return "script"
    return "other"
