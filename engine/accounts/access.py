"""Who may do what: every check the web app relies on lives here, on the server."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.accounts.roles import ROLES
from engine.platform.errors import Forbidden
from engine.platform.models import HumanTask, ProcessInstance, User


def holds(user: User, role: str, municipality_id: int | None) -> bool:
    """Whether the user holds `role` for that municipality (a national grant covers all)."""
    for grant in user.grants:
        if grant.role != role:
            continue
        if grant.municipality_id is None or grant.municipality_id == municipality_id:
            return True
    return False


def municipality_ids(user: User) -> set[int | None]:
    """The municipalities the user works in; None stands for a national grant."""
    return {g.municipality_id for g in user.grants}


def is_national(user: User) -> bool:
    return any(g.municipality_id is None for g in user.grants)


def may_act_on(user: User, task: HumanTask) -> bool:
    return user.active and holds(user, task.role, task.municipality_id)


def require_act_on(user: User, task: HumanTask) -> None:
    if not may_act_on(user, task):
        raise Forbidden("This step belongs to another role or municipality.")


def may_view_case(user: User, instance: ProcessInstance) -> bool:
    if not user.active:
        return False
    scopes = municipality_ids(user)
    if None in scopes:
        return True
    return instance.municipality_id in scopes


def require_view_case(user: User, instance: ProcessInstance) -> None:
    if not may_view_case(user, instance):
        raise Forbidden("This case belongs to another municipality.")


def took_part(user: User, tasks: Iterable[HumanTask]) -> bool:
    """Whether one of these steps is or was the user's: their role there, or claimed or completed by them."""
    return user.active and any(
        t.claimed_by_id == user.id or t.completed_by_id == user.id or holds(user, t.role, t.municipality_id)
        for t in tasks
    )


def require_read_case(session: Session, user: User, instance: ProcessInstance) -> None:
    """The case page and its diagram: the case's municipality, or anyone involved in one of its steps.

    A provider's specialist acts on their branch of a national case (Process E) without any grant for
    the case itself; being involved lets them read the case, and nothing more (no files, no lists).
    """
    if may_view_case(user, instance):
        return
    if not took_part(user, session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id))):
        raise Forbidden("This case belongs to another municipality.")


def may_start(user: User, starter_roles: list[str], municipality_id: int | None) -> bool:
    return user.active and any(holds(user, role, municipality_id) for role in starter_roles)


def role_names(code: str) -> dict[str, str]:
    role = ROLES.get(code)
    return role.names if role else {"ky": code, "ru": code, "en": code}
