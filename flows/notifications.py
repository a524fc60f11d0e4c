"""Mail flows: the morning digest, and the sender of everything queued.

Thin wrappers over `services.notifications`. Delivery is one Prefect task
with retries: a run in which some message failed raises after recording the
failures, so Prefect retries the task, and each retry sends only what is
still queued (sent ones are marked sent in their own transaction). After the
last retry the run fails visibly and the messages stay queued for the next
run, up to their attempt limit: a failed send is never lost silently.
"""

from __future__ import annotations

from prefect import flow, get_run_logger, task

from models import utcnow
from services import deadlines
from services.notifications import (
    MailContext,
    plan_digests,
    plan_event_notices,
    prepare_patient_reminders,
    send_pending,
    transport_for,
)
from sopflow.config import load_settings
from sopflow.database import open_session

DIGEST_TIMEZONE = "America/New_York"
DIGEST_CRON = "30 6 * * 1-5"  # working mornings, before the board fills up
SEND_CRON = "*/10 * * * *"  # retries, auto-sent patient reminders, anything left queued
RETRY_DELAY = 60.0


class DeliveryIncomplete(Exception):
    """Some messages were refused or unreachable; they stay queued for the retry."""


@task(name="deliver-notifications", retries=3, retry_delay_seconds=RETRY_DELAY)
def deliver_queued() -> dict[str, int]:
    """Send every queued e-mail; raise DeliveryIncomplete if any must be retried."""
    settings = load_settings()
    context = MailContext(settings.base_url, settings.mail.sender)
    with open_session() as session:
        report = send_pending(session, transport_for(settings.mail), context, utcnow())
    get_run_logger().info("mail: %s", report.summary())
    if report.retrying:
        raise DeliveryIncomplete(
            f"{len(report.retrying)} notifications not accepted (ids {report.retrying[:20]}); "
            "they stay queued and are retried"
        )
    return {"sent": len(report.sent), "failed": len(report.failed)}


@task(name="plan-event-notices")
def plan_notices() -> int:
    """Queue the mail the escalation sweep's events call for; return how many."""
    with open_session() as session:
        planned = plan_event_notices(session, utcnow())
        session.commit()
    return planned


@task(name="plan-digests")
def plan_digest(timezone: str) -> int:
    """Queue today's digests (today in `timezone`); return how many."""
    now = utcnow()
    with open_session() as session:
        planned = plan_digests(session, now, deadlines.local_today(now, timezone))
        session.commit()
    return planned


@task(name="prepare-patient-reminders")
def prepare_patients() -> dict[str, int]:
    """Prepare the patient reminders of tasks that started; return the counts."""
    with open_session() as session:
        report = prepare_patient_reminders(session, utcnow())
        session.commit()
    return {"prepared": report.prepared, "queued": report.queued, "suppressed": report.suppressed}


def deliver(retry_delay: float = RETRY_DELAY) -> dict[str, int]:
    """Run the delivery task (inside a flow) with the given delay between retries."""
    return deliver_queued.with_options(retry_delay_seconds=retry_delay)()


def notify_escalations(retry_delay: float = RETRY_DELAY) -> dict[str, int]:
    """Plan and send the warnings, reminders and escalation notices of the latest sweep
    (called by the `escalate` flow after its sweep committed).

    A delivery that still fails after its retries does not fail the sweep that
    already did its work: the messages stay queued (and logged here) for the
    `send-notifications` deployment, whose run does fail visibly.
    """
    planned = plan_notices()
    state = deliver_queued.with_options(retry_delay_seconds=retry_delay)(return_state=True)
    if state.is_failed():
        get_run_logger().error("escalation mail not all delivered: %s", state.message)
        return {"planned": planned, "sent": 0, "failed": 0}
    return {"planned": planned, **state.result()}


@flow(name="daily-digest")
def daily_digest(
    timezone: str = DIGEST_TIMEZONE, retry_delay: float = RETRY_DELAY
) -> dict[str, int]:
    """Queue and send each user's morning digest (once per user and day, whatever reruns)."""
    planned = plan_digest(timezone)
    return {"planned": planned, **deliver(retry_delay)}


@flow(name="send-notifications")
def send_notifications(retry_delay: float = RETRY_DELAY) -> dict[str, int]:
    """Prepare due patient reminders, plan pending notices, and send everything queued."""
    patients = prepare_patients()
    planned = plan_notices()
    return {**patients, "planned": planned, **deliver(retry_delay)}
