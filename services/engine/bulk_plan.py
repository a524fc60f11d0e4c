"""A spec compiled for the set-based sweep: each root step's task columns as SQL.

`compile_spec` turns what `planner.plan_task` computes row by row — cycle, title,
description, `when:` and the anchors of the due and start rules — into SQL over
the subject's row and its site's. Deadlines themselves stay in Python
(`services.deadlines`, the one implementation of business days, holidays and DST):
a batch has only a few hundred distinct (site, anchor day) pairs, so the sweep
computes those in Python and passes them in (see `bulk_sweep`).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from models import Site, SopRun
from models.base import UTCDateTime
from models.sop_spec import DueRule
from models.sop_spec.subjects import CYCLE_KEYWORDS
from models.subject_kinds import subject_kind
from services.engine.bulk_sql import TEXT, NotSetBased, Scope, expression_sql, template_sql
from services.engine.planner import MAX_TITLE, PreparedSpec
from services.engine.subjects import DEFAULT_TIMEZONE

# The anchor of a rule anchored on the run: the real day is each site's local today.
RUN_ANCHOR = date(1900, 1, 1)
# A missing anchor where a plan row is joined to its group's deadline (NULL never equals).
NO_ANCHOR = date(1800, 1, 1)


@dataclass(frozen=True)
class StepSql:
    """One step's columns as SQL expressions over the subject and site rows: a root, or
    a step that waits on one root only (`after`), planned in SQL when that root is
    skipped as it is written."""

    step_id: str
    title: Any
    description: Any
    when: Any | None  # never-NULL boolean, or None for "always"
    due: DueRule
    due_anchor: Any  # SQL date (RUN_ANCHOR for the run; NULL: the subject has none)
    starts: DueRule | None
    starts_anchor: Any | None
    skip_when: str  # the reasons plan_task gives, word for word
    skip_due: str
    skip_starts: str
    after: str | None = None


@dataclass(frozen=True)
class SpecSql:
    """The parts of a spec the set-based sweep needs."""

    scope: Scope
    from_clause: Any
    site_key: Any  # the site's id, 0 for a subject without a site
    subject_when: Any | None
    cycle: Any | None  # SQL text, or None when the cycle is a run keyword
    steps: list[StepSql]
    # The steps waiting on a root, or None when one of them waits on more than a root
    # or does not compile (the planner then creates what a skipped root unlocks).
    successors: list[StepSql] | None = None


def _check_offsets(rule: DueRule) -> None:
    offsets = [rule.offset_for_state(state) for state in (None, *(rule.by_state or {}))]
    if any(offset.unit == "h" for offset in offsets):
        raise NotSetBased("an offset in hours")


def _anchor(scope: Scope, rule: DueRule, timezone: Any, after: str | None) -> Any:
    """Return the SQL day a rule counts from (the site's local day of an instant).

    A step planned because the root it waits on was skipped counts a completion from
    the moment of the run, as the planner does (that root finished then).
    """
    _check_offsets(rule)
    if rule.anchor == "run" or (rule.anchor == "completion" and after is not None):
        return sa.literal(RUN_ANCHOR, sa.Date)
    if rule.anchor != "subject":
        raise NotSetBased("a root step anchored on a completion")
    column = scope.subject.c[rule.subject_field]
    if isinstance(column.type, sa.Date):
        return column
    if isinstance(column.type, UTCDateTime):
        # An instant's day is the site's local day (AT TIME ZONE is exact across DST).
        return sa.cast(sa.func.timezone(timezone, column), sa.Date)
    raise NotSetBased(f"anchor {rule.subject_field} is neither a date nor an instant")


def _cycle(scope: Scope, field_name: str | None) -> Any | None:
    if field_name is None:
        return None
    column = scope.subject.c[field_name]
    if isinstance(column.type, UTCDateTime):
        raise NotSetBased("an instant as the cycle")
    python_type = column.type.python_type
    if python_type is date:
        return sa.func.coalesce(sa.func.to_char(column, "YYYY-MM-DD"), "none")
    if issubclass(python_type, str) or python_type is int:
        return sa.func.coalesce(sa.func.left(sa.cast(column, TEXT), 40), "none")
    raise NotSetBased(f"a {python_type.__name__} cycle field")


def _step(
    prepared: PreparedSpec, scope: Scope, step_id: str, timezone: Any, after: str | None = None
) -> StepSql:
    step = prepared.steps[step_id].step
    due_field = step.due.subject_field
    starts_field = step.starts.subject_field if step.starts else None
    return StepSql(
        step_id=step_id,
        title=sa.func.left(template_sql(scope, step.title), MAX_TITLE),
        description=template_sql(scope, step.description) if step.description else sa.null(),
        when=expression_sql(scope, step.when) if step.when else None,
        due=step.due,
        due_anchor=_anchor(scope, step.due, timezone, after),
        starts=step.starts,
        starts_anchor=_anchor(scope, step.starts, timezone, after) if step.starts else None,
        skip_when=f"Skipped: condition `{step.when}` was false",
        skip_due=f"Skipped: no {due_field} on file",
        skip_starts=f"Skipped: no {starts_field} on file",
        after=after,
    )


def _successors(prepared: PreparedSpec, scope: Scope, timezone: Any) -> list[StepSql] | None:
    """Return the steps that wait on a root, compiled; None when one waits on more than
    that root or has no exact SQL form."""
    roots = set(prepared.roots)
    steps = []
    try:
        for step in prepared.spec.steps:
            if not roots & set(step.after):
                continue
            if len(step.after) != 1:
                raise NotSetBased(f"step {step.id} waits on more than one step")
            steps.append(_step(prepared, scope, step.id, timezone, after=step.after[0]))
    except NotSetBased:
        return None
    return steps


@functools.lru_cache(maxsize=64)
def compile_spec(prepared: PreparedSpec) -> SpecSql | None:
    """Return the spec's set-based form, or None when some part needs the Python planner.

    Cached per prepared spec (itself cached per SOP version text).
    """
    try:
        return _compile(prepared)
    except NotSetBased:
        return None


def not_set_based_reason(prepared: PreparedSpec) -> str | None:
    """Return why the spec runs on the Python planner (None: it is set-based)."""
    try:
        _compile(prepared)
    except NotSetBased as exc:
        return str(exc)
    return None


def _compile(prepared: PreparedSpec) -> SpecSql:
    info = subject_kind(prepared.kind)
    subject = info.model.__table__
    if info.site_column is None:
        site, from_clause = subject, subject
    else:
        site = Site.__table__
        from_clause = subject.outerjoin(site, site.c.id == subject.c[info.site_column])
    scope = Scope(info, subject, site)
    timezone = sa.func.coalesce(site.c.timezone, DEFAULT_TIMEZONE)
    spec = prepared.spec
    field_name = None if spec.subjects.cycle in CYCLE_KEYWORDS else spec.subjects.cycle
    return SpecSql(
        scope=scope,
        from_clause=from_clause,
        site_key=sa.func.coalesce(site.c.id, 0),
        subject_when=expression_sql(scope, spec.subjects.when) if spec.subjects.when else None,
        cycle=_cycle(scope, field_name),
        steps=[_step(prepared, scope, step_id, timezone) for step_id in prepared.roots],
        successors=_successors(prepared, scope, timezone),
    )


def uses_set_based(session: Session, run: SopRun, prepared: PreparedSpec) -> bool:
    """Return True when the run's batches are planned in SQL (`bulk_sweep`): on
    PostgreSQL, for a sweep (not a one-subject event run, where the row-by-row
    planner is cheaper), when every root step compiles (`bulk_plan`)."""
    if session.get_bind().dialect.name != "postgresql":
        return False
    if (run.trigger_detail or {}).get("subject_id") is not None:
        return False
    if os.environ.get("SOPFLOW_SWEEP_PLANNER") == "python":  # to compare the two by hand
        return False
    return compile_spec(prepared) is not None
