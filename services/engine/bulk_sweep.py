"""The set-based sweep (PostgreSQL): one batch's tasks planned and written by SQL.

Per batch, whatever its size: the plan of every (subject, root step) that has no
task yet goes into a temporary table with one INSERT … SELECT; the few hundred
distinct (site, anchor day) pairs get their deadlines from `services.deadlines`;
placements come from `services.assignment` (the same calls, in the same order,
as the Python planner makes); one INSERT … SELECT … ON CONFLICT DO NOTHING then
writes the tasks. No subject row travels to Python. The row-by-row planner in
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

from models import Role, Site, TaskStatus, current_actor, utcnow
from services import deadlines
from services.assignment import plan_placements, team_id_for
from services.engine.bulk_plan import RUN_ANCHOR, SpecSql, StepSql
from services.engine.planner import PreparedSpec, RunContext, point_on_day
from services.engine.subjects import DEFAULT_CALENDAR, DEFAULT_TIMEZONE

OPEN, SKIPPED = TaskStatus.OPEN.value, TaskStatus.SKIPPED.value
PLAN_COLUMNS = (
    "dedup_key, title, description, step_id, subject_id, subject_ref, cycle, site_id, "
    "site_key, status, cancel_reason, skip_due, due_anchor, starts_anchor, priority, "
    "evidence_required, approval_role, place_rank"
)
_CREATE_PLAN = (
    "CREATE TEMP TABLE IF NOT EXISTS sweep_plan (dedup_key text, title text, description "
    "text, step_id text, subject_id integer, subject_ref text, cycle text, site_id integer, "
    "site_key integer, status text, cancel_reason text, skip_due boolean, due_anchor date, "
    "starts_anchor date, priority integer, evidence_required boolean, approval_role text, "
    "place_rank integer)"
)
# Deadlines and placements join in as arrays (one parameter each, whatever the count).
_INSERT_TASKS = """
WITH points AS (
    SELECT * FROM unnest(CAST(:p_step AS text[]), CAST(:p_which AS text[]),
        CAST(:p_site AS integer[]), CAST(:p_anchor AS date[]), CAST(:p_day AS date[]),
        CAST(:p_at AS timestamptz[])) AS t(step_id, which, site_key, anchor, day, at)
), places AS (
    SELECT * FROM unnest(CAST(:l_step AS text[]), CAST(:l_slot AS integer[]),
        CAST(:l_team AS integer[]), CAST(:l_user AS integer[]))
        AS t(step_id, slot, team_id, assignee_id)
), periods AS (
    SELECT * FROM unnest(CAST(:o_step AS text[]), CAST(:o_lead AS integer[]),
        CAST(:o_period AS integer[])) AS t(step_id, lead, period)
), planned AS (
    SELECT p.*, CASE WHEN p.place_rank <= o.lead THEN p.place_rank
        ELSE o.lead + (p.place_rank - o.lead - 1) % o.period + 1 END AS slot
    FROM sweep_plan p LEFT JOIN periods o ON o.step_id = p.step_id
), inserted AS (
    INSERT INTO task (dedup_key, title, description, sop_id, sop_version_id, step_id, run_id,
        subject_type, subject_id, subject_ref, cycle, site_id, team_id, assignee_id, status,
        priority, starts_at, due_on, due_at, cancel_reason, escalation_level, evidence_required,
        approval_role, revision, created_at, updated_at)
    SELECT p.dedup_key, p.title, p.description, :sop_id, :version_id, p.step_id, :run_id,
        :kind, p.subject_id, p.subject_ref, p.cycle, p.site_id,
        CASE WHEN p.status = 'open' THEN l.team_id ELSE :owner_team END,
        CASE WHEN p.status = 'open' THEN l.assignee_id END, p.status,
        p.priority, CASE WHEN p.status = 'open' THEN ps.at END,
        CASE WHEN p.skip_due THEN today.day ELSE pd.day END,
        CASE WHEN p.skip_due THEN today.at ELSE pd.at END,
        p.cancel_reason, 0, p.evidence_required, p.approval_role, 0, :now, :now
    FROM planned p
    JOIN points today ON today.which = 'today' AND today.site_key = p.site_key
    LEFT JOIN points pd ON pd.which = 'due' AND pd.step_id = p.step_id
        AND pd.site_key = p.site_key AND pd.anchor = p.due_anchor
    LEFT JOIN points ps ON ps.which = 'starts' AND ps.step_id = p.step_id
        AND ps.site_key = p.site_key AND ps.anchor = p.starts_anchor
    LEFT JOIN places l ON l.step_id = p.step_id AND l.slot = p.slot
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
_INSERT_PLAIN = sa.text(_INSERT_TASKS.format(on_conflict=""))
_INSERT_SKIPPING = sa.text(_INSERT_TASKS.format(on_conflict="ON CONFLICT (dedup_key) DO NOTHING"))
DEDUP_CONSTRAINT = "uq_task_dedup_key"


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


def _cycle_sql(prepared: PreparedSpec, compiled: SpecSql, ctx: RunContext) -> Any:
    """The cycle as SQL: the subject's field, or the run keyword's value for this run."""
    if compiled.cycle is not None:
        return compiled.cycle
    return sa.literal(prepared.spec.subjects.cycle_key(None, ctx.today), sa.Text)


def _step_select(
    prepared: PreparedSpec, compiled: SpecSql, step: StepSql, ctx: RunContext, bounds: Any
) -> Any:
    """The SELECT of one root step's plan rows for the batch's subjects."""
    subject = compiled.scope.subject
    cycle = _cycle_sql(prepared, compiled, ctx)
    prefix = f"{ctx.sop_slug}:{step.step_id}:{prepared.kind.value}:"
    key = sa.literal(prefix, sa.Text) + sa.cast(subject.c.id, sa.Text) + ":" + cycle
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
            key.label("dedup_key"),
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


def _plan_insert(prepared: PreparedSpec, compiled: SpecSql, ctx: RunContext, bounds: Any) -> Any:
    """INSERT INTO sweep_plan: every (subject, root step) of the batch without a task yet,
    ranked per step among the open ones in subject order (the order placements follow)."""
    selects = [_step_select(prepared, compiled, s, ctx, bounds) for s in compiled.steps]
    rows = (sa.union_all(*selects) if len(selects) > 1 else selects[0]).subquery()
    task = sa.table("task", sa.column("dedup_key"))
    rank = sa.func.row_number().over(
        partition_by=(rows.c.step_id, rows.c.status), order_by=rows.c.subject_id
    )
    names = [c.strip() for c in PLAN_COLUMNS.split(",")][:-1]
    query = sa.select(*(rows.c[n] for n in names), rank.label("place_rank")).where(
        ~sa.exists(sa.select(sa.literal(1)).where(task.c.dedup_key == rows.c.dedup_key))
    )
    plan = sa.table("sweep_plan", *(sa.column(n) for n in [*names, "place_rank"]))
    return plan.insert().from_select([*names, "place_rank"], query)


def _bounds(session: Session, compiled: SpecSql, where: Any, after: int, limit: int) -> Any:
    """Return (subjects, last id, subjects the subject-level `when:` skips) of the batch."""
    subject = compiled.scope.subject
    skip = ~compiled.subject_when if compiled.subject_when is not None else sa.false()
    page = (
        sa.select(subject.c.id, skip.label("skip"))
        .select_from(compiled.from_clause)
        .where(where, subject.c.id > after)
        .order_by(subject.c.id)
        .limit(limit)
        .subquery()
    )
    count, last, skipped = session.execute(
        sa.select(sa.func.count(), sa.func.max(page.c.id), sa.func.count().filter(page.c.skip))
    ).one()
    return count, last, skipped


def _points(
    session: Session,
    prepared: PreparedSpec,
    compiled: SpecSql,
    ctx: RunContext,
    sites: dict[int, SiteFacts],
) -> dict[str, list[Any]]:
    """Deadlines for every distinct (step, rule, site, anchor day) of the plan, computed
    by `services.deadlines` (business days, holidays, DST), plus each site's today."""
    columns: dict[str, list[Any]] = defaultdict(list)

    def add(step: str, which: str, site: int, anchor: date, point: tuple[date, datetime]) -> None:
        for name, value in zip(
            ("p_step", "p_which", "p_site", "p_anchor", "p_day", "p_at"),
            (step, which, site, anchor, *point),
            strict=True,
        ):
            columns[name].append(value)

    for site_key, facts in sites.items():
        today = deadlines.local_date(ctx.now, facts.timezone)
        add("", "today", site_key, RUN_ANCHOR, (today, deadlines.end_of_day(today, facts.timezone)))
    steps = {step.step_id: step for step in compiled.steps}
    # A row skipped for a missing start anchor keeps its computed deadline (plan_task).
    pairs = session.execute(
        sa.text(
            "SELECT DISTINCT step_id, site_key, due_anchor, starts_anchor, status = 'open' "
            "FROM sweep_plan WHERE NOT skip_due"
        )
    )
    seen: set[tuple[str, str, int, date]] = set()
    for step_id, site_key, due_anchor, starts_anchor, is_open in pairs:
        step, facts = steps[step_id], sites[site_key]
        for which, rule, anchor in (
            ("due", step.due, due_anchor),
            ("starts", step.starts if is_open else None, starts_anchor),
        ):
            if rule is None or (step_id, which, site_key, anchor) in seen:
                continue
            seen.add((step_id, which, site_key, anchor))
            day = deadlines.local_date(ctx.now, facts.timezone) if anchor == RUN_ANCHOR else anchor
            offset = rule.offset_for_state(facts.state)
            point = point_on_day(
                day, offset, facts.calendar, facts.timezone, rule.at_time, which == "due"
            )
            add(step_id, which, site_key, anchor, point)
    return columns


def _placements(
    session: Session, prepared: PreparedSpec, compiled: SpecSql, counts: dict[str, int]
) -> dict[str, list[Any]]:
    """Placements of the plan's open rows, step by step in the planner's order, as arrays
    of a lead and one period (see `assignment.Placements`; the slot of the row ranked r
    is r up to the lead's length, then the lead's length plus its place in the cycle)."""
    columns: dict[str, list[Any]] = defaultdict(list)
    for step in compiled.steps:
        n = counts.get(step.step_id, 0)
        if not n:
            continue
        rule = prepared.spec.assignment_for(prepared.steps[step.step_id].step)
        placements = plan_placements(session, rule, n, prepared.spec.owner_team)
        columns["o_step"].append(step.step_id)
        columns["o_lead"].append(len(placements.lead))
        columns["o_period"].append(len(placements.cycle))
        slots = (*placements.lead, *placements.cycle)
        for slot, placement in enumerate(slots, start=1):
            columns["l_step"].append(step.step_id)
            columns["l_slot"].append(slot)
            columns["l_team"].append(placement.team_id)
            columns["l_user"].append(placement.assignee_id)
    return columns


def _insert_tasks(session: Session, params: dict[str, Any]) -> Any:
    """Run the insert (see `_INSERT_PLAIN`) and return its one row of counts."""
    try:
        with session.begin_nested():
            return session.connection().execute(_INSERT_PLAIN, params).one()
    except IntegrityError as exc:
        if getattr(exc.orig.diag, "constraint_name", None) != DEDUP_CONSTRAINT:
            raise
    return session.connection().execute(_INSERT_SKIPPING, params).one()


def run_bulk_batch(
    session: Session,
    prepared: PreparedSpec,
    compiled: SpecSql,
    ctx: RunContext,
    where: Any,
    after: int,
    limit: int,
) -> BulkBatch:
    """Plan and write the tasks of the next `limit` subjects after `after` in SQL.

    Returns the counts and the skipped root steps (the caller advances past them);
    one audit event lists the tasks created.
    """
    count, last, skipped_subjects = _bounds(session, compiled, where, after, limit)
    if not count:
        return BulkBatch(last_id=None)
    subject = compiled.scope.subject
    bounds = sa.and_(where, subject.c.id > after, subject.c.id <= last)
    if compiled.subject_when is not None:
        bounds = sa.and_(bounds, compiled.subject_when)
    connection = session.connection()
    connection.exec_driver_sql(_CREATE_PLAN)
    # Compiling these statements to machine code takes longer than running them (the
    # correlated subqueries of templates inflate their estimated cost past
    # jit_above_cost); off until the batch's transaction ends.
    connection.exec_driver_sql("SET LOCAL jit = off")
    try:
        connection.execute(_plan_insert(prepared, compiled, ctx, bounds))
        planned: dict[str, int] = defaultdict(int)  # open rows per step
        any_planned = False
        for step_id, is_open, n in connection.exec_driver_sql(
            "SELECT step_id, status = 'open', count(*) FROM sweep_plan GROUP BY 1, 2"
        ):
            any_planned = True
            planned[step_id] += n if is_open else 0
        batch = BulkBatch(last_id=last, skipped_subjects=skipped_subjects)
        if any_planned:
            actor = current_actor()
            params = {
                **_points(session, prepared, compiled, ctx, _sites(session)),
                **_placements(session, prepared, compiled, planned),
                "sop_id": ctx.sop_id,
                "version_id": ctx.version_id,
                "run_id": ctx.run_id,
                "kind": prepared.kind.value,
                "owner_team": team_id_for(session, prepared.spec.owner_team),
                "now": ctx.now,
                "audit_at": utcnow(),
                "actor_id": actor.user_id,
                "actor_label": actor.label[:120],
                "audit_entity": f"run:{ctx.run_id}",
            }
            for name in ("l_step", "l_slot", "l_team", "l_user", "o_step", "o_lead", "o_period"):
                params.setdefault(name, [])
            # The temporary table and the arrays have no statistics, so the planner
            # guesses a handful of rows and nests loops over thousands; every join
            # here is an equality join that a hash join does in one pass.
            connection.exec_driver_sql("SET LOCAL enable_nestloop = off")
            row = _insert_tasks(session, params)
            connection.exec_driver_sql("SET LOCAL enable_nestloop = DEFAULT")
            batch.inserted, batch.opened = row.inserted, row.opened
            if row.s_subject:
                batch.skipped_steps = list(zip(row.s_subject, row.s_step, row.s_cycle, strict=True))
    finally:
        connection.exec_driver_sql("TRUNCATE sweep_plan")
    batch.unchanged = (count - skipped_subjects) * len(compiled.steps) - batch.inserted
    return batch
