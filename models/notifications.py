"""Mail and messages sopflow sends: one row per notification, the record of what went out.

The row is created when a notification is planned (from an escalation event, a
digest, a patient reminder) and updated as it is sent. `dedup_key` is unique:
that constraint, not a read-then-write, is what makes a rerun of a sweep or a
digest plan create nothing new, so nobody is mailed twice.

Not `Audited`: this table is itself the log of what was sent (to whom, which
task, when); a person's action on a patient reminder is recorded in the audit
trail by the service that performs it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import UTCDateTime, db, utcnow
from models.enums import str_enum
from models.org import User
from models.tasks import Task, TaskEvent


class NotificationKind(StrEnum):
    DIGEST = "digest"  # the morning summary per user
    WARNING = "warning"  # before the deadline
    OVERDUE = "overdue"  # repeating reminder while overdue
    ESCALATION = "escalation"  # a ladder rung: managers, admins, the new assignee
    PATIENT_REMINDER = "patient_reminder"  # to a patient, from an approved template


class NotificationStatus(StrEnum):
    QUEUED = "queued"  # to be sent (again, after a failed attempt)
    SENT = "sent"
    FAILED = "failed"  # gave up after the maximum number of attempts
    PREPARED = "prepared"  # a patient reminder waiting for a person to review and send
    SUPPRESSED = "suppressed"  # not to be sent: no consent, opted out, nobody to tell


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    PHONE = "phone"
    MAIL = "mail"


class Notification(db.Model):
    """One message to one recipient (a user, or for patient reminders the task's patient)."""

    __tablename__ = "notification"
    __table_args__ = (
        Index("ix_notification_status_id", "status", "id"),
        Index("ix_notification_recipient_kind", "recipient_id", "kind", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # e.g. "event:812:user:4", "digest:4:2026-11-02", "patient:77"
    dedup_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[NotificationKind] = mapped_column(str_enum(NotificationKind, 24))
    status: Mapped[NotificationStatus] = mapped_column(
        str_enum(NotificationStatus, 16), default=NotificationStatus.QUEUED
    )
    channel: Mapped[Channel] = mapped_column(str_enum(Channel, 8), default=Channel.EMAIL)
    # None for patient reminders: their recipient is the task's subject.
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    task_id: Mapped[int | None] = mapped_column(
        ForeignKey("task.id", ondelete="SET NULL"), index=True
    )
    task_event_id: Mapped[int | None] = mapped_column(
        ForeignKey("task_event.id", ondelete="SET NULL"), index=True
    )
    # What the message is about, without PHI: task ids per digest section, the
    # escalation level, a patient template id and version.
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    to_address: Mapped[str | None] = mapped_column(String(254))  # filled when sent
    subject: Mapped[str | None] = mapped_column(String(300))  # filled when sent
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    transport: Mapped[str | None] = mapped_column(String(16))  # smtp / log / manual
    message_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    recipient: Mapped[User | None] = relationship(foreign_keys=[recipient_id])
    task: Mapped[Task | None] = relationship()
    sent_by: Mapped[User | None] = relationship(foreign_keys=[sent_by_id])


# The planner reads the escalation sweep's recent events by kind and time, every
# quarter of an hour: an index on the events table, declared here with its reader.
Index("ix_task_event_kind_at", TaskEvent.kind, TaskEvent.at)
