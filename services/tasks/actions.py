"""What people do to a task: tick its checklist, complete it. Completing a step
creates the steps that waited on it, in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from models import AuditEvent, ChecklistItem, Role, Task, TaskEvent, TaskStatus, User, utcnow
from models.audit import audit_row
from services import deadlines
from services.engine.planner import RunContext
from services.engine.progress import advance_many
from services.engine.subjects import DEFAULT_TIMEZONE, fetch_one
from services.sops.registry import prepared_for

# Completing's statements, built once (see `_mark_done`): the SET clause of the UPDATE
# comes from the parameters; updated_at from the column's onupdate.
_TASK: Table = Task.__table__  # type: ignore[assignment]
_MARK_DONE = update(_TASK).where(_TASK.c.id == bindparam("done_task_id"))
_INSERT_AUDIT = insert(AuditEvent.__table__)
_INSERT_EVENT = insert(TaskEvent.__table__)
# Who may approve: a role approves its own steps and those of the roles below it.
ROLE_RANK = {Role.VA: 1, Role.MANAGER: 2, Role.ADMIN: 3}


class TaskActionError(Exception):
    """The action is not allowed now; the message says why, for the person."""


@dataclass(frozen=True)
class Completion:
    """A completed task and the tasks its completion created: their ids, and their rows
    as written (column values with `id`), so that nobody has to read them back.
    `timezone` is their site's (the subject's)."""

    task: Task
    created: list[int]
    rows: list[dict[str, Any]] = field(default_factory=list)
    timezone: str = DEFAULT_TIMEZONE


def ensure_checklist(session: Session, task: Task) -> list[ChecklistItem]:
    """Return the task's checklist, creating its rows from the task's SOP version on
    first use (a sweep of 100k tasks does not write 300k checklist rows up front)."""
    if task.checklist:
        return task.checklist
    step = prepared_for(task.sop_version).spec.steps_by_id().get(task.step_id)
    for position, item in enumerate(step.checklist if step else []):
        task.checklist.append(
            ChecklistItem(position=position, label=item.text, required=item.required)
        )
    session.flush()
    return task.checklist


def completion_problems(session: Session, task: Task, user: User) -> list[str]:
    """Return why `user` cannot complete `task` now (empty when they can)."""
    problems = []
    if not task.is_open:
        problems.append(f"This task is {task.status.value.replace('_', ' ')}.")
    missing = [i.label for i in ensure_checklist(session, task) if i.required and i.done_at is None]
    if missing:
        problems.append("Tick the required checklist items first: " + "; ".join(missing) + ".")
    if task.evidence_required and not task.evidence:
        problems.append("This step needs evidence: attach a file, a link or a document.")
    if task.approval_role is not None and ROLE_RANK[user.role] < ROLE_RANK[task.approval_role]:
        problems.append(f"Only a {task.approval_role.value} can approve this step.")
    return problems


def _mark_done(session: Session, task: Task, user: User, now: datetime) -> None:
    """Record `task` as done by `user` and when: the row, its audit event, the task's event.

    Three Core statements, as the claim writes its change, rather than a flush: the
    unit of work for this one row (with the SOP, version and checklist loaded beside
    it) cost more than twice the statements themselves. The loaded task takes the new
    values as committed ones, so no later flush writes them again; the audit event
    has what the session hook would have written (the changed columns, before and
    after).
    """
    # Core statements do not autoflush: write what came before first (a tick in the same
    # transaction), so the task's history keeps its order.
    session.flush()
    done = {"status": TaskStatus.DONE, "completed_at": now, "completed_by_id": user.id}
    was = {key: getattr(task, key) for key in done}
    session.execute(_MARK_DONE, {"done_task_id": task.id, **done})
    for key, value in done.items():
        set_committed_value(task, key, value)
    session.expire(task, ["updated_at"])  # set by the UPDATE (the column's onupdate)
    changed = [key for key in done if was[key] != done[key]]
    before = {key: _plain(was[key]) for key in changed}
    after = {key: _plain(done[key]) for key in changed}
    session.execute(_INSERT_AUDIT, [audit_row("update", "task", task.id, before, after)])
    event = {"task_id": task.id, "actor_id": user.id, "kind": "completed", "at": now}
    session.execute(_INSERT_EVENT, [event])


def _plain(value: Any) -> Any:
    """Return `value` as the audit trail stores it (enums by value, instants in ISO form)."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def complete_task(
    session: Session, task: Task, user: User, now: datetime | None = None
) -> Completion:
    """Mark `task` done by `user` and create the SOP steps it unlocks.

    Raises TaskActionError (nothing changed) when a required item, evidence or
    approval is missing. The caller commits.
    """
    now = now or utcnow()
    problems = completion_problems(session, task, user)
    if problems:
        raise TaskActionError(" ".join(problems))
    _mark_done(session, task, user, now)
    prepared = prepared_for(task.sop_version)
    if not prepared.successors.get(task.step_id):  # the SOP's last step: nothing to plan
        return Completion(task, [])
    subject = fetch_one(session, prepared.spec, task.subject_id)
    if subject is None:
        return Completion(task, [])
    ctx = RunContext(
        sop_id=task.sop_id,
        sop_slug=task.sop.slug,
        version_id=task.sop_version_id,
        run_id=task.run_id,
        trigger="completion",
        now=now,
        today=deadlines.local_date(now, subject.site_timezone),
    )
    finished = [(subject, task.cycle, task.step_id)]
    rows = advance_many(session, prepared, ctx, finished, now)
    return Completion(task, [row["id"] for row in rows], rows, subject.site_timezone)


def tick(
    session: Session, item: ChecklistItem, user: User, done: bool, now: datetime | None = None
) -> None:
    """Tick (or untick) a checklist item, recording who and when on the task's history."""
    now = now or utcnow()
    item.done_at = now if done else None
    item.done_by_id = user.id if done else None
    session.add(
        TaskEvent(
            task_id=item.task_id,
            actor_id=user.id,
            kind="checklist",
            at=now,
            message=("Ticked: " if done else "Unticked: ") + item.label,
        )
    )


def task_by_id(session: Session, task_id: int) -> Task | None:
    return session.scalar(select(Task).where(Task.id == task_id))
