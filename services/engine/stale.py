"""Tasks of a cycle that is over: cancelled with the reason, not left dangling."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Date, func, select, text
from sqlalchemy.orm import Session

from models import Actor, SopRun, Task, TaskStatus, acting_as, open_work
from models.subject_kinds import subject_kind
from services.engine.bulk_plan import compile_spec, uses_set_based
from services.engine.planner import RunContext
from services.engine.subjects import RecordView
from services.sops.registry import prepared_for


def cancel_stale_cycles(session: Session, run: SopRun, ctx: RunContext) -> int:
    """Cancel this SOP's open tasks whose subject has moved on to another cycle.

    E.g. a patient renewed early: the card's expiry moved, so the tasks for the
    old expiry are cancelled with the reason, not left dangling. Returns how many.
    """
    prepared = prepared_for(run.version)
    field_name = prepared.spec.subjects.cycle_field
    if field_name is None:
        return 0
    model = subject_kind(prepared.kind).model
    # Light rows first: only the few stale tasks are loaded as objects (and audited).
    query = (
        select(Task.id, Task.cycle, getattr(model, field_name))
        .join(model, model.id == Task.subject_id)
        .where(
            Task.sop_id == run.sop_id,
            Task.subject_type == prepared.kind,
            open_work(),
            # This run wrote its own tasks from the rows it just read: a change since
            # then is the next run's to find, like one made after this run ends.
            Task.run_id.is_distinct_from(run.id),
        )
    )
    compiled = compile_spec(prepared) if uses_set_based(session, run, prepared) else None
    whole_sweep = compiled is not None and compiled.cycle is not None
    cycle = compiled.cycle if whole_sweep else _date_cycle(session, getattr(model, field_name))
    if cycle is not None:
        # In SQL: only the stale rows leave the database (a sweep has tens of thousands open).
        query = query.where(Task.cycle != cycle)
    if whole_sweep:
        # And by hash join: a sweep has just read every subject once, so one more pass
        # over them is within its budget, where a lookup per open task (the plan that
        # statistics lagging behind a sweep's inserts suggest) costs twice that.
        session.execute(text("SET LOCAL enable_nestloop = off"))
    stale: dict[int, Any] = {}
    for task_id, task_cycle, value in session.execute(query):
        current = prepared.spec.subjects.cycle_key(RecordView({field_name: value}), ctx.today)
        if current != task_cycle:
            stale[task_id] = value
    if whole_sweep:
        session.execute(text("SET LOCAL enable_nestloop = DEFAULT"))
    with acting_as(Actor(None, f"system:sop-run:{run.id}")):
        for task in session.scalars(select(Task).where(Task.id.in_(stale))):
            value = stale[task.id]
            task.status = TaskStatus.CANCELLED
            task.cancel_reason = (
                f"{field_name} changed to {value}: this task was for {task.cycle}"
                if value is not None
                else f"{field_name} was cleared"
            )
            task.revision += 1
    return len(stale)


def _date_cycle(session: Session, column: Any) -> Any | None:
    """Return the cycle key of a date column in SQL ("YYYY-MM-DD", "none" when empty), or
    None when the column is not a date (the rows are compared in Python)."""
    if not isinstance(column.type, Date):
        return None
    if session.get_bind().dialect.name == "sqlite":
        day = func.strftime("%Y-%m-%d", column)
    else:
        day = func.to_char(column, "YYYY-MM-DD")
    return func.coalesce(day, "none")
