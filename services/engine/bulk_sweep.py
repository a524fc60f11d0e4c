"""The set-based sweep (PostgreSQL): one batch's tasks planned and written by SQL.

Per batch, whatever its size, a few statements (`bulk_statements`): one plans every
(subject, root step) that has no task yet into a temporary table; the plan's few
hundred (step, site, anchor day) groups get their deadlines from
`services.deadlines`, and its open rows their placements from `services.assignment`
(the same calls, in the same order, as the Python planner makes); one insert writes
the tasks. No subject row travels to Python. The row-by-row planner in
`sweep.process_batch` stays the reference and the path for everything this one
does not compile (see `bulk_plan.compile_spec`); tests compare the two.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import Site, current_actor, utcnow
from models.sop_spec import DueRule
from services import deadlines
from services.assignment import plan_placements, team_id_for
from services.engine.bulk_plan import NO_ANCHOR, RUN_ANCHOR, SpecSql, StepSql
from services.engine.bulk_statements import (
    CREATE_PLAN,
    IDENTITY_CONSTRAINT,
    INSERT_PLAIN,
    INSERT_SKIPPING,
    PLAN_GROUPS,
    next_id,
    plan_statement,
    successors_statement,
)
from services.engine.planner import PreparedSpec, RunContext, point_on_day
from services.engine.subjects import DEFAULT_CALENDAR, DEFAULT_TIMEZONE


@dataclass
class BulkBatch:
    """What one set-based batch did (`last_id` None: no subjects were left).

    `skipped_steps`: (subject id, step id, cycle) of the root tasks written as
    skipped, whose successors the caller creates at once.
    """

    last_id: int | None
    skipped_subjects: int = 0
    inserted: int = 0
    opened: int = 0
    skipped_steps: list[tuple[int, str, str]] = field(default_factory=list)
    unchanged: int = 0


@dataclass(frozen=True)
class SiteFacts:
    """What a site's deadlines depend on."""

    timezone: str
    calendar: str
    state: str | None


def _sites(session: Session) -> dict[int, SiteFacts]:
    """Return every site's zone, holiday calendar and state by id (0: no site)."""
    table = Site.__table__
    rows = session.execute(
        sa.select(table.c.id, table.c.timezone, table.c.holiday_calendar, table.c.state)
    )
    facts = {
        site_id: SiteFacts(tz or DEFAULT_TIMEZONE, cal or DEFAULT_CALENDAR, state)
        for site_id, tz, cal, state in rows
    }
    facts[0] = SiteFacts(DEFAULT_TIMEZONE, DEFAULT_CALENDAR, None)
    return facts


def _deadlines(
    steps: list[StepSql], ctx: RunContext, sites: dict[int, SiteFacts], groups: list[Any]
) -> dict[str, list[Any]]:
    """Each plan group's deadline (day, instant) and start, computed by
    `services.deadlines` (business days, holidays, DST) as `planner.plan_task` does: a
    row skipped before its due rule is due at the end of its site's today; a row
    skipped for a missing start anchor keeps its deadline and has no start."""
    columns: dict[str, list[Any]] = defaultdict(list)
    by_id = {step.step_id: step for step in steps}
    todays = {key: deadlines.local_date(ctx.now, facts.timezone) for key, facts in sites.items()}
    for group in groups:
        step, facts = by_id[group.step_id], sites[group.site_key]
        today = todays[group.site_key]
        starts_at = None
        if group.skip_due:
            due = (today, deadlines.end_of_day(today, facts.timezone))
        else:
            due = _point(step.due, group.due_anchor, today, facts, True)
            if group.is_open and step.starts is not None:
                starts_at = _point(step.starts, group.starts_anchor, today, facts, False)[1]
        values = (
            group.step_id,
            group.site_key,
            group.due_anchor or NO_ANCHOR,
            group.starts_anchor or NO_ANCHOR,
            group.is_open,
            group.skip_due,
            *due,
            starts_at,
        )
        for name, value in zip(_DEADLINE_COLUMNS, values, strict=True):
            columns[name].append(value)
    return columns


_DEADLINE_COLUMNS = (
    "g_step",
    "g_site",
    "g_due_anchor",
    "g_starts_anchor",
    "g_open",
    "g_skip_due",
    "g_due_on",
    "g_due_at",
    "g_starts_at",
)


def _point(
    rule: DueRule, anchor: date, today: date, facts: SiteFacts, is_deadline: bool
) -> tuple[date, datetime]:
    """(local day, UTC instant) of `rule` from `anchor` (RUN_ANCHOR: the site's today)."""
    day = today if anchor == RUN_ANCHOR else anchor
    offset = rule.offset_for_state(facts.state)
    return point_on_day(day, offset, facts.calendar, facts.timezone, rule.at_time, is_deadline)


def _placements(
    session: Session, prepared: PreparedSpec, steps: list[StepSql], counts: dict[str, int]
) -> dict[str, list[Any]]:
    """Placements of the plan's open rows, step by step in the planner's order, as two
    arrays (team, person) holding each step's lead and one period, from the step's
    base (see `assignment.Placements`): the row ranked r takes entry base + r up to
    the lead's length, then base + the lead's length + its place in the cycle."""
    columns: dict[str, list[Any]] = defaultdict(list)
    for step in steps:
        n = counts.get(step.step_id, 0)
        if not n:
            continue
        rule = prepared.spec.assignment_for(prepared.steps[step.step_id].step)
        placements = plan_placements(session, rule, n, prepared.spec.owner_team)
        columns["o_step"].append(step.step_id)
        columns["o_base"].append(len(columns["l_user"]))
        columns["o_lead"].append(len(placements.lead))
        columns["o_period"].append(len(placements.cycle))
        for placement in (*placements.lead, *placements.cycle):
            columns["l_team"].append(placement.team_id)
            columns["l_user"].append(placement.assignee_id)
    return columns


def _insert_tasks(session: Session, params: dict[str, Any]) -> Any:
    """Write the plan into `task` and return the statement's one row of counts.

    The plan holds only keys that had no task, so a conflict means that a concurrent
    writer (another run of the SOP, an event run) inserted one meanwhile: the plain
    insert (no arbiter: one unique-index probe per row less) runs in a savepoint and,
    on a duplicate key, runs again skipping conflicts. Either way the unique
    constraint is the guard.
    """
    try:
        with session.begin_nested():
            return session.connection().execute(INSERT_PLAIN, params).one()
    except IntegrityError as exc:
        if getattr(exc.orig.diag, "constraint_name", None) != IDENTITY_CONSTRAINT:
            raise
    return session.connection().execute(INSERT_SKIPPING, params).one()


def _write_plan(
    session: Session,
    prepared: PreparedSpec,
    steps: list[StepSql],
    ctx: RunContext,
    sites: dict[int, SiteFacts],
) -> Any | None:
    """Write what `sweep_plan` holds for `steps` into `task`, with its deadlines and
    placements; return the insert's row of counts (None: the plan is empty)."""
    connection = session.connection()
    groups = connection.execute(PLAN_GROUPS).all()
    if not groups:
        return None
    planned: dict[str, int] = defaultdict(int)  # open rows per step
    for group in groups:
        planned[group.step_id] += group.n if group.is_open else 0
    actor = current_actor()
    params = {
        **_deadlines(steps, ctx, sites, groups),
        **_placements(session, prepared, steps, planned),
        "sop_id": ctx.sop_id,
        "version_id": ctx.version_id,
        "run_id": ctx.run_id,
        "kind": prepared.kind.value,
        "owner_team": team_id_for(session, prepared.spec.owner_team),
        "now": ctx.now,
        "no_anchor": NO_ANCHOR,
        "audit_at": utcnow(),
        "actor_id": actor.user_id,
        "actor_label": actor.label[:120],
        "audit_entity": f"run:{ctx.run_id}",
    }
    for name in ("l_team", "l_user", "o_step", "o_base", "o_lead", "o_period"):
        params.setdefault(name, [])
    # The temporary table and the arrays have no statistics, so the planner guesses a
    # handful of rows and nests loops (or sorts for a merge) over thousands; every join
    # here is an equality join against a few hundred rows that a hash join does in one
    # pass.
    connection.exec_driver_sql("SET LOCAL enable_nestloop = off; SET LOCAL enable_mergejoin = off")
    row = _insert_tasks(session, params)
    connection.exec_driver_sql(
        "SET LOCAL enable_nestloop = DEFAULT; SET LOCAL enable_mergejoin = DEFAULT"
    )
    connection.exec_driver_sql("TRUNCATE sweep_plan")
    return row


def _skipped(row: Any) -> list[tuple[int, str, str]]:
    """(subject id, step id, cycle) of the tasks an insert wrote as skipped."""
    if row is None or not row.s_subject:
        return []
    return list(zip(row.s_subject, row.s_step, row.s_cycle, strict=True))


def run_bulk_batch(
    session: Session,
    prepared: PreparedSpec,
    compiled: SpecSql,
    ctx: RunContext,
    where: Any,
    after: int,
    limit: int,
) -> BulkBatch:
    """Plan and write in SQL the tasks of the subjects that `where` matches among ids
    (`after`, `after` + `limit`], the range starting at the next existing id (the
    batch's last id is the range's end); then, where a root was written as skipped,
    the steps waiting on it (when they compile: `SpecSql.successors`).

    Returns the counts and the steps written as skipped whose successors are still to
    create (the caller advances past them); one audit event per insert lists the
    tasks created.
    """
    first = session.scalar(next_id(compiled, after))
    if first is None:
        return BulkBatch(last_id=None)
    last = first + limit - 1
    connection = session.connection()
    connection.exec_driver_sql(CREATE_PLAN)
    # Compiling these statements to machine code takes longer than running them (the
    # correlated subqueries of templates inflate their estimated cost past
    # jit_above_cost); off until the batch's transaction ends.
    connection.exec_driver_sql("SET LOCAL jit = off")
    statement = plan_statement(prepared, compiled, ctx, where, after, last)
    count, skipped_subjects = connection.execute(statement).one()
    batch = BulkBatch(last_id=last, skipped_subjects=skipped_subjects)
    sites = _sites(session)
    row = _write_plan(session, prepared, compiled.steps, ctx, sites) if count else None
    if row is not None:
        batch.inserted, batch.opened = row.inserted, row.opened
    batch.unchanged = (count - skipped_subjects) * len(compiled.steps) - batch.inserted
    batch.skipped_steps = _skipped(row)
    if batch.skipped_steps and compiled.successors is not None:
        by_root: dict[str, list[int]] = defaultdict(list)
        for subject_id, step_id, _ in batch.skipped_steps:
            by_root[step_id].append(subject_id)
        batch.skipped_steps = []
        if any(step.after in by_root for step in compiled.successors):
            connection.execute(successors_statement(prepared, compiled, ctx, by_root))
            row = _write_plan(session, prepared, compiled.successors, ctx, sites)
            if row is not None:
                batch.inserted += row.inserted
                batch.opened += row.opened
                batch.skipped_steps = _skipped(row)
    return batch
