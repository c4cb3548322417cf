"""Users, their role grants and municipalities; argon2 password hashing."""

from __future__ import annotations

from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, joinedload

from engine.accounts.roles import ROLES
from engine.platform.errors import KyzmatError, NotFound
from engine.platform.models import Municipality, RoleGrant, User

_hasher = PasswordHasher()
# Verifying against a dummy hash keeps a wrong username as slow as a wrong password.
_DUMMY_HASH = _hasher.hash("kyzmat-dummy-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


# Built once: building the statement and the cache key of its eager-load option cost more than
# SQLite takes to run it (docs/benchmarks.md).
_LOAD_USER = select(User).options(joinedload(User.grants)).where(User.id == bindparam("user_id"))


def load_user(session: Session, user_id: int) -> User | None:
    """A user with their role grants in one query (every request does this)."""
    return session.execute(_LOAD_USER, {"user_id": user_id}).unique().scalar_one_or_none()


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
    check_municipality(code, names, journal_prefix)
    if session.scalar(select(Municipality.id).where(Municipality.code == code)) is not None:
        raise KyzmatError(f"Municipality {code!r} already exists.")
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


# --- administration (the admin pages and `kyzmat users ...` share these) --------------------------

MIN_PASSWORD = 8
_CODE_OK = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def list_municipalities(session: Session) -> list[Municipality]:
    return list(
        session.scalars(
            select(Municipality).order_by(Municipality.region, Municipality.district, Municipality.code)
        )
    )


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"No user {user_id}")
    return user


def user_by_username(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None:
        raise NotFound(f"No user {username!r}")
    return user


def update_user(session: Session, user: User, *, full_name: str, email: str | None, locale: str) -> User:
    if not full_name.strip():
        raise KyzmatError("A full name is required.")
    if locale not in ("ky", "ru", "en"):
        raise KyzmatError(f"Unknown language {locale!r}")
    user.full_name = full_name.strip()
    user.email = (email or "").strip() or None
    user.locale = locale
    session.flush()
    return user


def set_grants(session: Session, user: User, grants: list[tuple[str, str | None]]) -> User:
    """Replace the user's role grants with (role, municipality code or None for national)."""
    wanted = list(dict.fromkeys(grants))
    user.grants.clear()
    session.flush()
    for role, code in wanted:
        grant(session, user, role, code)
    session.flush()
    return user


def set_active(session: Session, user: User, active: bool) -> User:
    """Deactivate (or reactivate) a login; a deactivated user's sessions stop at the next request."""
    user.active = active
    session.flush()
    return user


def reset_password(session: Session, user: User, password: str) -> User:
    """Set a new password; sessions opened with the old one end (the session keeps a hash fingerprint)."""
    if len(password) < MIN_PASSWORD:
        raise KyzmatError("A password of at least 8 characters is required.")
    user.password_hash = hash_password(password)
    session.flush()
    return user


def check_municipality(code: str, names: dict[str, str], journal_prefix: str) -> None:
    if not code or set(code) - _CODE_OK or len(code) > 32:
        raise KyzmatError("The code is lowercase Latin letters, digits and dashes (at most 32).")
    if not names.get("ky", "").strip():
        raise KyzmatError("The Kyrgyz name is required.")
    if not journal_prefix.strip() or len(journal_prefix.strip()) > 8:
        raise KyzmatError("The journal prefix is 1 to 8 characters.")


def update_municipality(
    session: Session,
    row: Municipality,
    *,
    names: dict[str, str],
    journal_prefix: str,
    region: str,
    district: str,
    kind: str,
    remote_villages: list[str],
) -> Municipality:
    check_municipality(row.code, names, journal_prefix)
    if kind not in ("aiyl_okmotu", "city"):
        raise KyzmatError(f"Unknown kind {kind!r}")
    row.names = {k: v.strip() for k, v in names.items() if v and v.strip()}
    row.journal_prefix = journal_prefix.strip()
    row.region = region.strip()
    row.district = district.strip()
    row.kind = kind
    row.remote_villages = [v.strip() for v in remote_villages if v.strip()]
    session.flush()
    return row
