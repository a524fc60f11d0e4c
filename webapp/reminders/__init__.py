"""`/tasks/<id>/patient-reminder`: review a prepared reminder to a patient and send it.

E-mail is sent by sopflow once a person approves it; an SMS, a call or a
letter is sent by the person, who then records it here. Who may: whoever
works the task (its assignee, its team, managers and admins).
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from models import Channel, NotificationStatus, Task, db
from services.notifications import (
    MailContext,
    PatientReminderError,
    approve_email,
    current_message,
    decline,
    deliver_one,
    mark_sent,
    may_handle,
    reminder_for_task,
    transport_for,
)
from webapp.policy import allow_any_signed_in

bp = Blueprint("reminders", __name__)


def _task_or_404(task_id: int) -> Task:
    task = db.session.get(Task, task_id)
    if task is None or not may_handle(db.session, current_user, task):
        abort(404)
    return task


def _context() -> MailContext:
    settings = current_app.config["SOPFLOW_SETTINGS"]
    return MailContext(settings.base_url, settings.mail.sender)


@bp.get("/tasks/<int:task_id>/patient-reminder")
@allow_any_signed_in
def show(task_id: int) -> ResponseReturnValue:
    """Show the task's prepared patient reminder as it would be sent now."""
    task = _task_or_404(task_id)
    notification = reminder_for_task(db.session, task.id)
    message, problem = None, None
    if notification is not None and notification.status is NotificationStatus.PREPARED:
        try:
            message = current_message(db.session, notification, _context().sender)
        except PatientReminderError as exc:
            problem = str(exc)
    return render_template(
        "reminders/patient_reminder.html",
        task=task,
        notification=notification,
        message=message,
        problem=problem,
    )


@bp.post("/tasks/<int:task_id>/patient-reminder")
@allow_any_signed_in
def act(task_id: int) -> ResponseReturnValue:
    """Approve (e-mail), record as sent (SMS, call, letter) or decline the reminder."""
    task = _task_or_404(task_id)
    notification = reminder_for_task(db.session, task.id)
    if notification is None:
        abort(404)
    action = request.form.get("action")
    context = _context()
    try:
        if action == "send" and notification.channel is Channel.EMAIL:
            approve_email(db.session, notification, current_user, context.sender)
            db.session.commit()
            transport = transport_for(current_app.config["SOPFLOW_SETTINGS"].mail)
            try:
                status = deliver_one(db.session, notification.id, transport, context)
            finally:
                transport.close()
            flash(
                "The reminder was e-mailed."
                if status is NotificationStatus.SENT
                else "The reminder is queued: sopflow sends it within minutes."
            )
        elif action == "send":
            mark_sent(db.session, notification, current_user, context.sender)
            flash("Recorded: the reminder was sent.")
        elif action == "decline":
            decline(db.session, notification, current_user)
            flash("Recorded: the reminder will not be sent.")
        else:
            abort(400)
    except PatientReminderError as exc:
        db.session.rollback()
        flash(str(exc))
    db.session.commit()
    return redirect(url_for("reminders.show", task_id=task.id))
