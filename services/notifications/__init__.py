"""Mail to staff (morning digests, warnings, overdue reminders, escalation notices) and
reminders to patients from approved templates.

`planning` decides who is told what (rows in `notification`, deduplicated),
`delivery` sends what is queued (exactly once, failures recorded for retry),
`content` and `mailer` make and transport the messages, `patients` prepares the
patient reminders a task step asks for.
"""

from services.notifications.delivery import (
    MAX_ATTEMPTS,
    DeliveryReport,
    compose,
    deliver,
    deliver_one,
    send_pending,
)
from services.notifications.mailer import (
    DeliveryError,
    LogTransport,
    SmtpTransport,
    Transport,
    build_message,
    transport_for,
)
from services.notifications.outgoing import Composed, MailContext, Suppressed
from services.notifications.patients import (
    PatientMessage,
    PatientReminderError,
    PrepareReport,
    approve_email,
    choose_channel,
    current_message,
    decline,
    mark_sent,
    may_handle,
    prepare_patient_reminders,
    reminder_for_task,
)
from services.notifications.planning import digest_sections, plan_digests, plan_event_notices

__all__ = [
    "MAX_ATTEMPTS",
    "Composed",
    "DeliveryError",
    "DeliveryReport",
    "LogTransport",
    "MailContext",
    "PatientMessage",
    "PatientReminderError",
    "PrepareReport",
    "SmtpTransport",
    "Suppressed",
    "Transport",
    "approve_email",
    "build_message",
    "choose_channel",
    "compose",
    "current_message",
    "decline",
    "deliver",
    "deliver_one",
    "digest_sections",
    "mark_sent",
    "may_handle",
    "plan_digests",
    "plan_event_notices",
    "prepare_patient_reminders",
    "reminder_for_task",
    "send_pending",
    "transport_for",
]
