"""Mail through a real SMTP server on loopback (aiosmtpd): escalation notices from the
sweep's events, morning digests, both parts, no PHI, exactly once, retries."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from models import Notification, NotificationKind, NotificationStatus, Task, TaskStatus
from services.engine.escalation import escalation_sweep
from services.engine.sweep import execute_run, start_run
from services.notifications import (
    MAX_ATTEMPTS,
    LogTransport,
    MailContext,
    SmtpTransport,
    plan_digests,
    plan_event_notices,
    send_pending,
)
from sopflow.config import MailSettings
from tests.support.factories import make_site, make_sop_version, make_task, make_user
from tests.support.smtp import free_port, smtp_server
from tests.support.world import RENEWAL, add_patient, build_world, load_sop

CONTEXT = MailContext("https://sopflow.example.org", "sopflow@example.test")
PHI = ("Marisol", "Quintanilla", "Chronic pain", "marisol@example.test", "RFL000001")


def renewal_world(session):  # type: ignore[no-untyped-def]
    """One FL patient whose reminder task is due Monday 16 Nov 2026 (end of day)."""
    world = build_world(session)
    patient = add_patient(
        session,
        world.fl,
        1,
        card_expires_on=date(2026, 12, 31),
        qualifying_condition="Chronic pain",
        email="marisol@example.test",
    )
    patient.first_name, patient.last_name = "Marisol", "Quintanilla"
    load_sop(session, RENEWAL)
    run = start_run(session, "test-renewal", "schedule", now=datetime(2026, 11, 1, 12, tzinfo=UTC))
    session.commit()
    execute_run(session, run)
    task = session.scalar(select(Task).where(Task.step_id == "remind"))
    return world, task


def sweep_and_mail(session, server, day: int, hour: int = 12):  # type: ignore[no-untyped-def]
    """Run the escalation sweep at 2026-11-<day> <hour>:00Z, then plan and send its mail."""
    now = datetime(2026, 11, day, hour, tzinfo=UTC)
    escalation_sweep(session, now)
    session.commit()
    plan_event_notices(session, now)
    session.commit()
    return send_pending(session, SmtpTransport(server.settings()), CONTEXT, now)


def subject(message) -> str:  # type: ignore[no-untyped-def]
    """The Subject as a reader sees it (CPython's parser keeps a fold's leading space)."""
    return " ".join(str(message["Subject"]).split())


def assert_clean(message) -> None:  # type: ignore[no-untyped-def]
    """Both parts present, machine-sent headers, and no PHI anywhere in the message."""
    assert message["From"] == "sopflow <sopflow@example.test>"
    assert message["Message-ID"] and message["Date"]
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    raw = message.as_string()
    for detail in PHI:
        assert detail not in raw


def test_escalation_events_become_mail_to_the_right_people_exactly_once(session):
    world, task = renewal_world(session)
    assignee = world.vas[[v.id for v in world.vas].index(task.assignee_id)]
    with smtp_server() as server:
        report = sweep_and_mail(session, server, 16, 6)  # within a day of the deadline
        assert len(report.sent) == 1
        (warning,) = server.messages
        assert warning["To"] == f"{assignee.name} <{assignee.email}>"
        assert subject(warning) == ("[sopflow] Due Mon 16 Nov 2026: Reminder · FL-Tampa · #P-1")
        assert_clean(warning)
        text = warning.get_body(("plain",)).get_content()
        html = warning.get_body(("html",)).get_content()
        for body in (text, html):
            assert f"https://sopflow.example.org/tasks/{task.id}" in body
            assert "Reminder · FL-Tampa · #P-1" in body and "Mon 16 Nov 2026" in body

        # The same sweep and plan again, an hour later: nothing new to anyone.
        assert sweep_and_mail(session, server, 16, 7).sent == []
        plan_event_notices(session, datetime(2026, 11, 16, 7, tzinfo=UTC))
        session.commit()
        assert len(server.messages) == 1

        assert len(sweep_and_mail(session, server, 17).sent) == 1  # overdue reminder
        assert subject(server.messages[-1]).startswith("[sopflow] Overdue: Reminder")
        sweep_and_mail(session, server, 18)
        sweep_and_mail(session, server, 19)
        before = len(server.messages)
        sweep_and_mail(session, server, 20)  # 3 business days overdue: to the managers
        escalations = [m for m in server.messages[before:] if "Escalated" in subject(m)]
        assert [m["To"] for m in escalations] == [f"{world.manager.name} <manager@example.test>"]
        notice = escalations[0].get_body(("plain",)).get_content()
        assert "escalated to level 1" in notice and "now assigned to you" in notice
        for message in server.messages:
            assert_clean(message)

        total = len(server.messages)
        for day in (16, 17, 18, 19, 20):  # every sweep rerun: no message twice
            sweep_and_mail(session, server, day, 23)
        assert len(server.messages) == total + 0
    sent = session.scalars(
        select(Notification).where(Notification.status == NotificationStatus.SENT)
    ).all()
    assert len(sent) == total
    assert all(n.sent_at and n.to_address and n.transport == "smtp" for n in sent)


def digest_world(session, day: date):  # type: ignore[no-untyped-def]
    site = make_site(session, code="FL-Tampa")
    version = make_sop_version(session)
    reader = make_user(session, email="reader@example.test", name="Rea Der")
    quiet = make_user(session, email="quiet@example.test", digest_opt_out=True)
    idle = make_user(session, email="idle@example.test")
    now = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=11)
    old = now - timedelta(days=5)

    def task(user, due_on, **values):  # type: ignore[no-untyped-def]
        values.setdefault("created_at", old)
        return make_task(session, version, assignee_id=user.id, site_id=site.id, due_on=due_on,
                         **values)  # fmt: skip

    tasks = {
        "today": task(reader, day, title="Inspection prep: licenses · S-1", subject_ref="S-1"),
        "overdue": task(reader, day - timedelta(days=3), title="Package · P-9", subject_ref="P-9"),
        "new": task(reader, day + timedelta(days=9), created_at=now - timedelta(hours=2)),
        "done": task(reader, day, status=TaskStatus.DONE),
        "quiet": task(quiet, day),
    }
    task(idle, day + timedelta(days=40))  # nothing due, overdue or new: no digest
    session.commit()
    return reader, quiet, tasks, now


def test_digest_once_per_user_and_day_with_both_parts(session):
    day = date(2026, 11, 2)
    _, _, tasks, now = digest_world(session, day)
    assert plan_digests(session, now, day) == 1  # the opted-out and the idle get none
    session.commit()
    assert plan_digests(session, now + timedelta(hours=1), day) == 0  # a rerun
    session.commit()
    with smtp_server() as server:
        report = send_pending(session, SmtpTransport(server.settings()), CONTEXT, now)
        assert len(report.sent) == 1
        assert send_pending(session, SmtpTransport(server.settings()), CONTEXT, now).sent == []
        (digest,) = server.messages
    assert server.recorder.recipients == [["reader@example.test"]]
    assert_clean(digest)
    assert subject(digest) == (
        "[sopflow] Your tasks for Mon 02 Nov: 1 due today, 1 overdue, 1 newly assigned"
    )
    assert digest["List-Unsubscribe"] == "<https://sopflow.example.org/settings>"
    text = digest.get_body(("plain",)).get_content()
    html = digest.get_body(("html",)).get_content()
    assert "Due today (1)" in text and "Overdue (1)" in text and "Newly assigned (1)" in text
    assert "Inspection prep: licenses · FL-Tampa · #S-1" in text
    assert f'href="https://sopflow.example.org/tasks/{tasks["overdue"].id}"' in html
    assert f"/tasks/{tasks['done'].id}" not in text
    notification = session.scalar(select(Notification))
    assert notification.kind is NotificationKind.DIGEST
    assert notification.payload["due_today"] == [tasks["today"].id]
    # A new day: the next digest counts as new only what arrived since this one.
    assert plan_digests(session, now + timedelta(days=1), day + timedelta(days=1)) == 1


def test_a_refused_message_is_recorded_and_sent_on_the_retry(session):
    day = date(2026, 11, 2)
    _, _, _, now = digest_world(session, day)
    plan_digests(session, now, day)
    session.commit()
    with smtp_server() as server:
        server.recorder.refusals.append("451 4.3.0 Try again later")
        first = send_pending(session, SmtpTransport(server.settings()), CONTEXT, now)
        assert first.sent == [] and len(first.retrying) == 1 and server.messages == []
        notification = session.get(Notification, first.retrying[0])
        assert notification.status is NotificationStatus.QUEUED and notification.attempts == 1
        assert "451" in notification.last_error
        second = send_pending(session, SmtpTransport(server.settings()), CONTEXT, now)
        assert second.sent == first.retrying and len(server.messages) == 1
        assert send_pending(session, SmtpTransport(server.settings()), CONTEXT, now).sent == []
    session.refresh(notification)
    assert notification.status is NotificationStatus.SENT and notification.attempts == 2
    assert notification.last_error is None and len(server.messages) == 1


def test_a_permanent_refusal_fails_at_once_and_an_unreachable_server_after_the_limit(session):
    day = date(2026, 11, 2)
    _, _, _, now = digest_world(session, day)
    plan_digests(session, now, day)
    session.commit()
    with smtp_server() as server:
        server.recorder.refusals.append("550 5.1.1 No such user")
        report = send_pending(session, SmtpTransport(server.settings()), CONTEXT, now)
        assert report.failed and not report.retrying
    notification = session.scalar(select(Notification))
    assert notification.status is NotificationStatus.FAILED and "550" in notification.last_error

    notification.status, notification.attempts = NotificationStatus.QUEUED, 0
    session.commit()
    nowhere = MailSettings(host="127.0.0.1", port=free_port(), dry=False)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        report = send_pending(session, SmtpTransport(nowhere), CONTEXT, now)
        session.refresh(notification)
        assert notification.attempts == attempt
        expected = (
            NotificationStatus.FAILED if attempt == MAX_ATTEMPTS else NotificationStatus.QUEUED
        )
        assert notification.status is expected
    assert "ConnectionRefusedError" in notification.last_error


def test_dry_mode_writes_the_mail_to_the_log(session, caplog):
    day = date(2026, 11, 2)
    _, _, _, now = digest_world(session, day)
    plan_digests(session, now, day)
    session.commit()
    # Alembic's fileConfig (the test database's migrations ran in this process) disables
    # loggers that existed before it; the web app and flows never run migrations.
    logging.getLogger("sopflow.mail").disabled = False
    with caplog.at_level(logging.INFO, logger="sopflow.mail"):
        report = send_pending(session, LogTransport(), CONTEXT, now)
    assert len(report.sent) == 1
    assert "dry run: mail not sent" in caplog.text and "Your tasks for Mon 02 Nov" in caplog.text
    assert session.scalar(select(Notification)).transport == "log"
