"""The bell, the notification list, the profile, the administrators' e-mail page, the overdue dashboard
and the calendar administration page, through Flask's test client."""

from __future__ import annotations

import time_machine
from sqlalchemy import select

import webapp
from engine.deadlines import reminders
from engine.platform.models import EmailOutbox, HumanTask, Notification
from engine.runtime import cases
from tests.test_reminders import START, local, prepared  # noqa: F401 - the fixture
from tests.test_web import body_text, html, login


def client_for(kz, username):
    app = webapp.create_app({"TESTING": True, "WTF_CSRF_ENABLED": False}, kyzmat=kz)
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def bell(client) -> str:
    page = html(client.get("/notifications"))
    start = page.index('id="bell-count">') + len('id="bell-count">')
    return page[start : page.index("<", start)]


def test_bell_counts_unread_reminders_and_mark_as_read(kz, session, prepared):  # noqa: F811
    with time_machine.travel(local(23, 10), tick=False):
        specialist = client_for(kz, "specialist")
        assert bell(specialist) == "0"
        reminders.send_due_reminders(kz, session, kz.clock.now())
        session.flush()
        assert bell(specialist) == "1"
        text = body_text(html(specialist.get("/notifications")))
        assert (
            "Бүгүн бүтөт" in text and "Жыйынтыкты даярдоо (айыл өкмөтү)" in text and "DS-2026-00001" in text
        )
        note = session.scalar(select(Notification).where(Notification.task_id == prepared.id))
        # Someone else cannot mark it read.
        head = client_for(kz, "head")
        head.post("/notifications/read", data={"id": str(note.id)})
        assert bell(specialist) == "1"
        resp = specialist.post("/notifications/read", data={"id": str(note.id)})
        assert resp.status_code == 302
        assert bell(specialist) == "0"
        assert "Окулду" in body_text(html(specialist.get("/notifications")))


def test_profile_sets_email_and_digest_and_keeps_bad_input(kz, session, prepared, user):  # noqa: F811
    with time_machine.travel(START, tick=False):
        client = client_for(kz, "specialist")
        resp = client.post("/profile", data={"email": "not an address", "email_digest": "1"})
        assert resp.status_code == 422
        page = html(resp)
        assert "Туура электрондук почта дарегин жазыңыз" in body_text(page)
        assert 'value="not an address"' in page
        resp = client.post("/profile", data={"email": "adis@example.kg", "email_digest": "1"})
        assert resp.status_code == 302
    specialist = user("specialist")
    session.refresh(specialist)
    assert (specialist.email, specialist.email_digest) == ("adis@example.kg", True)


def test_failed_emails_are_shown_to_administrators_only(kz, session, prepared, user):  # noqa: F811
    specialist = user("specialist")
    specialist.email = "adis@example.kg"
    session.flush()
    with time_machine.travel(local(23, 10), tick=False):
        reminders.send_due_reminders(kz, session, kz.clock.now())
        row = session.scalar(select(EmailOutbox))
        row.attempts, row.last_error, row.status = 8, "ConnectionRefusedError: [Errno 111]", "failed"
        session.flush()
        assert client_for(kz, "specialist").get("/admin/outbox").status_code == 403
        admin = client_for(kz, "admin")
        page = body_text(html(admin.get("/admin/outbox")))
        assert "adis@example.kg" in page and "ConnectionRefusedError" in page
        assert admin.post(f"/admin/outbox/{row.id}/retry").status_code == 302
        session.refresh(row)
        assert row.status == "pending"


def test_overdue_dashboard_for_heads_and_national_users(kz, session, prepared, user):  # noqa: F811
    with time_machine.travel(local(24, 10), tick=False):
        assert client_for(kz, "operator").get("/deadlines").status_code == 403
        page = body_text(html(client_for(kz, "head").get("/deadlines?from=2026-11-01&to=2026-11-30")))
        assert "Жыйынтыкты даярдоо (айыл өкмөтү) 1 1" in page  # one open, one overdue
        assert "1 / 1" in page or "1 кадамдан 1" in page  # D_10_forward was done on time
        cases.complete_task(
            kz,
            session,
            user("specialist"),
            prepared.id,
            {"outcome": "document", "document_number": "7", "result_transferred_to_csc": True},
        )
        session.flush()
        page = body_text(html(client_for(kz, "ministry").get("/deadlines?from=2026-11-01&to=2026-11-30")))
        assert "50.0%" in page  # D_11 finished a day late: 1 of 2 on time
        assert "Жыйынтыкты даярдоо (айыл өкмөтү) 1 0 0.0%" in page
        # Another municipality's head sees none of it.
        from engine.accounts import users as accounts

        accounts.create_user(
            session,
            username="head2",
            password="kyzmat-demo",
            full_name="Башчы",
            now=kz.clock.now(),
            grants=[("ao_head", "kyzyl-adyr")],
        )
        page = body_text(html(client_for(kz, "head2").get("/deadlines?from=2026-11-01&to=2026-11-30")))
        assert "Жыйынтыкты даярдоо" not in page


def test_calendar_page_changes_do_not_move_computed_deadlines(kz, session, prepared, user):  # noqa: F811
    due_before = prepared.due_at
    with time_machine.travel(START, tick=False):
        assert client_for(kz, "head").get("/admin/calendar").status_code == 403
        admin = client_for(kz, "admin")
        page = body_text(html(admin.get("/admin/calendar?year=2026")))
        assert "Жаңы жыл" in page  # the law's holidays, in Kyrgyz
        assert "мурда эсептелген мөөнөттөрдү жылдырбайт" in page
        resp = admin.post(
            "/admin/calendar?year=2026", data={"day": "2026-11-20", "kind": "day-off", "reason": ""}
        )
        assert resp.status_code == 422 and 'value="2026-11-20"' in html(resp)
        resp = admin.post(
            "/admin/calendar?year=2026",
            data={"day": "2026-11-20", "kind": "day-off", "reason": "Өкмөттүн токтому №1"},
        )
        assert resp.status_code == 302
        assert "Өкмөттүн токтому №1" in body_text(html(admin.get("/admin/calendar?year=2026")))
    session.refresh(prepared)
    assert prepared.due_at == due_before  # Mon 23 Nov, as computed before the decree
    # A case registered after the change counts Friday 20 Nov as a day off: 3 working days end Tue 24.
    from tests.test_process_d_scenarios import ALL_DOCS, Walk, intake

    walk = Walk(kz, session, user)
    with time_machine.travel(START, tick=False):
        intake(walk, "M2")
        walk.complete(
            "D_06_check_documents", {"documents_received": ALL_DOCS["M2"], "documents_complete": True}
        )
    assert walk.data()["result_due"] == "2026-11-24T23:59:59+06:00"
    with time_machine.travel(START, tick=False):
        admin.post("/admin/calendar?year=2026", data={"day": "2026-11-20", "action": "remove"})
    assert session.scalar(select(HumanTask.due_at).where(HumanTask.id == prepared.id)) == due_before
