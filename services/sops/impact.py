"""What saving a new SOP text would do to real work, and applying it to open tasks.

A preview compares an unsaved text with the live data:

- *create* / *cancel at the next run*: a real run of the new text (the engine
  itself, not a model of it) inside the transaction, read, then rolled back;
- *change*: open tasks of steps whose deadline, wording or assignment rule
  changed, re-planned with the new rules (`plan_task`, `place_tasks`). Applied
  only when the manager chooses "apply to open tasks";
- *cancel (step removed)*: open tasks of steps the new text no longer has, also
  only on "apply";
- *unchanged*: every other open task.

Only steps whose rule changed are re-planned: a task keeps the deadline it was
given even if its subject's data moved since (that is the next run's business),
so the preview shows what *this edit* changes and nothing else.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from models import (
    Sop,
    SopVersion,
    SopVersionSource,
    Task,
    TaskStatus,
    Team,
    User,
    open_work,
    utcnow,
)
from models.sop_spec import SopSpec, Step
from models.subject_kinds import subject_kind
from services import deadlines
from services.assignment import place_tasks
from services.engine.planner import PreparedSpec, RunContext, plan_task
from services.engine.subjects import SubjectRow, attach_relationships, fetch_batch
from services.engine.sweep import execute_run, start_run
from services.sops.registry import add_version, prepared_for

SAMPLE_SIZE = 10
CHUNK = 500
# Warn when an edit would re-date or cancel this many open tasks, or this share of them.
WARN_COUNT = 20
WARN_SHARE = 0.5
KINDS = ("redate", "reassign", "retitle", "cancel")


@dataclass
class TaskChange:
    """What applying the edit does to one open task (`values`: its new column values)."""

    task_id: int
    step: str
    subject: str  # the opaque ref, never a name
    kinds: list[str]
    before: dict[str, Any]
    after: dict[str, Any]
    values: dict[str, Any]


@dataclass
class StepCounts:
    """One step's line of the preview table."""

    create: int = 0
    redate: int = 0
    reassign: int = 0
    retitle: int = 0
    cancel: int = 0
    run_cancel: int = 0
    unchanged: int = 0


@dataclass
class Impact:
    """The preview of an edit: counts per step, samples, and the changes to apply."""

    open_tasks: int = 0
    today: date | None = None  # the preview's day (UTC), for "re-dated into the past"
    per_step: dict[str, StepCounts] = field(default_factory=dict)
    changes: list[TaskChange] = field(default_factory=list)
    created_sample: list[dict[str, Any]] = field(default_factory=list)
    run_cancel_sample: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    run_error: str | None = None

    def step(self, step_id: str) -> StepCounts:
        return self.per_step.setdefault(step_id, StepCounts())

    def total(self, kind: str) -> int:
        """Return the sum over steps of one count (create, redate, cancel, ...)."""
        return sum(getattr(counts, kind) for counts in self.per_step.values())

    def sample(self, kind: str) -> list[TaskChange]:
        """Return up to SAMPLE_SIZE changes of one kind (redate, reassign, ...)."""
        return [c for c in self.changes if kind in c.kinds][:SAMPLE_SIZE]

    @property
    def redated_into_past(self) -> int:
        """Re-dated tasks whose new due date is already past (overdue at once)."""
        if self.today is None:
            return 0
        return sum(
            1 for c in self.changes if "redate" in c.kinds and c.after["due_on"] < self.today
        )

    @property
    def disruptive(self) -> int:
        """Open tasks the edit would re-date or cancel."""
        return len({c.task_id for c in self.changes if {"redate", "cancel"} & set(c.kinds)}) + (
            self.total("run_cancel")
        )

    @property
    def warning(self) -> str | None:
        """A warning when many open tasks would be re-dated or cancelled, else None."""
        share = self.disruptive / self.open_tasks if self.open_tasks else 0.0
        if self.disruptive < WARN_COUNT and (self.open_tasks < 4 or share < WARN_SHARE):
            return None
        return (
            f"This edit would re-date or cancel {self.disruptive} of {self.open_tasks} open "
            f"tasks ({share:.0%}). Check the samples before saving."
        )


def open_tasks(session: Session, sop_id: int) -> list[Task]:
    """Return the SOP's open tasks, soonest due first, with their people and version."""
    query = (
        select(Task)
        .where(Task.sop_id == sop_id, open_work())
        .options(joinedload(Task.assignee), joinedload(Task.team), joinedload(Task.sop_version))
        .order_by(Task.due_at, Task.id)
    )
    return list(session.scalars(query).unique())


def _who(task_or_row: Any, names: dict[int, str], teams: dict[int, str]) -> str:
    assignee, team = task_or_row["assignee_id"], task_or_row["team_id"]
    if assignee is not None:
        return names.get(assignee, f"user {assignee}")
    return f"{teams.get(team, '?')} queue" if team is not None else "unassigned"


def _step_changed(old: Step | None, new: Step, fields: Iterable[str]) -> bool:
    return old is None or any(getattr(old, name) != getattr(new, name) for name in fields)


def _subjects(session: Session, prepared: PreparedSpec, ids: set[int]) -> dict[int, SubjectRow]:
    """Return the subjects with these ids (whatever the filter says), with the
    relationships the new text's templates read."""
    info = subject_kind(prepared.kind)
    found: dict[int, SubjectRow] = {}
    ordered = sorted(ids)
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        rows = fetch_batch(session, prepared.spec, info.model.id.in_(chunk), 0, len(chunk))
        attach_relationships(session, info, rows, prepared.relationships)
        found.update((row.id, row) for row in rows)
    return found


def _replan(
    prepared: PreparedSpec, task: Task, subject: SubjectRow, base: RunContext
) -> dict[str, Any] | None:
    """Return the task's planned columns under the new text, or None if the new text
    would skip it (its `when:` is false now, or its anchor date is missing).

    A task was created when its run started or when the step before it was done,
    so its creation time stands in for both the `run` and the `completion` anchor.
    """
    created = task.created_at
    ctx = replace(base, now=created, today=deadlines.local_date(created, subject.site_timezone))
    row = plan_task(prepared, task.step_id, subject, task.cycle, ctx, completed_at=created)
    return None if row["status"] == TaskStatus.SKIPPED.value else row


def plan_changes(
    session: Session, version: SopVersion, tasks: list[Task], now: datetime
) -> list[TaskChange]:
    """Return what moving these open tasks to `version` changes, task by task."""
    prepared = prepared_for(version)
    spec: SopSpec = prepared.spec
    new_steps = spec.steps_by_id()
    base = RunContext(
        sop_id=version.sop_id,
        sop_slug=version.sop.slug,
        version_id=version.id,
        run_id=None,
        trigger="manual",
        now=now,
        today=now.date(),
        inputs=spec.input_defaults(),
    )
    changes: dict[int, TaskChange] = {}
    to_plan: list[Task] = []
    to_place: dict[str, list[Task]] = defaultdict(list)
    for task in tasks:
        old_spec = prepared_for(task.sop_version).spec
        old_step = old_spec.steps_by_id().get(task.step_id)
        new_step = new_steps.get(task.step_id)
        if new_step is None:
            _add(changes, task, "cancel", {"status": task.status.value}, {"status": "cancelled"})
            continue
        if _step_changed(old_step, new_step, ("due", "starts", "title", "description")):
            to_plan.append(task)
        old_rule = old_spec.assignment_for(old_step) if old_step else None
        # Claimed, blocked or escalated work stays with whoever holds it.
        holdable = task.status is TaskStatus.OPEN and task.escalation_level == 0
        if holdable and old_rule != spec.assignment_for(new_step):
            to_place[task.step_id].append(task)
    subjects = _subjects(session, prepared, {t.subject_id for t in to_plan})
    for task in to_plan:
        subject = subjects.get(task.subject_id)
        row = _replan(prepared, task, subject, base) if subject is not None else None
        if row is None:
            continue
        if (row["due_on"], row["due_at"]) != (task.due_on, task.due_at):
            values = {"due_on": row["due_on"], "due_at": row["due_at"]}
            if row["starts_at"] != task.starts_at:
                values["starts_at"] = row["starts_at"]
            _add(
                changes, task, "redate", {"due_on": task.due_on}, {"due_on": row["due_on"]}, values
            )
        if (row["title"], row["description"]) != (task.title, task.description):
            values = {"title": row["title"], "description": row["description"]}
            _add(changes, task, "retitle", {"title": task.title}, {"title": row["title"]}, values)
    for step_id, step_tasks in to_place.items():
        rule = spec.assignment_for(new_steps[step_id])
        placements = place_tasks(session, rule, len(step_tasks), spec.owner_team)
        for task, placement in zip(step_tasks, placements, strict=True):
            now_at = {"team_id": task.team_id, "assignee_id": task.assignee_id}
            new_at = {"team_id": placement.team_id, "assignee_id": placement.assignee_id}
            if now_at != new_at:
                _add(changes, task, "reassign", now_at, new_at, new_at)
    return sorted(changes.values(), key=lambda c: c.task_id)


def _add(
    changes: dict[int, TaskChange],
    task: Task,
    kind: str,
    before: dict[str, Any],
    after: dict[str, Any],
    values: dict[str, Any] | None = None,
) -> None:
    change = changes.setdefault(
        task.id, TaskChange(task.id, task.step_id, task.subject_ref, [], {}, {}, {})
    )
    change.kinds.append(kind)
    change.before.update(before)
    change.after.update(after)
    change.values.update(values or {})


def preview_edit(session: Session, sop: Sop, text: str, now: datetime | None = None) -> Impact:
    """Return what saving `text` (already checked) as SOP `sop`'s next version would do.

    Everything is computed for real in the session's transaction and rolled back:
    nothing is written. The caller must have nothing pending in the session.
    """
    now = now or utcnow()
    try:
        version = add_version(session, sop, text, SopVersionSource.BROWSER, note="preview")
        tasks = open_tasks(session, sop.id)
        impact = Impact(open_tasks=len(tasks), today=now.date())
        for task in tasks:
            impact.step(task.step_id)
        try:
            impact.changes = plan_changes(session, version, tasks, now)
        except Exception as exc:  # a rule naming a team that does not exist, say
            impact.run_error = f"{type(exc).__name__}: {exc}"
            return impact
        for change in impact.changes:
            for kind in change.kinds:
                setattr(impact.step(change.step), kind, getattr(impact.step(change.step), kind) + 1)
        changed = {c.task_id for c in impact.changes}
        for task in tasks:
            if task.id not in changed:
                impact.step(task.step_id).unchanged += 1
        _label_people(session, impact)
        # Last: a failing run leaves a PostgreSQL transaction unusable until the rollback.
        _next_run(session, sop, impact, {t.id for t in tasks}, now)
        return impact
    finally:
        session.rollback()


def _next_run(
    session: Session, sop: Sop, impact: Impact, open_ids: set[int], now: datetime
) -> None:
    """Run the new text for real (in the transaction the caller rolls back); record
    what it created and which open tasks it cancelled."""
    try:
        run = start_run(session, sop.slug, "manual", now=now)
        execute_run(session, run, commit=False)
    except Exception as exc:  # the preview reports it; the edit may not be saved blindly
        impact.run_error = f"{type(exc).__name__}: {exc}"
        return
    impact.failures = list(run.failures or [])[:SAMPLE_SIZE]
    created = session.scalars(
        select(Task)
        .where(Task.run_id == run.id, Task.status != TaskStatus.SKIPPED)
        .options(joinedload(Task.assignee), joinedload(Task.team))
        .order_by(Task.due_at, Task.id)
    ).all()
    for step_id, count in Counter(t.step_id for t in created).items():
        impact.step(step_id).create = count
    impact.created_sample = [
        {
            "step": t.step_id,
            "subject": t.subject_ref,
            "due_on": t.due_on,
            "who": t.assignee.name if t.assignee else f"{t.team.slug if t.team else '?'} queue",
        }
        for t in created[:SAMPLE_SIZE]
    ]
    cancelled = session.scalars(
        select(Task).where(Task.id.in_(open_ids), Task.status == TaskStatus.CANCELLED)
    ).all()
    for task in cancelled:
        impact.step(task.step_id).run_cancel += 1
    impact.run_cancel_sample = [
        {"step": t.step_id, "subject": t.subject_ref, "reason": t.cancel_reason}
        for t in cancelled[:SAMPLE_SIZE]
    ]


def _label_people(session: Session, impact: Impact) -> None:
    """Replace assignee/team ids in the reassign samples with names, for display."""
    user_ids = {
        c.get("assignee_id")
        for change in impact.changes
        for c in (change.before, change.after)
        if c.get("assignee_id")
    }
    team_ids = {
        c.get("team_id")
        for change in impact.changes
        for c in (change.before, change.after)
        if c.get("team_id")
    }
    names = dict(session.execute(select(User.id, User.name).where(User.id.in_(user_ids))).all())
    teams = dict(session.execute(select(Team.id, Team.slug).where(Team.id.in_(team_ids))).all())
    for change in impact.changes:
        if "reassign" in change.kinds:
            change.before["who"] = _who(change.before, names, teams)
            change.after["who"] = _who(change.after, names, teams)
