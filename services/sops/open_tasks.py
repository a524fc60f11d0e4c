"""Applying a new SOP version to its open tasks ("apply to open tasks" on save).

Open tasks keep the version that created them unless the manager asks for this:
then each is moved to the new version and re-dated, re-worded, re-assigned or
cancelled exactly as the preview computed (`services.sops.impact.plan_changes`).
Through the ORM, so the audit hook records every change; each changed task also
gets a line in its own history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from models import OPEN_STATUSES, SopVersion, Task, TaskEvent, TaskStatus, current_actor, utcnow
from services.sops.impact import KINDS, TaskChange, open_tasks, plan_changes

LABELS = {
    "redate": "re-dated",
    "reassign": "re-assigned",
    "retitle": "re-worded",
    "cancel": "cancelled",
}


@dataclass
class Applied:
    """What "apply to open tasks" did."""

    moved: int = 0  # open tasks now on the new version
    counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """Return e.g. "3 re-dated, 1 cancelled" (or that nothing needed a change)."""
        parts = [f"{n} {LABELS[kind]}" for kind, n in self.counts.items() if n]
        return ", ".join(parts) or "no task needed a change"


def apply_to_open_tasks(
    session: Session, version: SopVersion, now: datetime | None = None
) -> Applied:
    """Move the SOP's open tasks to `version`, re-dating, re-wording, re-assigning and
    cancelling them as `plan_changes` says. Through the ORM, so each change is audited;
    a changed date or title bumps the task's revision (calendar SEQUENCE)."""
    now = now or utcnow()
    tasks = open_tasks(session, version.sop_id)
    changes = {c.task_id: c for c in plan_changes(session, version, tasks, now)}
    applied = Applied(counts=dict.fromkeys(KINDS, 0))
    actor = current_actor()
    for task in tasks:
        change = changes.get(task.id)
        if change is not None:
            _apply(task, change, version.number)
            for kind in change.kinds:
                applied.counts[kind] += 1
            session.add(
                TaskEvent(
                    task_id=task.id,
                    at=now,
                    actor_id=actor.user_id,
                    kind="sop_changed",
                    message=_event_message(change, version.number),
                    detail={"version": version.number, "kinds": change.kinds},
                )
            )
        if task.status in OPEN_STATUSES:
            task.sop_version_id = version.id
            applied.moved += 1
    session.flush()
    return applied


def _apply(task: Task, change: TaskChange, number: int) -> None:
    if "cancel" in change.kinds:
        task.status = TaskStatus.CANCELLED
        task.cancel_reason = f"Step {task.step_id} was removed in version {number} of the SOP"
        task.revision += 1
        return
    for name, value in change.values.items():
        setattr(task, name, value)
    if {"redate", "retitle"} & set(change.kinds):
        task.revision += 1
    if "redate" in change.kinds:
        task.warned_at = None  # a new deadline deserves its own warning


def _event_message(change: TaskChange, number: int) -> str:
    parts = []
    if "cancel" in change.kinds:
        parts.append("cancelled: its step was removed")
    if "redate" in change.kinds:
        parts.append(f"due {change.before['due_on']} → {change.after['due_on']}")
    if "retitle" in change.kinds:
        parts.append("re-worded")
    if "reassign" in change.kinds:
        parts.append("re-assigned by the new assignment rule")
    return f"SOP version {number}: " + "; ".join(parts)
