"""Sending queued notifications: exactly once each, failures recorded and retried.

Each notification is sent in its own transaction, holding its row locked
(FOR UPDATE SKIP LOCKED, so two senders never take the same one), and is
marked sent in that transaction; a rerun finds nothing queued. A temporary
failure leaves it queued with `attempts` and `last_error` (the flow retries),
a permanent one or the last allowed attempt marks it failed: never dropped
silently. What is sent is re-checked at send time (still active, still
opted in, task still open, patient consent still on file).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from models import (
    OPEN_STATUSES,
    Channel,
    Notification,
    NotificationKind,
    NotificationStatus,
    Task,
    User,
    utcnow,
)
from services.notifications.content import (
    MailContent,
    digest_content,
    notice_content,
    task_line,
)
from services.notifications.mailer import DeliveryError, Transport, build_message
from services.notifications.outgoing import Composed, MailContext, Suppressed
from services.notifications.patients import compose_patient_email

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
BATCH_LIMIT = 500


@dataclass
class DeliveryReport:
    """Notification ids by outcome of one delivery run."""

    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)  # failed now, still queued
    failed: list[int] = field(default_factory=list)  # gave up: recorded, not retried
    suppressed: list[int] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.sent)} sent, {len(self.retrying)} to retry, "
            f"{len(self.failed)} failed, {len(self.suppressed)} suppressed"
        )


def _compose_staff(
    session: Session, notification: Notification, context: MailContext, now: datetime
) -> Composed | Suppressed:
    user = session.get(User, notification.recipient_id) if notification.recipient_id else None
    if user is None or not user.active:
        return Suppressed("recipient is not an active user")
    settings_url = f"{context.base_url}/settings"
    if notification.kind is NotificationKind.DIGEST:
        if user.digest_opt_out:
            return Suppressed("recipient opted out of digests")
        content = _digest(session, notification, user, context, now)
        if content is None:
            return Suppressed("nothing left to report")
        message = build_message(
            content, context.sender, user.email, context.base_url, user.name, settings_url
        )
        return Composed(message, user.email)
    task = notification.task
    if task is None or task.status not in OPEN_STATUSES:
        return Suppressed("the task was closed before the notice went out")
    payload = notification.payload or {}
    content = notice_content(
        notification.kind,
        task_line(task, context.base_url, now),
        user.name,
        settings_url,
        level=payload.get("level"),
        assigned_to_you=payload.get("to") == user.id,
    )
    return Composed(
        build_message(content, context.sender, user.email, context.base_url, user.name), user.email
    )


def _digest(
    session: Session, notification: Notification, user: User, context: MailContext, now: datetime
) -> MailContent | None:
    """Return the digest of the payload's tasks that are still open (None: none are)."""
    payload = notification.payload or {}
    wanted = {i for key in ("due_today", "overdue", "new") for i in payload.get(key, [])}
    tasks = {
        t.id: t
        for t in session.scalars(
            select(Task).where(Task.id.in_(wanted)).options(selectinload(Task.site))
        )
        if t.status in OPEN_STATUSES
    }
    sections = {
        key: [
            task_line(tasks[i], context.base_url, now) for i in payload.get(key, []) if i in tasks
        ]
        for key in ("due_today", "overdue", "new")
    }
    if not any(sections.values()):
        return None
    totals = {key: payload.get(f"{key}_total", len(sections[key])) for key in sections}
    day = date.fromisoformat(payload.get("day", now.date().isoformat()))
    return digest_content(day, sections, totals, user.name, context.base_url)


def compose(
    session: Session, notification: Notification, context: MailContext, now: datetime
) -> Composed | Suppressed:
    """Return the message a notification sends now, or why it must not be sent."""
    if notification.channel is not Channel.EMAIL:
        return Suppressed(f"{notification.channel.value} is sent by a person, not by mail")
    if notification.kind is NotificationKind.PATIENT_REMINDER:
        return compose_patient_email(session, notification, context)
    return _compose_staff(session, notification, context, now)


def deliver(
    session: Session,
    notification: Notification,
    transport: Transport,
    context: MailContext,
    now: datetime | None = None,
    max_attempts: int = MAX_ATTEMPTS,
) -> NotificationStatus:
    """Compose and send one queued notification, record the outcome; return its new status.

    The caller holds the row (locked) and commits afterwards.
    """
    now = now or utcnow()
    try:
        outcome = compose(session, notification, context, now)
    except Exception as exc:  # a bug in composing must not stop the other messages
        log.exception("composing notification %s failed", notification.id)
        notification.status = NotificationStatus.FAILED
        notification.last_error = f"could not compose: {type(exc).__name__}"[:300]
        return notification.status
    if isinstance(outcome, Suppressed):
        notification.status = NotificationStatus.SUPPRESSED
        notification.last_error = outcome.reason
        return notification.status
    notification.attempts += 1
    try:
        transport.send(outcome.message, sensitive=outcome.sensitive)
    except DeliveryError as exc:
        notification.last_error = str(exc)[:300]
        give_up = exc.permanent or notification.attempts >= max_attempts
        notification.status = NotificationStatus.FAILED if give_up else NotificationStatus.QUEUED
        log.warning(
            "notification %s: attempt %s failed (%s)%s",
            notification.id,
            notification.attempts,
            notification.last_error,
            "; giving up" if give_up else "; will retry",
        )
        return notification.status
    notification.status = NotificationStatus.SENT
    notification.sent_at = now
    notification.transport = transport.name
    notification.to_address = outcome.to
    notification.subject = str(outcome.message["Subject"])[:300]
    notification.message_id = str(outcome.message["Message-ID"])[:255]
    notification.last_error = None
    return notification.status


def deliver_one(
    session: Session,
    notification_id: int,
    transport: Transport,
    context: MailContext,
    now: datetime | None = None,
    max_attempts: int = MAX_ATTEMPTS,
) -> NotificationStatus | None:
    """Send one queued notification in its own transaction and commit; return its new
    status, or None when it is not queued (sent meanwhile, or being sent by another
    worker: the row lock is skipped, never waited for)."""
    notification = session.scalar(
        select(Notification)
        .where(Notification.id == notification_id, Notification.status == NotificationStatus.QUEUED)
        .with_for_update(skip_locked=True)
    )
    if notification is None:
        session.rollback()
        return None
    status = deliver(session, notification, transport, context, now, max_attempts)
    session.commit()
    return status


def send_pending(
    session: Session,
    transport: Transport,
    context: MailContext,
    now: datetime | None = None,
    limit: int = BATCH_LIMIT,
    max_attempts: int = MAX_ATTEMPTS,
) -> DeliveryReport:
    """Send every queued e-mail notification (oldest first), one transaction each.

    Commits as it goes: pass a session with no pending work of its own.
    """
    now = now or utcnow()
    report = DeliveryReport()
    ids = list(
        session.scalars(
            select(Notification.id)
            .where(
                Notification.status == NotificationStatus.QUEUED,
                Notification.channel == Channel.EMAIL,
            )
            .order_by(Notification.id)
            .limit(limit)
        )
    )
    session.rollback()
    outcomes = {
        NotificationStatus.SENT: report.sent,
        NotificationStatus.QUEUED: report.retrying,
        NotificationStatus.FAILED: report.failed,
        NotificationStatus.SUPPRESSED: report.suppressed,
    }
    try:
        for notification_id in ids:
            status = deliver_one(session, notification_id, transport, context, now, max_attempts)
            if status is not None:
                outcomes[status].append(notification_id)
    finally:
        transport.close()
    return report
