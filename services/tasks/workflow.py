"""Moving a task between people and states: claim, start, snooze, hand back,
reassign, block, unblock, comment. Each writes a TaskEvent (the task's own
history); the row changes are audited by the session hook, except the claim's
conditional UPDATE, which records its before/after itself. The caller commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, joinedload

from models import OPEN_STATUSES, Task, TaskEvent, TaskStatus, User, record, utcnow
from services import deadlines
from services.engine.subjects import DEFAULT_TIMEZONE
from services.tasks.access import (
    Scope,
    TaskNotVisible,
    may_work,
    team_queue_clause,
)
from services.tasks.actions import TaskActionError

MAX_REASON = 500
MAX_COMMENT = 4000
MAX_SNOOZE_DAYS = 90


@dataclass(frozen=True)
class ClaimResult:
    """The outcome of a claim: won, or lost to `holder` (None: the task left the queue)."""

    won: bool
    task: Task
    holder: User | None

    @property
    def message(self) -> str:
        """A sentence for the person who clicked Claim."""
        if self.won:
            return f"Claimed “{self.task.title}”: it is in your queue now."
        if self.holder is not None:
            return f"Already claimed by {self.holder.name}."
        return f"“{self.task.title}” is no longer in the queue."


def _event(
    session: Session, task: Task, user: User | None, kind: str, message: str | None, now: datetime
) -> None:
    session.add(
        TaskEvent(
            task_id=task.id,
            actor_id=user.id if user else None,
            kind=kind,
            message=message,
            at=now,
        )
    )


def _clean(text: str | None, label: str, limit: int, required: bool = True) -> str:
    """Return `text` stripped; raise TaskActionError if it is missing or too long."""
    value = (text or "").strip()
    if required and not value:
        raise TaskActionError(f"Give a {label}.")
    if len(value) > limit:
        raise TaskActionError(f"The {label} is too long: at most {limit} characters.")
    return value


def _require_open(task: Task) -> None:
    if not task.is_open:
        raise TaskActionError(f"This task is {task.status.value.replace('_', ' ')}.")


def _require_worker(scope: Scope, task: Task) -> None:
    if not may_work(scope, task):
        who = task.assignee.name if task.assignee else "the team queue"
        raise TaskActionError(f"This task is with {who}; claim it or ask a manager.")


def claim(session: Session, scope: Scope, task_id: int, now: datetime | None = None) -> ClaimResult:
    """Take an unassigned open task from one of the scope's team queues, atomically.

    One conditional UPDATE (… WHERE assignee_id IS NULL AND status = 'open'): of
    two people claiming at once exactly one changes the row. Raises
    TaskNotVisible when the task is not (or no longer) the scope's to see.
    """
    now = now or utcnow()
    conditions = [Task.id == task_id, Task.assignee_id.is_(None), Task.status == TaskStatus.OPEN]
    if not scope.is_manager:
        conditions.append(team_queue_clause(scope))
    result = session.execute(
        update(Task)
        .where(*conditions)
        .values(assignee_id=scope.user_id, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    task = session.scalar(
        select(Task)
        .where(Task.id == task_id)
        .options(joinedload(Task.assignee))
        .execution_options(populate_existing=True)
    )
    if task is None:
        raise TaskNotVisible(task_id)
    if result.rowcount == 1:
        record(
            session,
            "update",
            "task",
            task_id,
            before={"assignee_id": None},
            after={"assignee_id": scope.user_id},
        )
        _event(session, task, scope.user, "claimed", f"Claimed by {scope.user.name}", now)
        session.flush()
        return ClaimResult(True, task, scope.user)
    # Lost: say who won only to someone who could see the task in their queue.
    if not scope.is_manager and task.team_id not in scope.team_ids:
        raise TaskNotVisible(task_id)
    return ClaimResult(False, task, task.assignee)


def start(session: Session, scope: Scope, task: Task, now: datetime | None = None) -> None:
    """Mark the task in progress; an unassigned task is taken by the starter."""
    now = now or utcnow()
    _require_open(task)
    if task.assignee_id is None:
        raise TaskActionError("Claim the task before starting it.")
    _require_worker(scope, task)
    if task.status is TaskStatus.IN_PROGRESS:
        return
    if task.status is TaskStatus.BLOCKED:
        raise TaskActionError("Unblock the task first.")
    task.status = TaskStatus.IN_PROGRESS
    _event(session, task, scope.user, "started", None, now)


def snooze(
    session: Session,
    scope: Scope,
    task: Task,
    until: date | None,
    reason: str | None,
    now: datetime | None = None,
) -> datetime:
    """Hide the task from the queues until the start of `until` (the site's day), with
    a reason; return the instant it comes back. Escalation waits while it sleeps."""
    now = now or utcnow()
    _require_open(task)
    _require_worker(scope, task)
    why = _clean(reason, "reason for snoozing", MAX_REASON)
    tz = task.site.timezone if task.site else DEFAULT_TIMEZONE
    today = deadlines.local_date(now, tz)
    if until is None:
        raise TaskActionError("Choose the day the task should come back.")
    if until <= today:
        raise TaskActionError("Snooze until a day after today.")
    if until > today + timedelta(days=MAX_SNOOZE_DAYS):
        raise TaskActionError(f"Snooze for at most {MAX_SNOOZE_DAYS} days.")
    back = deadlines.deadline_instant(until, tz, time(0, 0))
    task.snoozed_until = back
    task.snooze_reason = why
    _event(session, task, scope.user, "snoozed", f"Until {until.isoformat()}: {why}", now)
    return back


def wake(session: Session, scope: Scope, task: Task, now: datetime | None = None) -> None:
    """End a snooze early."""
    now = now or utcnow()
    _require_worker(scope, task)
    if task.snoozed_until is None:
        return
    task.snoozed_until = None
    task.snooze_reason = None
    _event(session, task, scope.user, "woken", None, now)


def hand_back(
    session: Session, scope: Scope, task: Task, reason: str | None, now: datetime | None = None
) -> None:
    """Return the task, unstarted, to its team's queue."""
    now = now or utcnow()
    _require_open(task)
    _require_worker(scope, task)
    why = _clean(reason, "reason", MAX_REASON, required=False)
    if task.team_id is None:
        raise TaskActionError("This task has no team queue to go back to; ask a manager.")
    if task.assignee_id is None:
        raise TaskActionError("This task is already in the team queue.")
    task.assignee_id = None
    task.assignee = None
    if task.status is TaskStatus.IN_PROGRESS:
        task.status = TaskStatus.OPEN
    _event(session, task, scope.user, "handed_back", why or None, now)


def _active_user(session: Session, user_id: int | None) -> User | None:
    if user_id is None:
        return None
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise TaskActionError("Choose an active person to give the task to.")
    return user


def _reassign_one(
    session: Session, scope: Scope, task: Task, target: User | None, now: datetime
) -> bool:
    if not task.is_open or task.assignee_id == (target.id if target else None):
        return False
    previous = task.assignee.name if task.assignee else "the team queue"
    task.assignee_id = target.id if target else None
    task.assignee = target
    if target is None and task.status is TaskStatus.IN_PROGRESS:
        task.status = TaskStatus.OPEN
    to = target.name if target else "the team queue"
    _event(session, task, scope.user, "reassigned", f"From {previous} to {to}", now)
    return True


def reassign(
    session: Session,
    scope: Scope,
    task: Task,
    assignee_id: int | None,
    now: datetime | None = None,
) -> None:
    """Give the task to an active person (None: back to its team's queue). Managers only."""
    now = now or utcnow()
    if not scope.is_manager:
        raise TaskActionError("Only a manager can reassign tasks.")
    _require_open(task)
    target = _active_user(session, assignee_id)
    if target is None and task.team_id is None:
        raise TaskActionError("This task has no team queue; choose a person.")
    _reassign_one(session, scope, task, target, now)


def reassign_many(
    session: Session,
    scope: Scope,
    task_ids: Sequence[int],
    assignee_id: int | None,
    now: datetime | None = None,
) -> int:
    """Reassign every open task of `task_ids` (see `reassign`); return how many moved.

    Loads the tasks in one query (with their assignees) and changes them through
    the ORM, so each change is audited.
    """
    now = now or utcnow()
    if not scope.is_manager:
        raise TaskActionError("Only a manager can reassign tasks.")
    if not task_ids:
        raise TaskActionError("Select at least one task.")
    if len(task_ids) > 500:
        raise TaskActionError("Reassign at most 500 tasks at a time.")
    target = _active_user(session, assignee_id)
    tasks = session.scalars(
        select(Task)
        .where(Task.id.in_(sorted(set(task_ids))), Task.status.in_(OPEN_STATUSES))
        .options(joinedload(Task.assignee))
        .order_by(Task.id)
    ).all()
    if target is None and any(t.team_id is None for t in tasks):
        raise TaskActionError("Some selected tasks have no team queue; choose a person.")
    return sum(_reassign_one(session, scope, t, target, now) for t in tasks)


def block(
    session: Session, scope: Scope, task: Task, reason: str | None, now: datetime | None = None
) -> None:
    """Mark the task blocked, with the reason (what it waits for)."""
    now = now or utcnow()
    _require_open(task)
    _require_worker(scope, task)
    why = _clean(reason, "reason for blocking", MAX_REASON)
    task.status = TaskStatus.BLOCKED
    task.blocked_reason = why
    _event(session, task, scope.user, "blocked", why, now)


def unblock(session: Session, scope: Scope, task: Task, now: datetime | None = None) -> None:
    """Resume a blocked task (in progress when someone has it, else open)."""
    now = now or utcnow()
    _require_worker(scope, task)
    if task.status is not TaskStatus.BLOCKED:
        raise TaskActionError("This task is not blocked.")
    task.status = TaskStatus.IN_PROGRESS if task.assignee_id else TaskStatus.OPEN
    task.blocked_reason = None
    _event(session, task, scope.user, "unblocked", None, now)


def comment(
    session: Session, scope: Scope, task: Task, text: str | None, now: datetime | None = None
) -> TaskEvent:
    """Add a note to the task's history; anyone who can see the task may comment."""
    now = now or utcnow()
    body = _clean(text, "note", MAX_COMMENT)
    event = TaskEvent(task_id=task.id, actor_id=scope.user_id, kind="comment", message=body, at=now)
    session.add(event)
    return event
