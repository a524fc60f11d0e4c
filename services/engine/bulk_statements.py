"""The set-based sweep's statements (PostgreSQL): plan a batch, then write its tasks.

`plan_statement` reads the batch's range of subjects once and inserts the plan of
every (subject, root step) without a task yet into the temporary table `sweep_plan`
(titles, descriptions, keys and conditions compiled by `bulk_plan`);
`successors_statement` does the same for the steps waiting on a root that was just
written as skipped. `PLAN_GROUPS` reads back the plan's (step, site, anchor days)
groups, whose deadlines `bulk_sweep` computes in Python, and its open rows per step,
which it places. `INSERT_PLAIN` and `INSERT_SKIPPING` then write the plan into
`task`, with deadlines and placements passed in as arrays.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from models import Role, TaskStatus
from models.tasks import TASK_IDENTITY
from services.engine.bulk_plan import SpecSql, StepSql
from services.engine.planner import PreparedSpec, RunContext

OPEN, SKIPPED = TaskStatus.OPEN.value, TaskStatus.SKIPPED.value
_IDS = postgresql.ARRAY(sa.Integer)

PLAN_COLUMNS = (
    "title, description, step_id, subject_id, subject_ref, cycle, site_id, "
    "site_key, status, cancel_reason, skip_due, due_anchor, starts_anchor, priority, "
    "evidence_required, approval_role, place_rank"
)
CREATE_PLAN = (
    "CREATE TEMP TABLE IF NOT EXISTS sweep_plan (title text, description "
    "text, step_id text, subject_id integer, subject_ref text, cycle text, site_id integer, "
    "site_key integer, status text, cancel_reason text, skip_due boolean, due_anchor date, "
    "starts_anchor date, priority integer, evidence_required boolean, approval_role text, "
    "place_rank integer)"
)
# Deadlines and placements join in as arrays (one parameter each, whatever the count).
INSERT_TASKS = """
WITH deadlines AS (
    SELECT * FROM unnest(CAST(:g_step AS text[]), CAST(:g_site AS integer[]),
        CAST(:g_due_anchor AS date[]), CAST(:g_starts_anchor AS date[]),
        CAST(:g_open AS boolean[]), CAST(:g_skip_due AS boolean[]), CAST(:g_due_on AS date[]),
        CAST(:g_due_at AS timestamptz[]), CAST(:g_starts_at AS timestamptz[]))
        AS t(step_id, site_key, due_anchor, starts_anchor, is_open, skip_due, due_on, due_at,
            starts_at)
), periods AS (
    -- Per step: where its placements start in :l_team / :l_user, its lead and period.
    SELECT * FROM unnest(CAST(:o_step AS text[]), CAST(:o_base AS integer[]),
        CAST(:o_lead AS integer[]), CAST(:o_period AS integer[]))
        AS t(step_id, base, lead, period)
), planned AS (
    SELECT p.*, o.base + CASE WHEN p.place_rank <= o.lead THEN p.place_rank
        ELSE o.lead + (p.place_rank - o.lead - 1) % o.period + 1 END AS slot
    FROM sweep_plan p LEFT JOIN periods o ON o.step_id = p.step_id
), inserted AS (
    INSERT INTO task (title, description, sop_id, sop_version_id, step_id, run_id,
        subject_type, subject_id, subject_ref, cycle, site_id, team_id, assignee_id, status,
        priority, starts_at, due_on, due_at, cancel_reason, escalation_level, evidence_required,
        approval_role, revision, created_at, updated_at)
    SELECT p.title, p.description, :sop_id, :version_id, p.step_id, :run_id,
        :kind, p.subject_id, p.subject_ref, p.cycle, p.site_id,
        CASE WHEN p.status = 'open' THEN (CAST(:l_team AS integer[]))[p.slot]
            ELSE :owner_team END,
        CASE WHEN p.status = 'open' THEN (CAST(:l_user AS integer[]))[p.slot] END, p.status,
        p.priority, d.starts_at, d.due_on, d.due_at,
        p.cancel_reason, 0, p.evidence_required, p.approval_role, 0, :now, :now
    FROM planned p
    -- Each plan group's deadline and start (see PLAN_GROUPS): one lookup a row.
    JOIN deadlines d ON d.step_id = p.step_id AND d.site_key = p.site_key
        AND d.due_anchor = coalesce(p.due_anchor, :no_anchor)
        AND d.starts_anchor = coalesce(p.starts_anchor, :no_anchor)
        AND d.is_open = (p.status = 'open') AND d.skip_due = p.skip_due
    {on_conflict}
    RETURNING id, status, subject_id, step_id, cycle
), audit AS (
    -- One event lists every task the statement created (as writer.write_tasks records).
    INSERT INTO audit_event (at, actor_id, actor_label, action, entity_type, entity_id, after)
    SELECT :audit_at, :actor_id, :actor_label, 'bulk_create', 'task', :audit_entity,
        json_build_object('sop_version_id', CAST(:version_id AS integer),
            'run_id', CAST(:run_id AS integer),
            'task_ids', json_agg(id ORDER BY id))
    FROM inserted HAVING count(*) > 0
)
SELECT count(*) AS inserted, count(*) FILTER (WHERE status = 'open') AS opened,
    array_agg(subject_id ORDER BY subject_id) FILTER (WHERE status = 'skipped') AS s_subject,
    array_agg(step_id ORDER BY subject_id) FILTER (WHERE status = 'skipped') AS s_step,
    array_agg(cycle ORDER BY subject_id) FILTER (WHERE status = 'skipped') AS s_cycle
FROM inserted
"""
# The plan holds only keys that had no task, so a conflict means that a concurrent
# writer (another run of the SOP, an event run) inserted one meanwhile. The batch
# first inserts without an arbiter, which saves a unique-index probe per row, inside
# a savepoint; on a duplicate key it runs again skipping conflicts. Either way the
# unique constraint is the guard.
INSERT_PLAIN = sa.text(INSERT_TASKS.format(on_conflict=""))
INSERT_SKIPPING = sa.text(
    INSERT_TASKS.format(on_conflict=f"ON CONFLICT ({', '.join(TASK_IDENTITY)}) DO NOTHING")
)
IDENTITY_CONSTRAINT = "uq_task_identity"


def _cycle_sql(prepared: PreparedSpec, compiled: SpecSql, ctx: RunContext) -> Any:
    """The cycle as SQL: the subject's field, or the run keyword's value for this run."""
    if compiled.cycle is not None:
        return compiled.cycle
    return sa.literal(prepared.spec.subjects.cycle_key(None, ctx.today), sa.Text)


def _step_select(
    prepared: PreparedSpec, compiled: SpecSql, step: StepSql, ctx: RunContext, bounds: Any
) -> Any:
    """The SELECT of one step's plan rows for the subjects within `bounds`."""
    subject = compiled.scope.subject
    cycle = _cycle_sql(prepared, compiled, ctx)
    when = step.when if step.when is not None else sa.true()
    no_due = step.due_anchor.is_(None)
    no_starts = step.starts_anchor.is_(None) if step.starts_anchor is not None else sa.false()
    # The order of plan_task: the condition first, then the due rule, then the start rule.
    status = sa.case((~when, SKIPPED), (no_due, SKIPPED), (no_starts, SKIPPED), else_=OPEN)
    reason = sa.case(
        (~when, step.skip_when), (no_due, step.skip_due), (no_starts, step.skip_starts)
    )
    ref = compiled.scope.info.ref_prefix
    spec_step = prepared.steps[step.step_id].step
    approval = Role(spec_step.approval.role).value if spec_step.approval else None
    starts_anchor = step.starts_anchor if step.starts_anchor is not None else sa.null()
    return (
        sa.select(
            step.title.label("title"),
            sa.cast(step.description, sa.Text).label("description"),
            sa.literal(step.step_id, sa.Text).label("step_id"),
            subject.c.id.label("subject_id"),
            (sa.literal(ref, sa.Text) + sa.cast(subject.c.id, sa.Text)).label("subject_ref"),
            cycle.label("cycle"),
            compiled.scope.site.c.id.label("site_id"),
            compiled.site_key.label("site_key"),
            status.label("status"),
            reason.label("cancel_reason"),
            sa.or_(~when, no_due).label("skip_due"),
            sa.cast(step.due_anchor, sa.Date).label("due_anchor"),
            sa.cast(starts_anchor, sa.Date).label("starts_anchor"),
            sa.literal(spec_step.priority_rank, sa.Integer).label("priority"),
            sa.literal(bool(spec_step.evidence and spec_step.evidence.required)).label(
                "evidence_required"
            ),
            sa.cast(sa.literal(approval), sa.Text).label("approval_role"),
        )
        .select_from(compiled.from_clause)
        .where(bounds)
    )


def next_id(compiled: SpecSql, after: int) -> Any:
    """Return the SELECT of the first subject id after `after` (NULL: none is left): one
    probe of the primary key. A set-based batch is the range of `size` ids from there,
    so its rows are read once, by the plan, and an id gap costs no empty batch."""
    subject = compiled.scope.subject
    return sa.select(sa.func.min(subject.c.id)).where(subject.c.id > after)


def _plan_insert(selects: list[Any], kind: str, sop_id: int) -> Any:
    """Return the INSERT INTO sweep_plan of the step SELECTs' rows that have no task yet,
    open rows ranked per step in subject order (the order placements follow, as in
    the row-by-row planner)."""
    rows = (sa.union_all(*selects) if len(selects) > 1 else selects[0]).subquery()
    task = sa.table("task", *(sa.column(name) for name in TASK_IDENTITY))
    rank = sa.func.row_number().over(
        partition_by=(rows.c.step_id, rows.c.status), order_by=rows.c.subject_id
    )
    names = [c.strip() for c in PLAN_COLUMNS.split(",")][:-1]
    exists = sa.select(sa.literal(1)).where(
        task.c.subject_id == rows.c.subject_id,
        task.c.subject_type == kind,
        task.c.sop_id == sop_id,
        task.c.step_id == rows.c.step_id,
        task.c.cycle == rows.c.cycle,
    )
    query = sa.select(*(rows.c[n] for n in names), rank.label("place_rank")).where(
        ~sa.exists(exists)
    )
    plan = sa.table("sweep_plan", *(sa.column(n) for n in [*names, "place_rank"]))
    return plan.insert().from_select([*names, "place_rank"], query)


def plan_statement(
    prepared: PreparedSpec, compiled: SpecSql, ctx: RunContext, where: Any, after: int, upto: int
) -> Any:
    """Return the statement that plans into `sweep_plan` every (subject, root step)
    without a task yet, for the subjects with ids in (`after`, `upto`] that `where`
    matches (see `_plan_insert`).

    Its one row: how many subjects of the range `where` matches, and how many of
    those the subject-level `when:` skips.
    """
    subject = compiled.scope.subject
    in_range = sa.and_(where, subject.c.id > after, subject.c.id <= upto)
    bounds = in_range
    if compiled.subject_when is not None:
        bounds = sa.and_(bounds, compiled.subject_when)
    selects = [_step_select(prepared, compiled, s, ctx, bounds) for s in compiled.steps]
    planned = _plan_insert(selects, prepared.kind.value, ctx.sop_id).cte("planned")
    skip = ~compiled.subject_when if compiled.subject_when is not None else sa.false()
    # A data-modifying WITH runs once whether or not the query reads it.
    return (
        sa.select(
            sa.func.count().label("matched"),
            sa.func.count().filter(skip).label("skipped"),
        )
        .select_from(compiled.from_clause)
        .where(in_range)
        .add_cte(planned)
    )


def successors_statement(
    prepared: PreparedSpec, compiled: SpecSql, ctx: RunContext, skipped: dict[str, list[int]]
) -> Any:
    """Return the INSERT INTO sweep_plan of the steps waiting on a root, for the subjects
    whose root task of that step was just written as skipped (`skipped`: subject ids
    by root step id; see `_plan_insert`)."""
    subject = compiled.scope.subject
    selects = [
        _step_select(
            prepared,
            compiled,
            step,
            ctx,
            subject.c.id == sa.any_(sa.bindparam(f"skipped_{index}", skipped[step.after], _IDS)),
        )
        for index, step in enumerate(compiled.successors or [])
        if step.after in skipped
    ]
    return _plan_insert(selects, prepared.kind.value, ctx.sop_id)


# The plan's groups: a row's deadline and start depend on its group alone (see
# `bulk_sweep._deadlines`), and placements on the open rows per step.
PLAN_GROUPS = sa.text(
    "SELECT step_id, site_key, due_anchor, starts_anchor, status = 'open' AS is_open, "
    "skip_due, count(*) AS n FROM sweep_plan GROUP BY 1, 2, 3, 4, 5, 6"
)
