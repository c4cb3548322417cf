"""Settings from KYZMAT_* environment variables, with working defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _default_db_url(var_dir: Path) -> str:
    return f"sqlite:///{var_dir / 'kyzmat.sqlite3'}"


@dataclass(frozen=True)
class Settings:
    database_url: str
    var_dir: Path
    processes_dir: Path
    forms_dir: Path
    secret_key: str
    session_hours: int = 8
    attachments_dir: Path = field(default=Path("var/attachments"))
    max_attachment_bytes: int = 10 * 1024 * 1024
    base_url: str = "http://127.0.0.1:5000"
    scheduler: bool = True
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_tls: str = "starttls"  # starttls | ssl | none
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = "kyzmat@localhost"
    reminder_hour: int = 9  # reminders and digests leave at this local hour (Asia/Bishkek)
    # Reverse proxies in front of the app whose X-Forwarded-For/-Proto/-Host are trusted (0: none,
    # the headers are ignored, so a client cannot pick the address the per-address limits count).
    proxy_hops: int = 0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> Settings:
        """Read the settings from the environment; keyword overrides win."""
        env = dict(os.environ if env is None else env)
        var_dir = Path(env.get("KYZMAT_VAR_DIR", REPO_ROOT / "var"))
        values: dict[str, object] = {
            "database_url": env.get("KYZMAT_DATABASE_URL") or _default_db_url(var_dir),
            "var_dir": var_dir,
            "processes_dir": Path(env.get("KYZMAT_PROCESSES_DIR", REPO_ROOT / "processes")),
            "forms_dir": Path(env.get("KYZMAT_FORMS_DIR", REPO_ROOT / "forms")),
            "secret_key": env.get("KYZMAT_SECRET_KEY") or _secret_from_file(var_dir),
            "session_hours": int(env.get("KYZMAT_SESSION_HOURS", "8")),
            "attachments_dir": Path(env.get("KYZMAT_ATTACHMENTS_DIR", var_dir / "attachments")),
            "max_attachment_bytes": int(env.get("KYZMAT_MAX_ATTACHMENT_BYTES", str(10 * 1024 * 1024))),
            "base_url": env.get("KYZMAT_BASE_URL", "http://127.0.0.1:5000"),
            "scheduler": env.get("KYZMAT_SCHEDULER", "1") not in ("0", "false", "no"),
            "smtp_host": env.get("KYZMAT_SMTP_HOST", ""),
            "smtp_port": int(env.get("KYZMAT_SMTP_PORT", "587")),
            "smtp_tls": env.get("KYZMAT_SMTP_TLS", "starttls").lower(),
            "smtp_user": env.get("KYZMAT_SMTP_USER", ""),
            "smtp_password": env.get("KYZMAT_SMTP_PASSWORD", ""),
            "smtp_from": env.get("KYZMAT_SMTP_FROM", "kyzmat@localhost"),
            "reminder_hour": int(env.get("KYZMAT_REMINDER_HOUR", "9")),
            "proxy_hops": int(env.get("KYZMAT_PROXY_HOPS", "0")),
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


def _secret_from_file(var_dir: Path) -> str:
    """Keep a random secret in var/ so sessions survive restarts without configuration."""
    path = var_dir / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        import secrets

        var_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key
