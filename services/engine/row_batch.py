"""A batch planned row by row in Python: the reference planner, and the path for SQLite,
one-subject event runs and SOPs without a set-based form.

Keys first: on a rerun almost every task exists, and planning it again (templates,
deadlines) would be the bulk of the work. When the SOP has no subject-level `when:`,
the keys come from light rows (id and cycle field only) and whole subject rows are
read only for the subjects that have a task to create.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from models import Actor, SopRun, TaskStatus, acting_as
from models.subject_kinds import subject_kind
from services.engine.planner import (
    Identity,
    PreparedSpec,
    RunContext,
    cycle_of,
    identity,
    identity_of,
    plan_task,
    short_error,
    subject_applies,
)
from services.engine.progress import advance_many
from services.engine.subjects import (
    SubjectRow,
    attach_relationships,
    fetch_batch,
    fetch_by_ids,
)
from services.engine.writer import existing_identities, write_tasks
from services.sop_validation.templates import RecordView

MAX_FAILURES_KEPT = 200


@dataclass
class BatchResult:
    """What one batch did; `last_id` is None when there were no subjects left."""

    last_id: int | None
    created: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)

    def fail(self, prepared: PreparedSpec, subject_id: int, exc: Exception) -> None:
        """Count a subject's failure and keep its id (never its name) with the error."""
        self.failed += 1
        if len(self.failures) < MAX_FAILURES_KEPT:
            self.failures.append(
                {"subject": f"{prepared.kind.value}:{subject_id}", "error": short_error(exc)}
            )


# (subject id, cycle, step id, identity) of a task the batch wants.
Wanted = tuple[int, str, str, Identity]


def _light_page(prepared: PreparedSpec, where: Any, after_id: int, limit: int) -> Select[Any]:
    """Return the SELECT of the next `limit` matching subjects' ids and cycle field."""
    model = subject_kind(prepared.kind).model
    cycle_field = prepared.spec.subjects.cycle_field
    columns = [model.id] + ([getattr(model, cycle_field)] if cycle_field else [])
    query = select(*columns).where(where, model.id > after_id)
    return query.order_by(model.id).limit(limit)


def _keys(ctx: RunContext, prepared: PreparedSpec, subject_id: int, cycle: str) -> list[Wanted]:
    kind = prepared.kind.value
    return [
        (subject_id, cycle, step_id, identity(ctx, step_id, kind, subject_id, cycle))
        for step_id in prepared.roots
    ]


def process_rows(
    session: Session,
    run: SopRun,
    ctx: RunContext,
    prepared: PreparedSpec,
    where: Any,
    after_id: int,
    limit: int,
) -> BatchResult:
    """Plan and write the tasks for the next `limit` subjects after `after_id` that
    `where` matches.

    A subject whose expression or template fails is counted and listed (by id,
    never by name) and the others carry on.
    """
    if prepared.subject_when is None:
        rows = session.execute(_light_page(prepared, where, after_id, limit)).all()
        if not rows:
            return BatchResult(last_id=None)
        result = BatchResult(last_id=rows[-1][0])
        field_name = prepared.spec.subjects.cycle_field
        wanted: list[Wanted] = []
        for row in rows:
            view = RecordView({field_name: row[1]} if field_name else {})
            try:
                cycle = prepared.spec.subjects.cycle_key(view, ctx.today)
            except Exception as exc:  # one bad subject must not stop the sweep
                result.fail(prepared, row[0], exc)
                continue
            wanted += _keys(ctx, prepared, row[0], cycle)
        present = existing_identities(session, [key for *_, key in wanted])
        missing = sorted({subject_id for subject_id, *_, key in wanted if key not in present})
        # Whole rows for those alone, with every relationship the spec reads. Their cycle
        # is taken again from that row: it is the one the task is planned from.
        subjects = {s.id: s for s in fetch_by_ids(session, prepared.spec, missing)}
        wanted = [w for w in wanted if w[3] in present]
        for subject_id in missing:
            if subject_id in subjects:
                cycle = cycle_of(prepared, subjects[subject_id], ctx)
                wanted += _keys(ctx, prepared, subject_id, cycle)
    else:
        page = fetch_batch(session, prepared.spec, where, after_id, limit)
        if not page:
            return BatchResult(last_id=None)
        result = BatchResult(last_id=page[-1].id)
        subjects = {s.id: s for s in page}
        wanted = []
        for subject in page:
            try:
                if not subject_applies(prepared, subject, ctx):
                    result.skipped += 1
                    continue
                cycle = cycle_of(prepared, subject, ctx)
            except Exception as exc:  # one bad subject must not stop the sweep
                result.fail(prepared, subject.id, exc)
                continue
            wanted += _keys(ctx, prepared, subject.id, cycle)
        present = existing_identities(session, [key for *_, key in wanted])
        to_plan = list({s: subjects[s] for s, *_, key in wanted if key not in present}.values())
        attach_relationships(session, subject_kind(prepared.kind), to_plan, prepared.relationships)
    _plan_and_write(session, run, ctx, prepared, subjects, wanted, present, result)
    return result


def _plan_and_write(
    session: Session,
    run: SopRun,
    ctx: RunContext,
    prepared: PreparedSpec,
    subjects: dict[int, SubjectRow],
    wanted: list[Wanted],
    present: set[Identity],
    result: BatchResult,
) -> None:
    """Plan the wanted tasks that do not exist, write them, and create at once what their
    skipped first steps unlock; add the counts to `result`."""
    rows: list[dict[str, Any]] = []
    planned: dict[Identity, tuple[SubjectRow, str]] = {}
    failed_subjects: set[int] = set()
    for subject_id, cycle, step_id, key in wanted:
        if key in present or subject_id in failed_subjects:
            continue
        subject = subjects[subject_id]
        try:
            row = plan_task(prepared, step_id, subject, cycle, ctx)
        except Exception as exc:  # one bad subject must not stop the sweep
            failed_subjects.add(subject_id)
            result.fail(prepared, subject_id, exc)
            continue
        planned[key] = (subject, cycle)
        rows.append(row)
    # A subject that failed on one step gets none of its steps this time.
    rows = [row for row in rows if row["subject_id"] not in failed_subjects]
    with acting_as(Actor(None, f"system:sop-run:{run.id}")):
        inserted, unchanged = write_tasks(session, prepared, rows, checked=True)
        # A skipped first step unlocks what waits for it, at once and set-wise.
        skipped_roots = [
            (*planned[identity_of(row)], row["step_id"])
            for row in inserted
            if row["status"] == TaskStatus.SKIPPED.value
        ]
        inserted += advance_many(session, prepared, ctx, skipped_roots, ctx.now)
    result.created = sum(1 for r in inserted if r["status"] != TaskStatus.SKIPPED.value)
    result.skipped += len(inserted) - result.created
    result.unchanged = len(present) + unchanged
