"""E-mail through a real SMTP server (aiosmtpd) started by the test: delivery, a refusing server
retried with back-off, failures visible to administrators, the workflow never blocked."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
import time_machine
from aiosmtpd.controller import Controller
from sqlalchemy import select

from engine.deadlines import reminders
from engine.notifications import mailer
from engine.platform.models import EmailOutbox
from tests.test_reminders import local, prepared  # noqa: F401 - the fixture


class Inbox:
    """An aiosmtpd handler that refuses the first `refuse` messages with a temporary error."""

    def __init__(self, refuse: int = 0) -> None:
        self.refuse = refuse
        self.received: list = []
        self.refused = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        if self.refused < self.refuse:
            self.refused += 1
            return "451 4.3.0 Mailbox busy, try again later"
        self.received.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server(request) -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox(refuse=getattr(request, "param", 0))
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
def mailing(kz, smtp_server):
    inbox, port = smtp_server
    kz.settings = dataclasses.replace(
        kz.settings,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_tls="none",
        smtp_from="kyzmat@sadyrbaev.kg",
        base_url="https://kyzmat.example.kg",
    )
    return inbox


def queue_reminders(kz, session, user, moment, head_email="head@example.kg"):
    specialist, head = user("specialist"), user("head")
    specialist.email, specialist.locale = "specialist@example.kg", "ru"
    head.email = head_email
    session.flush()
    with time_machine.travel(moment, tick=False):
        reminders.send_due_reminders(kz, session, kz.clock.now())
    session.flush()


def test_reminders_reach_a_real_smtp_server(kz, session, user, prepared, mailing):  # noqa: F811
    queue_reminders(kz, session, user, local(24, 10))
    with time_machine.travel(local(24, 10, 1), tick=False):
        assert mailer.deliver_outbox(kz, kz.clock.now()) == 2
        assert mailer.deliver_outbox(kz, kz.clock.now()) == 0  # sent once
    by_to = {m["To"]: m for m in mailing.received}
    assert set(by_to) == {"specialist@example.kg", "head@example.kg"}
    ru = by_to["specialist@example.kg"]
    assert ru["Subject"] == "Срок истёк: «Подготовить результат (айыл окмоту)»"
    assert "kyzmat@sadyrbaev.kg" in ru["From"]
    body = ru.get_content()
    assert f"https://kyzmat.example.kg/tasks/{prepared.id}" in body and "DS-2026-" in body
    assert by_to["head@example.kg"]["Subject"].startswith("Мөөнөтү өткөн кадам")
    statuses = set(session.scalars(select(EmailOutbox.status)))
    assert statuses == {"sent"}


@pytest.mark.parametrize("smtp_server", [2], indirect=True)
def test_a_refusing_server_is_retried_with_back_off(kz, session, user, prepared, mailing):  # noqa: F811
    queue_reminders(kz, session, user, local(24, 10), head_email=None)
    start = local(24, 10, 1)
    with time_machine.travel(start, tick=False):
        assert mailer.deliver_outbox(kz, kz.clock.now()) == 0
    row = session.scalar(select(EmailOutbox))
    session.refresh(row)
    assert (row.status, row.attempts) == ("pending", 1)
    assert "451" in row.last_error and row.next_attempt_at == start + timedelta(minutes=1)
    assert [r.id for r in mailer.troubled(session)] == [row.id]  # the administrators' page lists it
    with time_machine.travel(start + timedelta(seconds=30), tick=False):
        assert mailer.deliver_outbox(kz, kz.clock.now()) == 0  # not due yet: nothing tried
    assert mailing.refused == 1
    with time_machine.travel(start + timedelta(minutes=1, seconds=1), tick=False):
        assert mailer.deliver_outbox(kz, kz.clock.now()) == 0  # refused again: now wait 2 minutes
    session.refresh(row)
    assert row.attempts == 2 and row.next_attempt_at == start + timedelta(minutes=3, seconds=1)
    with time_machine.travel(start + timedelta(minutes=3, seconds=2), tick=False):
        assert mailer.deliver_outbox(kz, kz.clock.now()) == 1
    session.refresh(row)
    assert row.status == "sent" and len(mailing.received) == 1
    assert mailer.troubled(session) == []


def test_an_unreachable_server_gives_up_visibly_and_never_blocks_the_case(kz, session, user, prepared):  # noqa: F811
    from engine.runtime import cases

    kz.settings = dataclasses.replace(
        kz.settings, smtp_host="127.0.0.1", smtp_port=free_port(), smtp_tls="none"
    )
    queue_reminders(kz, session, user, local(24, 10))
    moment = local(24, 10, 1)
    for _ in range(mailer.MAX_ATTEMPTS):
        with time_machine.travel(moment, tick=False):
            assert mailer.deliver_outbox(kz, kz.clock.now()) == 0
        moment += mailer.LONGEST_RETRY
    rows = session.scalars(select(EmailOutbox)).all()
    for row in rows:
        session.refresh(row)
    assert {(r.status, r.attempts) for r in rows} == {("failed", mailer.MAX_ATTEMPTS)}
    assert all("ConnectionRefusedError" in r.last_error for r in rows)
    assert len(mailer.troubled(session)) == 2
    # The step is still there to be done, and doing it works.
    with time_machine.travel(moment, tick=False):
        cases.complete_task(
            kz,
            session,
            user("specialist"),
            prepared.id,
            {"outcome": "document", "document_number": "7", "result_transferred_to_csc": True},
        )
    # An administrator puts one back in the queue.
    assert mailer.retry(session, rows[0].id, moment)
    session.refresh(rows[0])
    assert rows[0].status == "pending"


def test_back_off_doubles_up_to_two_hours():
    assert [mailer.backoff(n).total_seconds() / 60 for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert mailer.backoff(20) == timedelta(hours=2)
