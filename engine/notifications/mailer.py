"""The e-mail outbox: rows are claimed in a short transaction, sent outside it, then marked.

A worker killed between claim and mark loses nothing: the claim expires and another worker sends it
(at worst once more). A failure is retried with exponential back-off; after MAX_ATTEMPTS the row
stays `failed` for an administrator to see and retry. Nothing here ever blocks a case."""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from engine.platform.config import Settings
from engine.platform.db import transaction
from engine.platform.models import EmailOutbox
from engine.runtime.context import Kyzmat

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
CLAIM = timedelta(minutes=5)
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=2)


def backoff(attempts: int) -> timedelta:
    """The wait after the n-th failed attempt: 1, 2, 4, ... minutes, at most two hours."""
    return min(FIRST_RETRY * (2 ** max(0, attempts - 1)), LONGEST_RETRY)


@dataclass
class _Mail:
    id: int
    to_addr: str
    subject: str
    body: str


def _connect(settings: Settings) -> smtplib.SMTP:
    context = ssl.create_default_context()
    if settings.smtp_tls == "ssl":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(
            settings.smtp_host, settings.smtp_port, timeout=30, context=context
        )
    else:
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30)
        if settings.smtp_tls == "starttls":
            smtp.starttls(context=context)
    if settings.smtp_user:
        smtp.login(settings.smtp_user, settings.smtp_password)
    return smtp


def _message(settings: Settings, mail: _Mail) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = formataddr(("Кызмат", settings.smtp_from))
    msg["To"] = mail.to_addr
    msg["Subject"] = mail.subject
    msg["Message-ID"] = make_msgid(domain=settings.smtp_from.rpartition("@")[2] or "kyzmat")
    msg.set_content(mail.body)
    return msg


def claim(session: Session, now: datetime, limit: int) -> list[_Mail]:
    rows = list(
        session.scalars(
            select(EmailOutbox)
            .where(
                EmailOutbox.status == "pending",
                EmailOutbox.next_attempt_at <= now,
                or_(EmailOutbox.claimed_until.is_(None), EmailOutbox.claimed_until < now),
            )
            .order_by(EmailOutbox.next_attempt_at, EmailOutbox.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    for row in rows:
        row.claimed_until = now + CLAIM
    session.flush()
    return [_Mail(r.id, r.to_addr, r.subject, r.body) for r in rows]


def deliver_outbox(kz: Kyzmat, now: datetime, limit: int = 50) -> int:
    """Send what is due in the outbox; return the number of e-mails sent."""
    if not kz.settings.smtp_host:
        return 0
    with transaction(kz.sessions) as session:
        mails = claim(session, now, limit)
    if not mails:
        return 0
    errors: dict[int, str] = {}
    try:
        smtp = _connect(kz.settings)
    except (OSError, smtplib.SMTPException) as err:
        errors = {m.id: f"{type(err).__name__}: {err}" for m in mails}
    else:
        with smtp:
            for mail in mails:
                try:
                    smtp.send_message(_message(kz.settings, mail))
                except (OSError, smtplib.SMTPException) as err:
                    errors[mail.id] = f"{type(err).__name__}: {err}"
    done = kz.clock.now()
    with transaction(kz.sessions) as session:
        for mail in mails:
            row = session.get(EmailOutbox, mail.id)
            if row is None:
                continue
            row.claimed_until = None
            if mail.id in errors:
                row.attempts += 1
                row.last_error = errors[mail.id][:2000]
                row.next_attempt_at = done + backoff(row.attempts)
                if row.attempts >= MAX_ATTEMPTS:
                    row.status = "failed"
                log.warning(
                    "e-mail %s to %s failed (attempt %s): %s",
                    row.id,
                    row.to_addr,
                    row.attempts,
                    row.last_error,
                )
            else:
                row.status, row.sent_at, row.last_error = "sent", done, None
    return len(mails) - len(errors)


def next_attempt_due(session: Session, now: datetime) -> datetime | None:
    """When the next e-mail may be sent (one another worker holds counts from the end of its claim)."""
    from sqlalchemy import func

    free = session.scalar(
        select(func.min(EmailOutbox.next_attempt_at)).where(
            EmailOutbox.status == "pending",
            or_(EmailOutbox.claimed_until.is_(None), EmailOutbox.claimed_until < now),
        )
    )
    held = session.scalar(
        select(func.min(EmailOutbox.claimed_until)).where(
            EmailOutbox.status == "pending", EmailOutbox.claimed_until >= now
        )
    )
    return min([d for d in (free, held) if d is not None], default=None)


def troubled(session: Session, limit: int = 200) -> list[EmailOutbox]:
    """E-mails that failed at least once and are not sent: what an administrator needs to see."""
    return list(
        session.scalars(
            select(EmailOutbox)
            .where(EmailOutbox.status != "sent", EmailOutbox.attempts > 0)
            .order_by(EmailOutbox.status, EmailOutbox.next_attempt_at)
            .limit(limit)
        )
    )


def retry(session: Session, email_id: int, now: datetime) -> bool:
    """Put a failed e-mail back in the queue now (an administrator's action)."""
    result = session.execute(
        update(EmailOutbox)
        .where(EmailOutbox.id == email_id, EmailOutbox.status != "sent")
        .values(status="pending", next_attempt_at=now, claimed_until=None)
    )
    session.flush()
    return bool(result.rowcount)  # type: ignore[attr-defined]
