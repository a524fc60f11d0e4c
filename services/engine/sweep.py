"""A run of an SOP: start it, process its subjects batch by batch, finish it.

The Prefect flow calls these three in turn (each batch a retried Prefect
task); `execute_run` does the same in-process for the CLI and tests.
"""

from __future__ import annotations

import os
import time
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, select, true, update
from sqlalchemy.orm import Session

from models import (
    Actor,
    RunStatus,
    Site,
    Sop,
    SopRun,
    TaskStatus,
    acting_as,
    utcnow,
)
from models.subject_kinds import subject_kind
from services import deadlines
from services.engine.bulk_plan import compile_spec, uses_set_based
from services.engine.bulk_sweep import run_bulk_batch
from services.engine.planner import PreparedSpec, RunContext, short_error
from services.engine.progress import advance_many
from services.engine.row_batch import MAX_FAILURES_KEPT, BatchResult, process_rows
from services.engine.stale import cancel_stale_cycles
from services.engine.subjects import fetch_by_ids
from services.sops.registry import latest_version, prepared_for

# A batch is one transaction and one Prefect task. The row-by-row planner takes the next
# BATCH_SIZE matching subjects and holds them in memory. The set-based one holds
# nothing: it takes the next SET_BASED_BATCH_SIZE ids (matching or not), whose rows
# the database reads once, so a sweep pays its per-batch statements and commits a few
# times per hundred thousand subjects (about a second each).
BATCH_SIZE = 5000
SET_BASED_BATCH_SIZE = 100_000


class RunError(Exception):
    """A run cannot start: unknown or disabled SOP, or a version that does not load."""


def run_timezone(detail: dict[str, Any]) -> str:
    """Return the zone whose calendar date is the run's `today`."""
    return detail.get("timezone") or "UTC"


def start_run(
    session: Session,
    sop_slug: str,
    trigger: str,
    now: datetime | None = None,
    inputs: dict[str, Any] | None = None,
    subject_id: int | None = None,
    timezone: str | None = None,
    flow_run_id: str | None = None,
) -> SopRun:
    """Create the SopRun row (status running) for the SOP's newest version and return it.

    `subject_id` narrows an event run to one subject; `timezone` narrows a
    per-site-zone schedule to the sites in that zone and fixes the run's `today`.
    """
    sop = session.scalar(select(Sop).where(Sop.slug == sop_slug))
    if sop is None:
        raise RunError(f'no SOP "{sop_slug}" (run `sopflow sync` to load sop_definitions/)')
    version = latest_version(session, sop.id)
    if version is None:
        raise RunError(f'SOP "{sop_slug}" has no loadable version: {sop.load_error}')
    prepared_for(version)  # fail now, not in a batch, if the stored text does not load
    now = now or utcnow()
    close_abandoned_runs(session, sop.id, now)
    zone = timezone if timezone and timezone != "site" else None
    detail = {
        "inputs": inputs or {},
        "subject_id": subject_id,
        "timezone": zone,
        "today": deadlines.local_date(now, zone or "UTC").isoformat(),
    }
    run = SopRun(
        sop_id=sop.id,
        sop_version_id=version.id,
        trigger=trigger,
        trigger_detail=detail,
        flow_run_id=flow_run_id,
        status=RunStatus.RUNNING,
        started_at=now,
    )
    session.add(run)
    session.flush()
    return run


# A run still "running" after this long lost its process (killed, machine restarted).
ABANDONED_AFTER = timedelta(hours=6)


def close_abandoned_runs(session: Session, sop_id: int, now: datetime) -> int:
    """Mark this SOP's runs that never finished, long ago, as failed; return how many.

    Their batches were committed one by one, so the next run completes the work.
    """
    result = session.execute(
        update(SopRun)
        .where(
            SopRun.sop_id == sop_id,
            SopRun.status == RunStatus.RUNNING,
            SopRun.started_at < now - ABANDONED_AFTER,
        )
        .values(
            status=RunStatus.FAILED,
            finished_at=now,
            error="abandoned: the process ended before the run finished",
        )
    )
    return result.rowcount or 0


def context_for(run: SopRun) -> RunContext:
    """Return the run's fixed context (the same for every batch and retry)."""
    detail = run.trigger_detail or {}
    return RunContext(
        sop_id=run.sop_id,
        sop_slug=run.sop.slug,
        version_id=run.sop_version_id,
        run_id=run.id,
        trigger=run.trigger,
        now=run.started_at,
        today=date.fromisoformat(detail["today"]),
        inputs=detail.get("inputs") or {},
    )


def _where(run: SopRun, ctx: RunContext) -> Any:
    prepared = prepared_for(run.version)
    spec = prepared.spec
    info = subject_kind(spec.subjects.kind)
    model = info.model
    detail = run.trigger_detail or {}
    clauses = [spec.subjects.where_clause(ctx.today)]
    if detail.get("subject_id") is not None:
        clauses.append(model.id == int(detail["subject_id"]))
    site_fk = model.id if info.site_column is None else getattr(model, info.site_column)
    if detail.get("timezone"):
        clauses.append(site_fk.in_(select(Site.id).where(Site.timezone == detail["timezone"])))
    for spec_input in spec.manual_inputs:
        value = ctx.inputs.get(spec_input.id)
        if spec_input.type == "site" and value not in (None, ""):
            clauses.append(site_fk == int(value))
    return and_(true(), *clauses)


def process_batch(
    session: Session,
    run: SopRun,
    after_id: int,
    limit: int | None = None,
    set_based: bool | None = None,
) -> BatchResult:
    """Plan and write the tasks for the next `limit` subjects after `after_id`.

    A subject whose expression or template fails is counted and listed (by id,
    never by name) and the others carry on. `set_based`: plan in SQL (True), row
    by row in Python (False), or whichever applies (None, see `uses_set_based`);
    `limit` None: that path's batch size.
    """
    ctx = context_for(run)
    prepared = prepared_for(run.version)
    if set_based is None:
        set_based = uses_set_based(session, run, prepared)
    if set_based:
        limit = limit or SET_BASED_BATCH_SIZE
        return _process_set_based(session, run, ctx, prepared, after_id, limit)
    limit = limit or BATCH_SIZE
    return process_rows(session, run, ctx, prepared, _where(run, ctx), after_id, limit)


def _process_set_based(
    session: Session,
    run: SopRun,
    ctx: RunContext,
    prepared: PreparedSpec,
    after_id: int,
    limit: int,
) -> BatchResult:
    """`process_batch` in SQL: the batch's root tasks, and the steps waiting on roots it
    wrote as skipped, in a few statements; whatever those unlock in turn through the
    planner (it is rare)."""
    compiled = compile_spec(prepared)
    if compiled is None:
        raise RunError(f"SOP {ctx.sop_slug} has no set-based form")
    with acting_as(Actor(None, f"system:sop-run:{run.id}")):
        batch = run_bulk_batch(session, prepared, compiled, ctx, _where(run, ctx), after_id, limit)
        if batch.last_id is None:
            return BatchResult(last_id=None)
        skipped_ids = [subject_id for subject_id, _, _ in batch.skipped_steps]
        subjects = {s.id: s for s in fetch_by_ids(session, prepared.spec, skipped_ids)}
        finished = [(subjects[sid], cycle, step) for sid, step, cycle in batch.skipped_steps]
        successors = advance_many(session, prepared, ctx, finished, ctx.now)
    opened = sum(1 for row in successors if row["status"] != TaskStatus.SKIPPED.value)
    created = batch.opened + opened
    return BatchResult(
        last_id=batch.last_id,
        created=created,
        unchanged=batch.unchanged,
        skipped=batch.skipped_subjects + batch.inserted + len(successors) - created,
    )


def add_batch(run: SopRun, batch: BatchResult) -> None:
    """Add a batch's counts to the run."""
    run.created_count += batch.created
    run.unchanged_count += batch.unchanged
    run.skipped_count += batch.skipped
    run.failed_count += batch.failed
    if batch.failures:
        kept = list(run.failures or [])
        run.failures = (kept + batch.failures)[:MAX_FAILURES_KEPT]


def finish_run(session: Session, run: SopRun, error: str | None = None) -> SopRun:
    """Cancel stale cycles, close the run with its status, and return it."""
    if error is None:
        run.cancelled_count = cancel_stale_cycles(session, run, context_for(run))
    run.status = RunStatus.FAILED if error else RunStatus.COMPLETED
    run.error = error
    run.finished_at = utcnow()
    return run


def execute_run(
    session: Session,
    run: SopRun,
    batch_size: int | None = None,
    commit: bool = True,
    set_based: bool | None = None,
) -> SopRun:
    """Process every batch and finish the run, committing after each batch.

    With `commit=False` everything stays in the caller's transaction (a dry
    run reads what it did, then rolls back).
    """
    save = session.commit if commit else session.flush
    # Tests of crash recovery slow batches down to kill a run midway.
    pause = float(os.environ.get("SOPFLOW_SLOW_BATCH_SECONDS") or 0)
    after_id = 0
    try:
        while True:
            batch = process_batch(session, run, after_id, batch_size, set_based)
            if batch.last_id is None:
                break
            add_batch(run, batch)
            save()
            after_id = batch.last_id
            if pause:
                time.sleep(pause)
        finish_run(session, run)
    except Exception as exc:
        if not commit:
            raise
        session.rollback()
        finish_run(session, run, error=short_error(exc))
        session.commit()
        raise
    save()
    return run
