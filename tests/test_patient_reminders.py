"""Reminders to patients from approved templates: the channel the patient prefers, only
with consent, nothing but name, date and our contact; sent automatically or reviewed."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import get_args

import pytest
from sqlalchemy import select

from models import (
    AuditEvent,
    Channel,
    ContactPreference,
    Notification,
    NotificationStatus,
    Patient,
    PatientStatus,
    Task,
    TaskEvent,
)
from models.sop_spec.steps import PatientTemplate
from services.engine.sweep import execute_run, start_run
from services.notifications import (
    LogTransport,
    MailContext,
    SmtpTransport,
    choose_channel,
    prepare_patient_reminders,
    send_pending,
)
from services.notifications.patient_templates import TEMPLATES
from services.notifications.patients import render_message
from tests.support.smtp import smtp_server
from tests.support.web import csrf_token, login
from tests.support.world import RENEWAL, add_patient, build_world, load_sop

CONTEXT = MailContext("https://sopflow.example.org", "care@example.test")
NOW = datetime(2026, 11, 2, 12, tzinfo=UTC)
STEP = "    checklist: [Send the reminder, {text: Note it, required: false}]\n"


def renewal(send: str) -> str:
    assert STEP in RENEWAL
    rule = f"    patient_reminder: {{template: card-renewal, send: {send}}}\n"
    return RENEWAL.replace(STEP, STEP + rule, 1)


def patient_world(session, send: str, patients: dict[str, dict]):  # type: ignore[no-untyped-def]
    """A FL site, the renewal SOP with a patient reminder, and one patient per entry."""
    world = build_world(session)
    world.fl.name = "Sunrise Wellness Tampa"
    made = {}
    for n, (key, values) in enumerate(patients.items(), start=1):
        patient = add_patient(
            session,
            world.fl,
            n,
            card_expires_on=date(2026, 12, 31),
            qualifying_condition="Chronic pain",
            **values,
        )
        patient.first_name, patient.last_name = "Marisol", f"Quintanilla{n}"
        made[key] = patient
    load_sop(session, renewal(send))
    execute_run(session, start_run(session, "test-renewal", "schedule", now=NOW))
    return world, made


def reminder_of(session, patient) -> Notification | None:  # type: ignore[no-untyped-def]
    task = session.scalar(
        select(Task).where(Task.subject_id == patient.id, Task.step_id == "remind")
    )
    return session.scalar(select(Notification).where(Notification.task_id == task.id))


def test_approved_templates_are_exactly_the_ones_the_sop_language_names():
    assert set(TEMPLATES) == set(get_args(PatientTemplate))


@pytest.mark.parametrize(
    ("preference", "consents", "expected"),
    [
        (ContactPreference.EMAIL, {"consent_email": True}, Channel.EMAIL),
        (ContactPreference.EMAIL, {}, None),
        (ContactPreference.SMS, {"consent_sms": True}, Channel.SMS),
        (ContactPreference.SMS, {"consent_email": True}, None),  # no fallback to e-mail
        (ContactPreference.PHONE, {"consent_phone": True}, Channel.PHONE),
        (ContactPreference.MAIL, {}, Channel.MAIL),
        (ContactPreference.NONE, {"consent_email": True, "consent_sms": True}, None),
    ],
)
def test_the_preferred_channel_needs_consent(preference, consents, expected):
    patient = Patient(
        contact_preference=preference,
        email="p@example.test",
        phone="555-0100",
        status=PatientStatus.ACTIVE,
        consent_email=False,
        consent_sms=False,
        consent_phone=False,
    )
    for name, value in consents.items():
        setattr(patient, name, value)
    channel, reason = choose_channel(patient)
    assert channel is expected
    assert bool(reason) is (expected is None)


def test_messages_carry_name_date_and_contact_only(session):
    _, made = patient_world(
        session,
        "review",
        {"p": {"email": "m@example.test", "consent_email": True, "phone": "555-0100"}},
    )
    patient = made["p"]
    for channel in Channel:
        message = render_message(patient, "card-renewal", channel, "care@example.test")
        assert "Marisol" in message.body and "December 31, 2026" in message.body
        for forbidden in (
            "Chronic",
            "cannabis",
            "marijuana",
            patient.registry_number,
            "Quintanilla",
        ):
            assert forbidden.lower() not in message.body.lower()
        assert "care@example.test" in message.body
    assert (
        "Sunrise Wellness Tampa" in render_message(patient, "card-renewal", Channel.SMS, "x").body
    )


def test_prepared_by_preference_and_consent_and_sent_automatically_once(session):
    _, made = patient_world(
        session,
        "auto",
        {
            "email": {
                "email": "marisol@example.test",
                "consent_email": True,
                "contact_preference": ContactPreference.EMAIL,
            },
            "sms_no_consent": {"phone": "555-0101", "contact_preference": ContactPreference.SMS},
            "phone": {
                "phone": "555-0102",
                "consent_phone": True,
                "contact_preference": ContactPreference.PHONE,
            },
            "none": {"contact_preference": ContactPreference.NONE},
        },
    )
    report = prepare_patient_reminders(session, NOW)
    session.commit()
    assert (report.queued, report.prepared, report.suppressed) == (1, 1, 2)
    nobody = reminder_of(session, made["none"])
    assert nobody.status is NotificationStatus.SUPPRESSED
    assert nobody.last_error == "the patient asked not to be contacted"
    assert reminder_of(session, made["email"]).status is NotificationStatus.QUEUED
    assert reminder_of(session, made["phone"]).status is NotificationStatus.PREPARED
    refused = reminder_of(session, made["sms_no_consent"])
    assert (
        refused.status is NotificationStatus.SUPPRESSED
        and "no consent for SMS" in refused.last_error
    )
    notes = session.scalars(select(TaskEvent.message).where(TaskEvent.kind == "patient_reminder"))
    assert any("no consent for SMS" in n for n in notes)
    assert prepare_patient_reminders(session, NOW).prepared == 0  # a rerun prepares nothing
    session.commit()

    with smtp_server() as server:
        sent = send_pending(session, SmtpTransport(server.settings("care@example.test")), CONTEXT)
        assert len(sent.sent) == 1
        assert send_pending(session, SmtpTransport(server.settings()), CONTEXT).sent == []
        (mail,) = server.messages
    assert mail["To"] == "Marisol Quintanilla1 <marisol@example.test>"
    assert mail["From"] == "Sunrise Wellness Tampa <care@example.test>"
    assert " ".join(str(mail["Subject"]).split()) == "Your registry card renewal"
    text = mail.get_body(("plain",)).get_content()
    assert "Dear Marisol" in text and "December 31, 2026" in text
    assert "Chronic" not in mail.as_string() and "P-" not in mail.as_string()
    assert [p.get_content_type() for p in mail.iter_parts()] == ["text/plain", "text/html"]


def test_consent_withdrawn_before_sending_stops_the_message(session):
    _, made = patient_world(
        session,
        "auto",
        {"p": {"email": "marisol@example.test", "consent_email": True}},
    )
    prepare_patient_reminders(session, NOW)
    made["p"].consent_email = False
    session.commit()
    report = send_pending(session, LogTransport(), CONTEXT)
    assert report.suppressed and not report.sent
    assert "no consent for e-mail" in reminder_of(session, made["p"]).last_error


def test_dry_mode_never_logs_a_patient_message(session, caplog):
    patient_world(session, "auto", {"p": {"email": "marisol@example.test", "consent_email": True}})
    prepare_patient_reminders(session, NOW)
    session.commit()
    logging.getLogger("sopflow.mail").disabled = False
    with caplog.at_level(logging.INFO, logger="sopflow.mail"):
        assert len(send_pending(session, LogTransport(), CONTEXT).sent) == 1
    assert "withheld" in caplog.text
    for detail in ("Marisol", "marisol@example.test", "December"):
        assert detail not in caplog.text


def test_a_va_reviews_and_sends_or_records_it(client, session, app, monkeypatch):
    world, made = patient_world(
        session,
        "review",
        {
            "email": {"email": "marisol@example.test", "consent_email": True},
            "phone": {
                "phone": "555-0102",
                "consent_phone": True,
                "contact_preference": ContactPreference.PHONE,
            },
        },
    )
    prepare_patient_reminders(session, NOW)
    session.commit()
    email_task = reminder_of(session, made["email"]).task_id
    phone_task = reminder_of(session, made["phone"]).task_id
    va = session.get(type(world.manager), session.get(Task, email_task).assignee_id)
    login(client, va.email)

    page = client.get(f"/tasks/{email_task}/patient-reminder").get_data(as_text=True)
    assert "Dear Marisol" in page and "marisol@example.test" in page and "Send this e-mail" in page
    with smtp_server() as server:
        settings = app.config["SOPFLOW_SETTINGS"]
        monkeypatch.setitem(
            app.config,
            "SOPFLOW_SETTINGS",
            replace(settings, mail=server.settings("care@example.test")),
        )
        token = csrf_token(client, f"/tasks/{email_task}/patient-reminder")
        response = client.post(
            f"/tasks/{email_task}/patient-reminder", data={"action": "send", "csrf_token": token}
        )
        assert response.status_code == 302
        assert len(server.messages) == 1 and server.messages[0]["To"].endswith(
            "<marisol@example.test>"
        )
    assert reminder_of(session, made["email"]).status is NotificationStatus.SENT
    assert "e-mailed" in client.get(f"/tasks/{email_task}/patient-reminder").get_data(as_text=True)

    token = csrf_token(client, f"/tasks/{phone_task}/patient-reminder")
    client.post(
        f"/tasks/{phone_task}/patient-reminder", data={"action": "send", "csrf_token": token}
    )
    phoned = reminder_of(session, made["phone"])
    assert phoned.status is NotificationStatus.SENT and phoned.transport == "manual"
    assert phoned.sent_by_id == va.id
    actions = session.scalars(
        select(AuditEvent.action).where(AuditEvent.entity_type == "notification")
    )
    assert set(actions) == {"patient_reminder_approved", "patient_reminder_sent"}

    stranger = world.vas[0] if world.vas[0].id != va.id else world.vas[1]
    stranger.teams = []
    session.commit()
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login(client, stranger.email)
    assert client.get(f"/tasks/{email_task}/patient-reminder").status_code == 404
