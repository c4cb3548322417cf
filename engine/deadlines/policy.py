"""A user task's reminder policy, read from its diagram properties (checked when a diagram is published)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_OFFSETS = (-2, 0, 1)
DEFAULT_ESCALATE_AFTER = 1
MAX_OFFSET = 10  # working days either side of the due date


class PolicyError(ValueError):
    """A reminder property on a user task that cannot be read."""


@dataclass(frozen=True)
class Policy:
    """When a step's reminders go out: offsets in working days from the due date, and the escalation."""

    offsets: tuple[int, ...] = DEFAULT_OFFSETS
    escalate_after: int | None = DEFAULT_ESCALATE_AFTER
    escalate_to: str | None = (
        None  # None: ao_head for municipal steps, authorized_body_head for national ones
    )


def _offset(text: str, name: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise PolicyError(f"{name}: {text.strip()!r} is not a whole number of working days") from None
    if abs(value) > MAX_OFFSET:
        raise PolicyError(f"{name}: {value} is more than {MAX_OFFSET} working days from the due date")
    return value


def parse_policy(properties: dict[str, str] | None) -> Policy:
    """Read the `reminders`, `escalate_after` and `escalate_to` properties of a user task."""
    from engine.accounts.roles import ROLES

    props = properties or {}
    offsets: tuple[int, ...] = DEFAULT_OFFSETS
    raw = props.get("reminders")
    if raw is not None:
        offsets = (
            ()
            if raw.strip().lower() in ("", "none")
            else tuple(sorted({_offset(part, "reminders") for part in raw.split(",")}))
        )
    escalate_after: int | None = DEFAULT_ESCALATE_AFTER
    raw = props.get("escalate_after")
    if raw is not None:
        escalate_after = None if raw.strip().lower() in ("", "none") else _offset(raw, "escalate_after")
        if escalate_after is not None and escalate_after < 0:
            raise PolicyError("escalate_after: escalation comes on or after the due date")
    escalate_to = (props.get("escalate_to") or "").strip() or None
    if escalate_to is not None and escalate_to not in ROLES:
        raise PolicyError(f"escalate_to: {escalate_to!r} is not a role")
    return Policy(offsets, escalate_after, escalate_to)
