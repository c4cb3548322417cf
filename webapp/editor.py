"""The process owner's pages: the modeler, drafts, validation, publication, versions, diff, rollback."""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Any

from flask import Blueprint, Response, abort, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from engine.accounts.roles import ROLES
from engine.bpmn.loader import Problem
from engine.calendar.days import BISHKEK
from engine.deadlines import register as deadlines
from engine.deadlines import rules as deadline_rules
from engine.deadlines.policy import PolicyError, parse_policy
from engine.definitions import drafts
from engine.definitions import history as versions
from engine.definitions import migration as case_migration
from engine.definitions import publishing as processes
from engine.forms import schema as formlib
from engine.platform.errors import Forbidden, KyzmatError, NotFound
from engine.platform.models import Municipality, User

from .auth import db, kz, login_required
from .templating import lang, local_date, tr

bp = Blueprint("editor", __name__, url_prefix="/processes")


@bp.errorhandler(Forbidden)
def _forbidden(err: Forbidden) -> Any:
    message = (
        _("Only a process owner may edit and publish processes.")
        if request.args.get("m") is None
        else _("Only a process owner of this municipality may edit and publish its variant.")
    )
    if request.is_json:
        return jsonify(ok=False, error=message), 403
    return render_template("error.html", code=403, message=message), 403


@bp.errorhandler(NotFound)
def _not_found(err: NotFound) -> Any:
    if request.is_json:
        return jsonify(ok=False, error=_("Not found.")), 404
    return render_template("error.html", code=404, message=_("Not found.")), 404


@bp.before_request
def _only_owners() -> Any:
    """Process owners only; which version they may change (national or a municipality's variant, ?m=CODE) each
    route checks through the engine functions."""
    if g.user is None:
        return login_required(lambda: None)()
    if drafts.owner_municipalities(g.user) == set():
        raise Forbidden("Only a process owner may edit and publish processes.")
    if request.view_args and "process_id" in request.view_args:  # the national version, or ?m=CODE's variant
        drafts.require_edit(g.user, request.view_args["process_id"], _mid())
    return None


def _municipality() -> Municipality | None:
    """The municipality whose variant the page is about (?m=CODE), None for the national version."""
    code = request.args.get("m")
    if code is None:
        return None
    row = db().scalar(select(Municipality).where(Municipality.code == code))
    if row is None:
        abort(404)
    return row


def _mid() -> int | None:
    row = _municipality()
    return row.id if row is not None else None


def _mq() -> dict[str, str]:
    """The ?m= argument to carry on every link of the editor."""
    row = _municipality()
    return {"m": row.code} if row is not None else {}


@bp.context_processor
def _variant_context() -> dict[str, Any]:
    if request.view_args is None or g.get("user") is None:
        return {}
    try:
        return {"mq": _mq(), "variant_of": _municipality()}
    except Exception:  # noqa: BLE001 - an unknown ?m= is answered 404 by the route itself
        return {"mq": {}, "variant_of": None}


def _problem_title(kind: str) -> str:
    titles = {
        "unsafe_xml": _("The file contains a DOCTYPE or an entity; these are not allowed."),
        "malformed": _("The file is not well-formed XML."),
        "xsd": _("The diagram does not follow the BPMN 2.0 schema."),
        "role": _("This lane's name is not a known role (or the step is in no lane)."),
        "form": _("This step has no valid form."),
        "script": _("This script is refused by the sandbox or has an error."),
        "condition": _("This condition has an error or is missing."),
        "timer": _("This deadline expression has an error."),
        "dry_run": _("The trial run along the default path failed at this element."),
        "rule_words": _(
            "The deadline changed but its rule in words did not: the deadline register would show "
            "the old rule."
        ),
        "reminders": _("The reminder settings of this step are not valid."),
    }
    return titles.get(kind, _("Problem"))


_UNKNOWN_ROLE = re.compile(r"^lane '(?P<name>[^']*)' is not a known role")
_MISSING_FORM = re.compile(r"^user task has no form: forms/(?P<path>\S+) does not exist")


def _detail(problem: Problem, kind: str) -> str:
    """The common problems in the user's language; the rest as the loader words them."""
    m = problem.message
    if kind == "unsafe_xml":
        return _(
            "Remove the DOCTYPE and any entity declarations from the file: they could make the server read "
            "other files, so diagrams may not carry them."
        )
    if kind == "role" and (found := _UNKNOWN_ROLE.match(m)):
        return _(
            "The lane is named “%(name)s”, which is not a known role. Select the lane and choose its role.",
            name=found["name"],
        )
    if kind == "form" and (found := _MISSING_FORM.match(m)):
        return _(
            "The form %(path)s does not exist. Choose a form for this step or create a new one.",
            path=found["path"],
        )
    if kind == "script" and ("invalid" in m or "not allowed" in m or "starts with" in m):
        return _(
            "The sandbox refuses this script: it may not use names starting with “_”, imports or other "
            "unsafe operations (%(reason)s).",
            reason=m,
        )
    if kind == "reminders":
        return policy_error(PolicyError(m.removeprefix("reminder property ")))
    return m


def _problems(problems: list[Problem]) -> list[dict[str, Any]]:
    out = []
    for p in problems:
        kind = drafts.problem_kind(p)
        out.append(
            {
                "element_id": p.element_id,
                "line": p.line,
                "kind": kind,
                "title": _problem_title(kind),
                "detail": _detail(p, kind),
                "technical": p.message,
            }
        )
    return out


def _payload() -> tuple[str, dict[str, Any]]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("xml"), str):
        abort(400)
    forms = body.get("forms") or {}
    if not isinstance(forms, dict):
        abort(400)
    return body["xml"], forms


def _bad_request(err: KyzmatError) -> Any:
    return jsonify(ok=False, error=_("The draft could not be saved: %(reason)s", reason=str(err))), 422


# --- pages -------------------------------------------------------------------------------------------------


@bp.route("/")
def index() -> Any:
    """The processes, national or (?m=CODE) as one municipality's owner sees them: its variant where it has one."""
    mine = drafts.owner_municipalities(g.user)
    mid = _mid()
    if mid is None and mine is not None:  # a municipality's owner works on their municipality's variants
        first = db().get(Municipality, sorted(mine)[0])
        return redirect(url_for("editor.index", m=first.code))
    drafts.require_edit(g.user, None, mid)
    rows = [
        (processes.latest_version(db(), v.process_id, mid), drafts.get_draft(db(), v.process_id, mid))
        for v in processes.latest_versions(db())
    ]
    places = list(db().scalars(select(Municipality).order_by(Municipality.code)))
    places = [p for p in places if mine is None or p.id in mine]
    return render_template("editor_list.html", rows=rows, places=places, national=mine is None)


@bp.route("/deadlines")
def register() -> Any:
    """The deadline register (as `kyzmat processes deadlines`): every timer of the published versions."""
    places = {p.id: p for p in db().scalars(select(Municipality))}
    variants = [
        (
            places[v.municipality_id],
            deadlines.ProcessDeadlines(
                v.process_id, tr(v.names), v.number, deadlines.deadlines_of(v.info, v.number, lang())
            ),
        )
        for v in processes.latest_variants(db())
    ]
    return render_template(
        "editor_deadlines.html", register=deadlines.deadline_register(db(), lang()), variants=variants
    )


@bp.route("/<process_id>/edit")
def edit(process_id: str) -> Any:
    state = drafts.open_for_editing(db(), g.user, process_id, municipality_id=_mid())
    overlay = drafts.overlay_forms(db(), process_id, state.forms, _mid())
    config = {
        "processId": process_id,
        "source": state.source,
        "urls": {
            name: url_for(f"editor.{name}", process_id=process_id, **_mq())
            for name in (
                "source",
                "save",
                "validate",
                "publish",
                "discard",
                "timer_preview",
                "rule_texts",
                "form",
                "form_check",
                "reminder_check",
            )
        },
        "roles": [{"code": code, "label": tr(role.names)} for code, role in ROLES.items()],
        "forms": drafts.form_choices(kz().settings.forms_dir, overlay, process_id),
        "today": kz().clock.now().astimezone(BISHKEK).date().isoformat(),
        "i18n": _js_texts(),
    }
    return render_template("editor.html", state=state, config=config)


@bp.route("/<process_id>/source")
def source(process_id: str) -> Any:
    state = drafts.open_for_editing(db(), g.user, process_id, municipality_id=_mid())
    return jsonify(
        xml=state.bpmn_xml,
        forms=state.forms,
        source=state.source,
        version=state.version.number if state.version else None,
    )


@bp.route("/<process_id>/draft", methods=["POST"])
def save(process_id: str) -> Any:
    xml, forms = _payload()
    try:
        draft = drafts.save_draft(
            db(), g.user, process_id, xml, forms, now=kz().clock.now(), municipality_id=_mid()
        )
        db().commit()
    except Forbidden:
        raise
    except KyzmatError as err:
        db().rollback()
        return _bad_request(err)
    return jsonify(ok=True, message=_("Draft saved."), saved_at=draft.updated_at.isoformat())


@bp.route("/<process_id>/validate", methods=["POST"])
def validate(process_id: str) -> Any:
    xml, forms = _payload()
    result = drafts.validate_draft(kz(), db(), g.user, process_id, xml, forms, municipality_id=_mid())
    timers = {k: local_date(v) for k, v in (result.dry.timers if result.dry else {}).items()}
    return jsonify(
        ok=result.ok,
        problems=_problems(result.problems),
        notes=_problems(result.notes),
        timers=timers,
        walked=result.dry.walked if result.dry else [],
        message=_("The draft passes every check and the trial run.")
        if result.ok
        else _("The draft cannot be published yet: see the problems below."),
    )


@bp.route("/<process_id>/publish", methods=["POST"])
def publish(process_id: str) -> Any:
    xml, forms = _payload()
    note = str((request.get_json(silent=True) or {}).get("note") or "")
    if not note.strip():
        return jsonify(ok=False, error=_("Write a note saying why the process changed.")), 422
    try:
        drafts.save_draft(db(), g.user, process_id, xml, forms, now=kz().clock.now(), municipality_id=_mid())
        version = drafts.publish_draft(kz(), db(), g.user, process_id, note, municipality_id=_mid())
        db().commit()
    except drafts.DraftRefused as err:
        db().rollback()
        # The draft is kept: save it on its own so nothing typed is lost.
        drafts.save_draft(db(), g.user, process_id, xml, forms, now=kz().clock.now(), municipality_id=_mid())
        db().commit()
        return jsonify(
            ok=False,
            problems=_problems(err.problems),
            error=_("Publication refused: the draft does not pass the checks."),
        ), 422
    except Forbidden:
        raise
    except KyzmatError as err:
        db().rollback()
        return _bad_request(err)
    flash(_("Version %(number)s published.", number=version.number))
    return jsonify(
        ok=True,
        version=version.number,
        url=url_for("editor.history", process_id=process_id, **_mq()),
        message=_("Version %(number)s published.", number=version.number),
    )


@bp.route("/<process_id>/discard", methods=["POST"])
def discard(process_id: str) -> Any:
    drafts.discard_draft(db(), g.user, process_id, now=kz().clock.now(), municipality_id=_mid())
    db().commit()
    if request.is_json:
        return jsonify(ok=True)
    flash(_("Draft discarded."))
    return redirect(url_for("editor.edit", process_id=process_id, **_mq()))


@bp.route("/<process_id>/timer-preview", methods=["POST"])
def timer_preview(process_id: str) -> Any:
    xml, forms = _payload()
    body = request.get_json(silent=True) or {}
    try:
        start = datetime.combine(
            datetime.strptime(str(body.get("start", "")), "%Y-%m-%d").date(), time(10, 0), tzinfo=BISHKEK
        )
    except ValueError:
        return jsonify(ok=False, error=_("Enter the sample start date as a date.")), 422
    preview = drafts.preview_timer(
        kz(),
        db(),
        g.user,
        process_id,
        xml,
        forms,
        str(body.get("element_id", "")),
        str(body.get("expression", "")),
        start,
        municipality_id=_mid(),
    )
    if preview.error:
        return jsonify(ok=False, error=_("The deadline does not compute: %(reason)s", reason=preview.error))
    return jsonify(
        ok=True,
        due=preview.due,
        reached=preview.reached,
        text=_(
            "A case started on %(start)s is due at the end of %(due)s.",
            start=local_date(start),
            due=local_date(preview.due),
        ),
    )


@bp.route("/<process_id>/rule-texts", methods=["POST"])
def rule_texts(process_id: str) -> Any:
    """The timer's name and rule in words (ky, ru, en) for a rule built in the deadline form."""
    drafts.require_edit(g.user, process_id, _mid())
    body = request.get_json(silent=True) or {}
    texts = deadline_rules.rule_texts(str(body.get("expression", ""))[:500])
    if texts is None:
        return jsonify(ok=False)
    return jsonify(ok=True, **texts)


def policy_error(err: PolicyError) -> str:
    """The loader's reminder-property refusal, in the user's language."""
    field = str(err).split(":", 1)[0]
    if field == "reminders":
        return _(
            "Reminders: write whole numbers of working days from -10 to 10, separated by commas, or none."
        )
    if field == "escalate_after":
        return _("Escalation: write a whole number of working days from 0 to 10 after the due date, or none.")
    return _("Escalate to: choose one of the roles.")


@bp.route("/<process_id>/reminder-check", methods=["POST"])
def reminder_check(process_id: str) -> Any:
    """The reminder settings of a step, checked as publication checks them (engine/reminder_policy.py)."""
    drafts.require_edit(g.user, process_id, _mid())
    body = request.get_json(silent=True) or {}
    props = {k: str(body.get(k) or "")[:200] for k in ("reminders", "escalate_after", "escalate_to")}
    try:
        policy = parse_policy({k: v for k, v in props.items() if v.strip()})
    except PolicyError as err:
        return jsonify(ok=False, error=policy_error(err))
    offsets = ", ".join(f"{o:+d}" if o else "0" for o in policy.offsets) or _("none")
    if policy.escalate_after is None:
        return jsonify(
            ok=True,
            text=_(
                "Reminders on working days %(offsets)s from the due date; no escalation.", offsets=offsets
            ),
        )
    role = (
        tr(ROLES[policy.escalate_to].names) if policy.escalate_to else _("the head of the responsible body")
    )
    return jsonify(
        ok=True,
        text=_(
            "Reminders on working days %(offsets)s from the due date; escalation %(after)s to %(role)s.",
            offsets=offsets,
            after=f"+{policy.escalate_after}",
            role=role,
        ),
    )


@bp.route("/<process_id>/form")
def form(process_id: str) -> Any:
    path = request.args.get("path", "")
    state = drafts.open_for_editing(db(), g.user, process_id, municipality_id=_mid())
    overlay = drafts.overlay_forms(db(), process_id, state.forms, _mid())
    if path in overlay:
        return jsonify(path=path, schema=overlay[path], exists=True)
    try:
        return jsonify(path=path, schema=formlib.load_form(kz().settings.forms_dir, path), exists=True)
    except (formlib.FormNotFound, ValueError):
        return jsonify(path=path, schema=_new_form_template(), exists=False)


def _new_form_template() -> dict[str, Any]:
    return {
        "type": "object",
        "x-label": {"ky": "", "ru": "", "en": ""},
        "required": [],
        "properties": {
            "done": {
                "type": "boolean",
                "title": "Аткарылды",
                "x-label": {"ky": "Аткарылды", "ru": "Выполнено", "en": "Done"},
            }
        },
    }


@bp.route("/<process_id>/form-check", methods=["POST"])
def form_check(process_id: str) -> Any:
    drafts.require_edit(g.user, process_id, _mid())
    body = request.get_json(silent=True) or {}
    schema, errors = drafts.check_form(str(body.get("text", "")))
    preview = ""
    if schema is not None and not errors:
        fields = formlib.fields(schema, lang(), {})
        preview = render_template("editor_form_preview.html", fields=fields)
    return jsonify(ok=not errors, errors=errors, preview=preview)


@bp.route("/<process_id>/versions")
def history(process_id: str) -> Any:
    mid = _mid()
    drafts.require_edit(g.user, process_id, mid)
    rows = versions.history(db(), process_id)
    if not rows:
        abort(404)
    current = processes.latest_version(db(), process_id, mid)
    movable = [
        c for c in case_migration.movable_cases(db(), process_id) if mid is None or c.municipality_id == mid
    ]
    places = {p.id: p for p in db().scalars(select(Municipality))}
    users = {r.published_by_id: db().get(User, r.published_by_id) for r in rows if r.published_by_id}
    events = versions.publications(db(), process_id)
    actors = {e.actor_id: db().get(User, e.actor_id) for e in events if e.actor_id}
    return render_template(
        "editor_versions.html",
        process_id=process_id,
        rows=rows,
        users=users,
        events=events,
        actors=actors,
        draft=drafts.get_draft(db(), process_id, mid),
        current=current,
        movable=movable,
        places=places,
    )


def _refusal(err: case_migration.MigrationRefused) -> str:
    reasons = {
        "not_running": _("Only a running case can move to another version."),
        "newest": _("The case already follows the newest version."),
        "removed": _(
            "The new version no longer has steps this case has been through or is at: %(steps)s. "
            "The case stays on its version.",
            steps=err.detail,
        ),
        "subprocess": _("A subprocess this case runs has changed; such a case stays on its version."),
        "fails": _(
            "The case does not run on the new version: %(reason)s. It stays on its version.",
            reason=err.detail,
        ),
    }
    return reasons.get(err.reason, err.reason)


@bp.route("/<process_id>/cases/<int:instance_id>/move", methods=["GET", "POST"])
def move_case(process_id: str, instance_id: int) -> Any:
    """Preview (GET) and do (POST) the move of one running case to the newest version."""
    from engine.platform.models import ProcessInstance

    instance = db().get(ProcessInstance, instance_id)
    if instance is None or instance.process_id != process_id:
        abort(404)
    drafts.require_edit(g.user, process_id, instance.municipality_id)
    try:
        if request.method == "POST":
            result = case_migration.migrate_case(kz(), db(), g.user, instance_id)
            db().commit()
            flash(
                _(
                    "Case %(case)s moved to version %(number)s.",
                    case=instance.reference or instance_id,
                    number=result.to_version,
                )
            )
            return redirect(url_for("editor.history", process_id=process_id, **_mq()))
        preview = case_migration.preview_migration(kz(), db(), instance_id)
        db().rollback()
    except case_migration.MigrationRefused as err:
        db().rollback()
        return render_template(
            "editor_move.html", process_id=process_id, instance=instance, preview=None, refusal=_refusal(err)
        ), 409
    return render_template(
        "editor_move.html", process_id=process_id, instance=instance, preview=preview, refusal=None
    )


@bp.route("/<process_id>/diff")
def diff(process_id: str) -> Any:
    try:
        old, new = int(request.args.get("old", "")), int(request.args.get("new", ""))
    except ValueError:
        abort(400)
    drafts.require_edit(g.user, process_id, _mid())
    return render_template(
        "editor_diff.html", process_id=process_id, d=versions.diff(db(), process_id, old, new)
    )


@bp.route("/<process_id>/rollback", methods=["POST"])
def rollback(process_id: str) -> Any:
    number = request.form.get("number", "")
    note = request.form.get("note", "")
    if not number.isdigit():
        abort(400)
    try:
        version = versions.rollback(kz(), db(), g.user, process_id, int(number), note, municipality_id=_mid())
        db().commit()
    except drafts.NoteRequired:
        db().rollback()
        flash(_("Write a note saying why the process changed."), "error")
    except drafts.DraftRefused as err:
        db().rollback()
        flash(
            _("Publication refused: the draft does not pass the checks.")
            + " "
            + "; ".join(str(p) for p in err.problems[:3]),
            "error",
        )
    except Forbidden:
        raise
    except KyzmatError:
        db().rollback()
        flash(_("That version is already the newest content."), "error")
    else:
        flash(_("Version %(old)s published again as version %(number)s.", old=number, number=version.number))
    return redirect(url_for("editor.history", process_id=process_id, **_mq()))


@bp.route("/<process_id>/versions/<int:number>.bpmn")
def export(process_id: str, number: int) -> Any:
    drafts.require_edit(g.user, process_id, _mid())
    name, data = versions.export_bpmn(db(), process_id, number)
    return Response(
        data, mimetype="application/xml", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@bp.route("/<process_id>/import", methods=["POST"])
def import_file(process_id: str) -> Any:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Choose a .bpmn file to import."), "error")
        return redirect(url_for("editor.history", process_id=process_id, **_mq()))
    try:
        versions.import_bpmn(
            db(),
            g.user,
            process_id,
            upload.read(drafts.MAX_BYTES + 1),
            now=kz().clock.now(),
            municipality_id=_mid(),
        )
        db().commit()
    except drafts.DraftRefused as err:
        db().rollback()
        flash(_problem_title(drafts.problem_kind(err.problems[0])) + " " + err.problems[0].message, "error")
        return redirect(url_for("editor.history", process_id=process_id, **_mq()))
    except Forbidden:
        raise
    except KyzmatError as err:
        db().rollback()
        flash(_("The file could not be imported: %(reason)s", reason=str(err)), "error")
        return redirect(url_for("editor.history", process_id=process_id, **_mq()))
    flash(_("The file is now the draft. Validate it before publishing."))
    return redirect(url_for("editor.edit", process_id=process_id, **_mq()))


def _js_texts() -> dict[str, str]:
    """Every text editor.js shows, in the user's language."""
    return {
        "element": _("Element"),
        "nameKy": _("Name in Kyrgyz"),
        "nameRu": _("Name in Russian"),
        "nameEn": _("Name in English"),
        "role": _("Role of this lane"),
        "form": _("Form of this step"),
        "defaultForm": _("the step's own form"),
        "newForm": _("a new form…"),
        "editForm": _("Edit the form"),
        "deadline": _("Deadline"),
        "rule": _("Rule"),
        "ruleNext": _("the next working day after"),
        "ruleWorking": _("N working days after"),
        "ruleDays": _("N calendar days after"),
        "ruleFixed": _("a fixed date each year"),
        "ruleCustom": _("an expression"),
        "from": _("counted from"),
        "days": _("number of days"),
        "month": _("month"),
        "day": _("day"),
        "expression": _("Expression"),
        "sampleStart": _("Sample start date"),
        "preview": _("Preview the date"),
        "apply": _("Apply"),
        "reminders": _("Reminders and escalation"),
        "reminderOffsets": _(
            "Reminders: working days from the due date, separated by commas (-2: two working days "
            "before, 0: the due day, 1: the day after). Empty: -2, 0, 1. none: no reminders."
        ),
        "escalateAfter": _(
            "Escalate this many working days after the due date. Empty: 1. none: no escalation."
        ),
        "escalateTo": _("Escalate to"),
        "escalateDefault": _("the head of the responsible body (default)"),
        "nothingSelected": _("Select an element in the diagram to edit its properties."),
        "saved": _("Draft saved."),
        "problems": _("Problems"),
        "notes": _("Notes"),
        "noProblems": _("No problems."),
        "noteRequired": _("Write a note saying why the process changed."),
        "working": _("Working…"),
        "formErrors": _("The form has errors:"),
        "formOk": _("The form is valid. Preview:"),
        "close": _("Close"),
        "unsaved": _("There are unsaved changes."),
        "deadlines": _("Deadlines in the trial run"),
        "error": _("Error"),
        "ruleKy": _("Rule in words, Kyrgyz (the deadline register shows it)"),
        "ruleRu": _("Rule in words, Russian"),
        "ruleEn": _("Rule in words, English"),
        "rulesRegenerated": _(
            "The name and the rule in words follow the new deadline; check them before applying."
        ),
    }
