"""Users, their role grants and municipalities; argon2 password hashing."""

from __future__ import annotations

from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from .errors import KyzmatError, NotFound
from .models import Municipality, RoleGrant, User
from .roles import ROLES

_hasher = PasswordHasher()
# Verifying against a dummy hash keeps a wrong username as slow as a wrong password.
_DUMMY_HASH = _hasher.hash("kyzmat-dummy-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def load_user(session: Session, user_id: int) -> User | None:
    """A user with their role grants in one query (every request does this)."""
    return session.get(User, user_id, options=[joinedload(User.grants)])


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with these credentials, or None."""
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    full_name: str,
    now: datetime,
    grants: list[tuple[str, str | None]] = (),  # type: ignore[assignment]
    email: str | None = None,
    locale: str = "ky",
) -> User:
    """Create a user with (role, municipality code or None for national) grants."""
    username = username.strip().lower()
    if not username or len(password) < 8:
        raise KyzmatError("A username and a password of at least 8 characters are required.")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise KyzmatError(f"User {username!r} already exists.")
    user = User(
        username=username,
        password_hash=hash_password(password),
        full_name=full_name,
        email=email,
        locale=locale,
        created_at=now,
    )
    session.add(user)
    for role, code in grants:
        grant(session, user, role, code)
    session.flush()
    return user


def grant(session: Session, user: User, role: str, municipality_code: str | None) -> RoleGrant:
    if role not in ROLES:
        raise KyzmatError(f"Unknown role {role!r}; known roles: {', '.join(ROLES)}")
    municipality_id = None
    if municipality_code is not None:
        municipality_id = municipality_by_code(session, municipality_code).id
    elif not ROLES[role].national and role != "process_owner":
        raise KyzmatError(f"Role {role} is held in a municipality; name one.")
    row = RoleGrant(role=role, municipality_id=municipality_id)
    user.grants.append(row)
    return row


def municipality_by_code(session: Session, code: str) -> Municipality:
    row = session.scalar(select(Municipality).where(Municipality.code == code))
    if row is None:
        raise NotFound(f"No municipality with code {code!r}")
    return row


def create_municipality(
    session: Session,
    *,
    code: str,
    names: dict[str, str],
    journal_prefix: str,
    region: str = "",
    district: str = "",
    kind: str = "aiyl_okmotu",
    remote_villages: list[str] | None = None,
) -> Municipality:
    row = Municipality(
        code=code,
        names=names,
        journal_prefix=journal_prefix,
        region=region,
        district=district,
        kind=kind,
        remote_villages=remote_villages or [],
        settings={},
    )
    session.add(row)
    session.flush()
    return row
