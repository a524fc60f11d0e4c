"""The mail flows under a real Prefect: a refused message is retried by the task's
retries and delivered once; the escalate flow mails the notices its sweep calls for."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from models import Notification, NotificationStatus, utcnow
from services import deadlines
from tests.support.smtp import smtp_server
from tests.support.world import RENEWAL, add_patient, build_world, load_sop
from tests.test_notifications import digest_world

pytestmark = pytest.mark.prefect


def mail_env(monkeypatch, database_url: str, port: int) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("MAIL_DRY_RUN", "false")
    monkeypatch.setenv("MAIL_HOST", "127.0.0.1")
    monkeypatch.setenv("MAIL_PORT", str(port))
    monkeypatch.setenv("MAIL_FROM", "sopflow@example.test")
    monkeypatch.setenv("SOPFLOW_BASE_URL", "https://sopflow.example.org")


def test_digest_flow_retries_a_refused_message_and_sends_it_once(
    prefect_harness, session, database_url, monkeypatch
):
    from flows.notifications import DIGEST_TIMEZONE, daily_digest

    day = deadlines.local_today(utcnow(), DIGEST_TIMEZONE)
    digest_world(session, day)
    with smtp_server() as server:
        mail_env(monkeypatch, database_url, server.port)
        server.recorder.refusals.append("451 4.3.0 Try again later")
        assert daily_digest(retry_delay=0) == {"planned": 1, "sent": 1, "failed": 0}
        assert len(server.messages) == 1
        assert daily_digest(retry_delay=0) == {"planned": 0, "sent": 0, "failed": 0}
        assert len(server.messages) == 1
    notification = session.scalar(select(Notification))
    assert notification.status is NotificationStatus.SENT and notification.attempts == 2


def test_escalate_flow_mails_the_escalation(prefect_harness, session, database_url, monkeypatch):
    from flows.escalation import escalate
    from services.engine.sweep import execute_run, start_run

    world = build_world(session)
    # Due 45 days before expiry: about two weeks overdue now, past the 3-business-day rung.
    add_patient(session, world.fl, 1, card_expires_on=utcnow().date() + timedelta(days=30))
    session.commit()
    load_sop(session, RENEWAL)
    execute_run(session, start_run(session, "test-renewal", "schedule"))
    with smtp_server() as server:
        mail_env(monkeypatch, database_url, server.port)
        counts = escalate()
        assert counts["escalated"] == 1 and counts["errors"] == 0
        subjects = {" ".join(str(m["Subject"]).split()): m["To"] for m in server.messages}
        escalated = [s for s in subjects if s.startswith("[sopflow] Escalated (level 1)")]
        assert escalated and subjects[escalated[0]].endswith("<manager@example.test>")
        before = len(server.messages)
        escalate()  # a rerun escalates nothing and mails nothing new
        assert len(server.messages) == before
