"""What people do to a task: tick its checklist, complete it. Completing a step
creates the steps that waited on it, in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import ChecklistItem, Role, Task, TaskEvent, TaskStatus, User, utcnow
from services import deadlines
from services.engine.planner import RunContext
from services.engine.progress import advance_after
from services.engine.subjects import fetch_one
from services.sops.registry import prepared_for

# Who may approve: a role approves its own steps and those of the roles below it.
ROLE_RANK = {Role.VA: 1, Role.MANAGER: 2, Role.ADMIN: 3}


class TaskActionError(Exception):
    """The action is not allowed now; the message says why, for the person."""


@dataclass(frozen=True)
class Completion:
    """A completed task and the ids of the tasks its completion created."""

    task: Task
    created: list[int]


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
    task.status = TaskStatus.DONE
    task.completed_at = now
    task.completed_by_id = user.id
    session.add(TaskEvent(task_id=task.id, actor_id=user.id, kind="completed", at=now))
    session.flush()
    prepared = prepared_for(task.sop_version)
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
    created = advance_after(session, prepared, ctx, subject, task.cycle, task.step_id, now)
    return Completion(task, created)


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
