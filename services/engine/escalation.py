"""The escalation sweep: warn before due, remind while overdue, reassign up the ladder.

Idempotent by the task's own state: `warned_at` is set once, reminders are
spaced by `remind_every` from `last_reminded_at`, and each ladder rung raises
`escalation_level` once. A sweep run twice in a minute therefore escalates once.
Every action is a TaskEvent on the task (and the task's change is audited).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, joinedload

from models import Actor, Task, TaskEvent, acting_as, open_work
from models.durations import Duration
from models.sop_spec import Escalation
from services import deadlines
from services.assignment import AssignmentError, place_escalation
from services.engine.subjects import DEFAULT_CALENDAR, DEFAULT_TIMEZONE
from services.sops.registry import spec_for

# Warnings further ahead than this are not looked for (keeps the candidate query small).
WARN_HORIZON = timedelta(days=31)


@dataclass
class EscalationReport:
    """Counts of what one sweep did, and the task ids each notification concerns."""

    warned: list[int] = field(default_factory=list)
    reminded: list[int] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.warned)} warned, {len(self.reminded)} reminded, "
            f"{len(self.escalated)} escalated, {len(self.errors)} errors"
        )


def _shift(instant: datetime, by: Duration, task: Task) -> datetime:
    tz = task.site.timezone if task.site else DEFAULT_TIMEZONE
    calendar = task.site.holiday_calendar if task.site else DEFAULT_CALENDAR
    return deadlines.add_duration(instant, by, tz, calendar)


def rules_for(task: Task) -> Escalation | None:
    """Return the escalation rules for the task's step (its own, else the SOP's)."""
    spec = spec_for(task.sop_version)
    step = spec.steps_by_id().get(task.step_id)
    return spec.escalation_for(step) if step is not None else spec.escalation


def _event(session: Session, task: Task, kind: str, message: str, now: datetime, **detail) -> None:  # type: ignore[no-untyped-def]
    session.add(
        TaskEvent(task_id=task.id, kind=kind, message=message, at=now, detail=detail or None)
    )


def escalate_task(session: Session, task: Task, now: datetime, report: EscalationReport) -> None:
    """Apply the task's warning, reminder and ladder rules as of `now`."""
    rules = rules_for(task)
    if rules is None:
        return
    if rules.warn_before and task.warned_at is None and now < task.due_at:
        ahead = Duration(-rules.warn_before.amount, rules.warn_before.unit)
        if now >= _shift(task.due_at, ahead, task):
            task.warned_at = now
            _event(session, task, "warned", f"Due {task.due_on.isoformat()}", now)
            report.warned.append(task.id)
    if now < task.due_at:
        return
    if rules.remind_every:
        last = task.last_reminded_at
        if last is None or now >= _shift(last, rules.remind_every, task):
            task.last_reminded_at = now
            _event(session, task, "reminded", f"Overdue since {task.due_on.isoformat()}", now)
            report.reminded.append(task.id)
    for level, rung in enumerate(rules.ladder, start=1):
        if task.escalation_level >= level or now < _shift(task.due_at, rung.after, task):
            continue
        detail: dict[str, object] = {"level": level, "notify": list(rung.notify)}
        message = f"Overdue by {rung.after}: escalation level {level}"
        if rung.reassign_to is not None:
            target = rung.reassign_to
            try:
                placement = place_escalation(
                    session, target.role, target.team, target.user, task.team_id
                )
            except AssignmentError as exc:
                report.errors.append(f"task {task.id}: {exc}")
                detail["error"] = str(exc)
            else:
                detail["from_assignee_id"] = task.assignee_id
                task.team_id, task.assignee_id = placement.team_id, placement.assignee_id
                detail["to_assignee_id"] = placement.assignee_id
                message += " — reassigned"
        task.escalation_level = level
        _event(session, task, "escalated", message, now, **detail)
        report.escalated.append(task.id)


def escalation_sweep(session: Session, now: datetime) -> EscalationReport:
    """Run the escalation rules over every open, unsnoozed task near or past its deadline."""
    report = EscalationReport()
    query = (
        select(Task)
        .where(
            open_work(),
            Task.due_at <= now + WARN_HORIZON,
            or_(Task.snoozed_until.is_(None), Task.snoozed_until <= now),
        )
        .options(joinedload(Task.site), joinedload(Task.sop_version))
        .order_by(Task.id)
        .with_for_update(of=Task, skip_locked=True)
    )
    with acting_as(Actor(None, "system:escalation")):
        for task in session.scalars(query).unique():
            escalate_task(session, task, now, report)
    return report
