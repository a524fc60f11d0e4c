"""From a spec, a subject and the run's moment to the task rows that should exist.

Pure computation: nothing here reads or writes the database. Deadlines come
from `services.deadlines` (memoised: a sweep meets the same few hundred
anchor dates over and over).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from models import Role, TaskStatus
from models.durations import Duration
from models.sop_spec import DueRule, SopSpec, Step
from models.tasks import TASK_IDENTITY
from services import deadlines
from services.engine.fast_templates import Render, renderer
from services.engine.subjects import SubjectRow, referenced_relationships
from services.sop_validation import RunInfo, sandbox_environment, template_context

MAX_TITLE = 300
MAX_ERROR = 300


@dataclass(frozen=True)
class RunContext:
    """The fixed facts of one run, the same for every batch (and every retry of one)."""

    sop_id: int
    sop_slug: str
    version_id: int
    run_id: int | None
    trigger: str
    now: datetime
    today: date
    inputs: dict[str, Any] = field(default_factory=dict)

    def run_info(self) -> RunInfo:
        return RunInfo(self.today, self.now, self.trigger)


class StepSkipped(Exception):
    """The step does not apply to this subject; the message says why."""


@dataclass
class PreparedStep:
    step: Step
    title: Render
    description: Render | None
    when: Any  # compiled expression or None


class PreparedSpec:
    """A spec with its templates and expressions compiled once, in the shared sandbox."""

    def __init__(self, spec: SopSpec) -> None:
        env = sandbox_environment()
        self.spec = spec
        self.kind = spec.subjects.kind
        self.subject_when = (
            env.compile_expression(spec.subjects.when) if spec.subjects.when else None
        )
        self.steps: dict[str, PreparedStep] = {
            step.id: PreparedStep(
                step=step,
                title=renderer(env, step.title),
                description=renderer(env, step.description) if step.description else None,
                when=env.compile_expression(step.when) if step.when else None,
            )
            for step in spec.steps
        }
        self.roots = [s.id for s in spec.steps if not s.after]
        self.successors: dict[str, list[str]] = {s.id: [] for s in spec.steps}
        for step in spec.steps:
            for before in step.after:
                self.successors[before].append(step.id)
        self.relationships = referenced_relationships(spec)


def context_for(subject: SubjectRow, ctx: RunContext) -> dict[str, Any]:
    """Return the names templates and expressions see for this subject in this run."""
    return template_context(subject.view, subject.site_view, ctx.today, ctx.run_info(), ctx.inputs)


def subject_applies(prepared: PreparedSpec, subject: SubjectRow, ctx: RunContext) -> bool:
    """Return the subject-level `when:` for this subject (True when there is none)."""
    if prepared.subject_when is None:
        return True
    return bool(prepared.subject_when(**context_for(subject, ctx)))


def cycle_of(prepared: PreparedSpec, subject: SubjectRow, ctx: RunContext) -> str:
    """Return the cycle key: the same subject gets a new task each cycle."""
    return prepared.spec.subjects.cycle_key(subject.view, ctx.today)


# A task's identity as `models.TASK_IDENTITY` orders it: (subject id, kind, sop id,
# step id, cycle), unique in the database.
Identity = tuple[int, str, int, str, str]


def identity(ctx: RunContext, step_id: str, kind: str, subject_id: int, cycle: str) -> Identity:
    """Return the identity of the task of `step_id` for this subject and cycle."""
    return (subject_id, kind, ctx.sop_id, step_id, cycle)


def as_identity(values: Sequence[Any]) -> Identity:
    """Return an identity from its values in `TASK_IDENTITY` order (a kind read back from
    the database as its text value)."""
    subject_id, kind, sop_id, step_id, cycle = values
    return (subject_id, getattr(kind, "value", kind), sop_id, step_id, cycle)


def identity_of(row: dict[str, Any]) -> Identity:
    """Return the identity of a planned (or inserted) task row."""
    return as_identity([row[name] for name in TASK_IDENTITY])


@functools.lru_cache(maxsize=65536)
def point_on_day(
    anchor: date, offset: Duration, calendar: str, tz: str, at: time | None, is_deadline: bool
) -> tuple[date, datetime]:
    """Return (local day, UTC instant) of `offset` from the day `anchor` at a site with
    this holiday calendar and zone: at `at`, else the end of the day for a deadline and
    its start for a start rule. Memoised: a sweep meets the same few hundred anchors."""
    day = deadlines.apply_offset(anchor, offset, calendar)
    if at is None and not is_deadline:
        at = time(0, 0)  # visible from the start of the day
    return day, deadlines.deadline_instant(day, tz, at)


def resolve_point(
    rule: DueRule,
    subject: SubjectRow,
    ctx: RunContext,
    completed_at: datetime | None,
    is_deadline: bool = True,
) -> tuple[date, datetime]:
    """Return (local day, UTC instant) of a due or start rule for this subject.

    Raises StepSkipped when the anchor has no value (e.g. no expiry date on file).
    """
    tz, calendar = subject.site_timezone, subject.site_calendar
    offset = rule.offset_for_state(subject.site_state)
    if rule.anchor == "subject":
        value = subject.value(rule.subject_field or "")
        if value is None:
            raise StepSkipped(f"no {rule.subject_field} on file")
        anchor_instant = value if isinstance(value, datetime) else None
        anchor_day = deadlines.local_date(value, tz) if isinstance(value, datetime) else value
    elif rule.anchor == "completion":
        if completed_at is None:
            raise StepSkipped("waits for the completion of an earlier step")
        anchor_instant, anchor_day = completed_at, deadlines.local_date(completed_at, tz)
    else:
        anchor_instant, anchor_day = ctx.now, deadlines.local_date(ctx.now, tz)
    if offset.unit == "h":
        base = anchor_instant or deadlines.deadline_instant(anchor_day, tz, time(0, 0))
        instant = base + timedelta(hours=offset.amount)
        return deadlines.local_date(instant, tz), instant
    return point_on_day(anchor_day, offset, calendar, tz, rule.at_time, is_deadline)


def plan_task(
    prepared: PreparedSpec,
    step_id: str,
    subject: SubjectRow,
    cycle: str,
    ctx: RunContext,
    completed_at: datetime | None = None,
) -> dict[str, Any]:
    """Return the column values of the task `step_id` should create for `subject`.

    A step whose `when:` is false, or whose anchor date is missing, becomes a
    row with status `skipped` and the reason, so the decision is on record and
    the step is not reconsidered on every run.
    """
    prep = prepared.steps[step_id]
    step = prep.step
    context = context_for(subject, ctx)
    row: dict[str, Any] = {
        "sop_id": ctx.sop_id,
        "sop_version_id": ctx.version_id,
        "step_id": step_id,
        "run_id": ctx.run_id,
        "subject_type": prepared.kind.value,
        "subject_id": subject.id,
        "subject_ref": subject.ref,
        "cycle": cycle,
        "site_id": subject.site_id,
        "status": TaskStatus.OPEN.value,
        "priority": step.priority_rank,
        "evidence_required": bool(step.evidence and step.evidence.required),
        "approval_role": Role(step.approval.role).value if step.approval else None,
        "created_at": ctx.now,
        "updated_at": ctx.now,
        "escalation_level": 0,
        "revision": 0,
        "title": prep.title(context)[:MAX_TITLE],
        "description": prep.description(context) if prep.description else None,
        "starts_at": None,
        "cancel_reason": None,
    }
    try:
        if prep.when is not None and not prep.when(**context):
            raise StepSkipped(f"condition `{step.when}` was false")
        row["due_on"], row["due_at"] = resolve_point(step.due, subject, ctx, completed_at)
        if step.starts is not None:
            _, row["starts_at"] = resolve_point(step.starts, subject, ctx, completed_at, False)
    except StepSkipped as skipped:
        row["status"] = TaskStatus.SKIPPED.value
        row["cancel_reason"] = f"Skipped: {skipped}"
        today_local = deadlines.local_date(ctx.now, subject.site_timezone)
        row.setdefault("due_on", today_local)
        row.setdefault("due_at", deadlines.end_of_day(today_local, subject.site_timezone))
    return row


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def short_error(exc: Exception) -> str:
    """Return an error's class and message for a run's failure list, trimmed and with
    quoted values blanked: a message like "invalid literal: 'Smith'" could carry PHI,
    and failures are shown to managers and logged."""
    return f"{type(exc).__name__}: {_QUOTED.sub('…', str(exc))}"[:MAX_ERROR]
