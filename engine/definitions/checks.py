"""The checks of `kyzmat processes check`: the safe loader's own plus this domain's conventions
(lanes are known roles, forms are valid, reminder properties parse)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from pathlib import Path

from engine.accounts.roles import KNOWN_ROLES
from engine.bpmn import loader
from engine.bpmn.loader import Conventions, Problem
from engine.deadlines.policy import PolicyError, parse_policy
from engine.forms.schema import check_form_schema


def _reminder_problems(properties: dict[str, str]) -> list[str]:
    try:
        parse_policy(properties)  # reminder properties (docs/modelling.md)
    except PolicyError as err:
        return [f"reminder property {err}"]
    return []


CONVENTIONS = Conventions(
    known_roles=frozenset(KNOWN_ROLES), check_form=check_form_schema, check_step_properties=_reminder_problems
)


def check_diagram(
    bpmn: bytes,
    filename: str,
    *,
    forms_dir: Path,
    dmn: dict[str, bytes] | None = None,
    known_roles: Collection[str] | None = None,
) -> list[Problem]:
    """Every problem of one diagram ([] when it is clean); never raises for a bad diagram."""
    conventions = (
        CONVENTIONS if known_roles is None else replace(CONVENTIONS, known_roles=frozenset(known_roles))
    )
    return loader.check_diagram(bpmn, filename, forms_dir=forms_dir, dmn=dmn, conventions=conventions)


def check_files(paths: list[Path], *, forms_dir: Path) -> list[Problem]:
    """Each .bpmn (directories are searched) with the .dmn files beside it, plus the naming conventions."""
    return loader.check_files(paths, forms_dir=forms_dir, conventions=CONVENTIONS)
