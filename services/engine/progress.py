"""Moving an SOP forward: when a step is finished, create the steps that waited on it."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from models import Task, TaskStatus
from services.engine.planner import PreparedSpec, RunContext, plan_task
from services.engine.subjects import SubjectRow
from services.engine.writer import write_tasks

FINISHED = (TaskStatus.DONE, TaskStatus.SKIPPED)
Finished = tuple[SubjectRow, str, str]  # (subject, cycle, step id)


def _finished_steps(
    session: Session, ctx: RunContext, kind: str, pairs: set[tuple[int, str]], steps: set[str]
) -> dict[tuple[int, str], set[str]]:
    """Return {(subject id, cycle): finished step ids} for the given subjects and steps."""
    found: dict[tuple[int, str], set[str]] = defaultdict(set)
    pair_list = sorted(pairs)
    for start in range(0, len(pair_list), 500):
        chunk = pair_list[start : start + 500]
        query = select(Task.subject_id, Task.cycle, Task.step_id).where(
            Task.sop_id == ctx.sop_id,
            Task.subject_type == kind,
            tuple_(Task.subject_id, Task.cycle).in_(chunk),
            Task.step_id.in_(steps),
            Task.status.in_(FINISHED),
        )
        for subject_id, cycle, step_id in session.execute(query):
            found[(subject_id, cycle)].add(step_id)
    return found


def _after(prepared: PreparedSpec, step_id: str) -> set[str]:
    """Return the ids of the steps `step_id` waits for."""
    return set(prepared.steps[step_id].step.after)


def _known_finished(finished: list[Finished]) -> dict[tuple[int, str], set[str]]:
    """Return {(subject id, cycle): step ids} of the steps the caller says just finished.

    They are finished in this transaction (a completion's task, flushed as done; or
    rows just inserted as skipped), so no query has to find them again.
    """
    known: dict[tuple[int, str], set[str]] = defaultdict(set)
    for subject, cycle, step_id in finished:
        known[(subject.id, cycle)].add(step_id)
    return known


def advance_many(
    session: Session,
    prepared: PreparedSpec,
    ctx: RunContext,
    finished: list[Finished],
    finished_at: datetime,
) -> list[dict[str, Any]]:
    """Create every successor of the finished steps whose `after` steps are all finished.

    Runs in the caller's transaction (a completion's own, or a sweep batch), so a
    finished step and the work it unlocks are committed together. Successors that
    are themselves skipped unlock theirs in the next round. Set-wise: at most one
    query and one insert per round, whatever the number of subjects; no query when
    every candidate waits only on steps that just finished (the usual single
    `after`). Returns the inserted rows (with their ids).
    """
    created: list[dict[str, Any]] = []
    kind = prepared.kind.value
    while finished:
        candidates = {
            (subject.id, cycle, step_id): (subject, cycle, step_id)
            for subject, cycle, done_step in finished
            for step_id in prepared.successors[done_step]
        }
        if not candidates:
            break
        done = _known_finished(finished)
        unsure = {
            (subject_id, cycle)
            for subject_id, cycle, step_id in candidates
            if not _after(prepared, step_id) <= done[(subject_id, cycle)]
        }
        if unsure:  # a step waits on more than what just finished: ask the database
            waits = {s for _, _, step_id in candidates for s in _after(prepared, step_id)}
            for pair, steps in _finished_steps(session, ctx, kind, unsure, waits).items():
                done[pair] |= steps
        rows = [
            plan_task(prepared, step_id, subject, cycle, ctx, completed_at=finished_at)
            for (subject_id, cycle, step_id), (subject, _, _) in candidates.items()
            if _after(prepared, step_id) <= done[(subject_id, cycle)]
        ]
        inserted, _ = write_tasks(session, prepared, rows)
        created += inserted
        by_key = {(s.id, c, st): s for (s, c, st) in candidates.values()}
        finished = [
            (
                by_key[(row["subject_id"], row["cycle"], row["step_id"])],
                row["cycle"],
                row["step_id"],
            )
            for row in inserted
            if row["status"] == TaskStatus.SKIPPED.value
        ]
    return created
