"""Reminders to patients: prepared from an approved template as a task's output.

A step with `patient_reminder:` gets, once its task has started, one
notification for the task's patient. The patient's contact preference picks
the channel and their consent for that channel is required (no fallback to
another channel); without it nothing is prepared and the reason is noted on
the task. E-mail goes out automatically only when the step says `send: auto`;
otherwise (and always for SMS, phone and letters) a VA reviews the prepared
message on the task and sends it. Consent is checked again at sending.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import exists, or_, select, tuple_
from sqlalchemy.orm import Session, selectinload

from models import (
    OPEN_STATUSES,
    Channel,
    ContactPreference,
    Notification,
    NotificationKind,
    NotificationStatus,
    Patient,
    PatientStatus,
    Role,
    SopVersion,
    SubjectKind,
    Task,
    TaskEvent,
    Team,
    User,
    open_work,
    record,
    utcnow,
)
from models.sop_spec.steps import PatientReminderRule
from services.engine.sql import insert_ignore
from services.notifications.content import MailContent
from services.notifications.mailer import build_message
from services.notifications.outgoing import Composed, MailContext, Suppressed
from services.notifications.patient_templates import TEMPLATES
from services.sops.registry import spec_for

_CHANNEL = {
    ContactPreference.EMAIL: Channel.EMAIL,
    ContactPreference.SMS: Channel.SMS,
    ContactPreference.PHONE: Channel.PHONE,
    ContactPreference.MAIL: Channel.MAIL,
}
_TEXT_OF = {
    Channel.EMAIL: "email",
    Channel.SMS: "sms",
    Channel.PHONE: "phone",
    Channel.MAIL: "letter",
}
_LABEL = {
    Channel.EMAIL: "e-mail",
    Channel.SMS: "SMS",
    Channel.PHONE: "phone",
    Channel.MAIL: "letter",
}


class PatientReminderError(Exception):
    """The action does not apply to this reminder now; the message says why."""


@dataclass(frozen=True)
class PatientMessage:
    """A reminder rendered for one patient: what a VA reviews, or what is e-mailed."""

    channel: Channel
    address: str | None  # e-mail address or phone number; None for a letter
    subject: str
    body: str
    template: str
    version: int


@dataclass
class PrepareReport:
    prepared: int = 0  # waiting for a VA
    queued: int = 0  # to be e-mailed automatically
    suppressed: int = 0  # no consent, not contactable


def reminder_rule(task: Task) -> PatientReminderRule | None:
    """Return the step's `patient_reminder` rule, if the task's step has one."""
    if task.subject_type is not SubjectKind.PATIENT:
        return None
    step = spec_for(task.sop_version).steps_by_id().get(task.step_id)
    return step.patient_reminder if step is not None else None


def choose_channel(patient: Patient | None) -> tuple[Channel | None, str]:
    """Return (channel, "") for the patient's preferred channel when they consented to it
    and can be reached on it, else (None, why not)."""
    if patient is None:
        return None, "the patient record is gone"
    if patient.status in (PatientStatus.INACTIVE, PatientStatus.DECEASED):
        return None, f"the patient is {patient.status.value}"
    preference = patient.contact_preference
    if preference is ContactPreference.NONE:
        return None, "the patient asked not to be contacted"
    channel = _CHANNEL[preference]
    consent, reachable = {
        Channel.EMAIL: (patient.consent_email, bool(patient.email)),
        Channel.SMS: (patient.consent_sms, bool(patient.phone)),
        Channel.PHONE: (patient.consent_phone, bool(patient.phone)),
        Channel.MAIL: (True, True),  # post needs no opt-in; the address is in the registry
    }[channel]
    if not consent:
        return None, f"no consent for {_LABEL[channel]} on file (the preferred channel)"
    if not reachable:
        return (
            None,
            f"no {'e-mail address' if channel is Channel.EMAIL else 'phone number'} on file",
        )
    return channel, ""


def render_message(
    patient: Patient, template_id: str, channel: Channel, contact: str
) -> PatientMessage:
    """Return the approved template filled in for the patient (name, date, our contact)."""
    template = TEMPLATES[template_id]
    when = getattr(patient, template.date_field)
    values = {
        "first_name": patient.first_name,
        "date": f"{when:%B} {when.day}, {when.year}" if when else "the date on your card",
        "organisation": patient.site.name if patient.site else "Our team",
        "contact": contact,
    }
    body = getattr(template, _TEXT_OF[channel]).format(**values)
    address = {Channel.EMAIL: patient.email, Channel.MAIL: None}.get(channel, patient.phone)
    return PatientMessage(channel, address, template.subject, body, template.id, template.version)


def _note(session: Session, task_id: int, message: str, now: datetime, actor: int | None) -> None:
    session.add(
        TaskEvent(task_id=task_id, kind="patient_reminder", message=message, at=now, actor_id=actor)
    )


def _rules(session: Session, conditions: list[Any]) -> dict[tuple[int, str], PatientReminderRule]:
    pairs = session.execute(select(Task.sop_version_id, Task.step_id).where(*conditions).distinct())
    rules = {}
    for version_id, step_id in pairs:
        step = spec_for(session.get(SopVersion, version_id)).steps_by_id().get(step_id)
        if step is not None and step.patient_reminder is not None:
            rules[(version_id, step_id)] = step.patient_reminder
    return rules


def prepare_patient_reminders(session: Session, now: datetime, limit: int = 2000) -> PrepareReport:
    """Prepare (or queue, or decline with a reason) the reminder of every started, open
    patient task whose step asks for one and that has none yet. The caller commits."""
    done = exists().where(
        Notification.task_id == Task.id, Notification.kind == NotificationKind.PATIENT_REMINDER
    )
    conditions = [
        Task.subject_type == SubjectKind.PATIENT,
        open_work(),
        or_(Task.starts_at.is_(None), Task.starts_at <= now),
        ~done,
    ]
    report = PrepareReport()
    rules = _rules(session, conditions)
    if not rules:
        return report
    query = select(Task).where(*conditions, tuple_(Task.sop_version_id, Task.step_id).in_(rules))
    tasks = list(session.scalars(query.order_by(Task.id).limit(limit)))
    patients = {
        p.id: p
        for p in session.scalars(
            select(Patient)
            .where(Patient.id.in_({t.subject_id for t in tasks}))
            .options(selectinload(Patient.site))
        )
    }
    statement = insert_ignore(session, Notification.__table__, ["dedup_key"]).returning(
        Notification.__table__.c.id
    )
    for task in tasks:
        rule = rules[(task.sop_version_id, task.step_id)]
        channel, reason = choose_channel(patients.get(task.subject_id))
        template = TEMPLATES[rule.template]
        if channel is None:
            status, note = (
                NotificationStatus.SUPPRESSED,
                f"Patient reminder not prepared: {reason}.",
            )
        elif rule.send == "auto" and channel is Channel.EMAIL:
            status, note = (
                NotificationStatus.QUEUED,
                "Patient reminder queued: e-mailed by sopflow.",
            )
        else:
            status = NotificationStatus.PREPARED
            note = f"Patient reminder prepared ({_LABEL[channel]}): review and send it."
        row = {
            "dedup_key": f"patient:{task.id}",
            "kind": NotificationKind.PATIENT_REMINDER.value,
            "status": status.value,
            "channel": (channel or Channel.EMAIL).value,
            "task_id": task.id,
            "payload": {"template": template.id, "version": template.version, "send": rule.send},
            "last_error": reason or None,
            "attempts": 0,
            "created_at": now,
        }
        if session.execute(statement, [row]).first() is None:
            continue  # prepared meanwhile by another run
        _note(session, task.id, note, now, None)
        if status is NotificationStatus.SUPPRESSED:
            report.suppressed += 1
        elif status is NotificationStatus.QUEUED:
            report.queued += 1
        else:
            report.prepared += 1
    return report


def reminder_for_task(session: Session, task_id: int) -> Notification | None:
    """Return the task's patient reminder notification, if one was prepared."""
    return session.scalar(
        select(Notification).where(
            Notification.task_id == task_id,
            Notification.kind == NotificationKind.PATIENT_REMINDER,
        )
    )


def may_handle(session: Session, user: User, task: Task) -> bool:
    """Return True when `user` works this task: its assignee, a member of its team, or a
    manager or admin."""
    if user.role in (Role.MANAGER, Role.ADMIN) or task.assignee_id == user.id:
        return True
    member = select(Team.id).join(Team.members).where(Team.id == task.team_id, User.id == user.id)
    return task.team_id is not None and session.scalar(member) is not None


def current_message(session: Session, notification: Notification, contact: str) -> PatientMessage:
    """Return the reminder as it would be sent now; PatientReminderError if it may not be."""
    task = notification.task
    patient = session.get(Patient, task.subject_id) if task is not None else None
    channel, reason = choose_channel(patient)
    if channel is None or patient is None:
        raise PatientReminderError(f"This reminder cannot be sent: {reason}.")
    if channel is not notification.channel:
        raise PatientReminderError(
            f"The patient's preferred channel is now {_LABEL[channel]}, not "
            f"{_LABEL[notification.channel]}: ask a manager to re-prepare it."
        )
    return render_message(patient, (notification.payload or {})["template"], channel, contact)


def _act(
    session: Session, notification: Notification, user: User, action: str, now: datetime
) -> None:
    if notification.status is not NotificationStatus.PREPARED:
        raise PatientReminderError(f"This reminder is already {notification.status.value}.")
    record(
        session,
        f"patient_reminder_{action}",
        "notification",
        notification.id,
        after={"task_id": notification.task_id, "channel": notification.channel.value},
    )


def approve_email(
    session: Session,
    notification: Notification,
    user: User,
    contact: str,
    now: datetime | None = None,
) -> None:
    """Queue a prepared e-mail reminder for sending (a VA reviewed it)."""
    now = now or utcnow()
    if notification.channel is not Channel.EMAIL:
        raise PatientReminderError("Only e-mail reminders are sent by sopflow.")
    current_message(session, notification, contact)
    _act(session, notification, user, "approved", now)
    notification.status = NotificationStatus.QUEUED
    notification.sent_by_id = user.id
    _note(session, notification.task_id, "Patient reminder approved for e-mail.", now, user.id)


def mark_sent(
    session: Session,
    notification: Notification,
    user: User,
    contact: str,
    now: datetime | None = None,
) -> None:
    """Record that a VA sent the reminder themselves (SMS, call, letter)."""
    now = now or utcnow()
    if notification.channel is Channel.EMAIL:
        raise PatientReminderError("E-mail reminders are sent by sopflow: approve it instead.")
    message = current_message(session, notification, contact)
    _act(session, notification, user, "sent", now)
    notification.status = NotificationStatus.SENT
    notification.transport = "manual"
    notification.sent_by_id = user.id
    notification.sent_at = now
    notification.to_address = message.address
    notification.subject = message.subject
    _note(
        session,
        notification.task_id,
        f"Patient reminder sent ({_LABEL[message.channel]}).",
        now,
        user.id,
    )


def decline(
    session: Session, notification: Notification, user: User, now: datetime | None = None
) -> None:
    """Record that the reminder will not be sent."""
    now = now or utcnow()
    _act(session, notification, user, "declined", now)
    notification.status = NotificationStatus.SUPPRESSED
    notification.last_error = "declined by the person working the task"
    _note(session, notification.task_id, "Patient reminder not sent (declined).", now, user.id)


def compose_patient_email(
    session: Session, notification: Notification, context: MailContext
) -> Composed | Suppressed:
    """Return the patient's e-mail (consent re-checked now), or why it must not go out."""
    task = notification.task
    if task is None or task.status not in OPEN_STATUSES:
        return Suppressed("the task was closed before the reminder went out")
    try:
        message = current_message(session, notification, context.sender)
    except PatientReminderError as exc:
        return Suppressed(str(exc))
    patient = session.get(Patient, task.subject_id)
    assert patient is not None and message.address
    html = "".join(
        f"<p>{escape(part).replace(chr(10), Markup('<br>'))}</p>"
        for part in message.body.split("\n\n")
    )
    content = MailContent(
        message.subject, message.body + "\n", f"<!doctype html><html><body>{html}</body></html>"
    )
    mail = build_message(
        content,
        context.sender,
        message.address,
        context.base_url,
        to_name=f"{patient.first_name} {patient.last_name}",
        from_name=patient.site.name if patient.site else None,
    )
    return Composed(mail, message.address, sensitive=True)
