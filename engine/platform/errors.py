"""Errors the engine raises to its callers; each carries a message fit for a user."""

from __future__ import annotations


class KyzmatError(Exception):
    """Base of the engine's own errors."""


class NotInitialised(KyzmatError):
    """The database has no schema yet."""

    def __init__(self, url: str) -> None:
        super().__init__(
            f"The database at {url} is not initialised. Run `kyzmat init` first "
            "(or `make run`, which does it for you)."
        )


class NotFound(KyzmatError):
    pass


class Forbidden(KyzmatError):
    pass


class Conflict(KyzmatError):
    """A stale write: somebody else changed the case first."""


class InvalidData(KyzmatError):
    """Submitted form data failed validation; `errors` maps field paths to messages."""

    def __init__(self, errors: dict[str, str], data: dict | None = None) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors
        self.data = data or {}


class ScriptFailed(KyzmatError):
    """A script, condition or timer expression in a diagram failed or was refused."""

    def __init__(self, message: str, element_id: str | None = None) -> None:
        super().__init__(message)
        self.element_id = element_id
