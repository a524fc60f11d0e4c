"""The set-based sweep (SQL on PostgreSQL) against the row-by-row planner (the reference).

Every shipped SOP runs both ways over the same demo data at the same moment; the
tasks must be identical, column by column, and so must the run's counts.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models import AuditEvent, Patient, Sop, SopRun, Task
from services.demo import seed_demo
from services.engine.bulk_plan import compile_spec, not_set_based_reason
from services.engine.sweep import execute_run, start_run
from services.engine.writer import COPY_COLUMNS
from services.sops.registry import latest_version, prepared_for, sync_directory
from tests.support.world import add_patient, build_world, load_sop

pytestmark = pytest.mark.postgres_only

ROOT = Path(__file__).resolve().parents[1]
TODAY = date(2026, 11, 2)
NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
# Every column a planned task carries but the run that wrote it (each sweep is its own
# run); rows are compared by identity (one SOP's tasks: subject, step and cycle).
COMPARED = tuple(c for c in COPY_COLUMNS if c != "run_id")


def _by_identity(tasks: Any) -> dict[tuple[int, str, str], tuple[Any, ...]]:
    """The compared columns of one SOP's tasks by (subject, step, cycle)."""
    return {
        (t.subject_id, t.step_id, t.cycle): tuple(getattr(t, c) for c in COMPARED) for t in tasks
    }


# Every subject in one batch: the two paths cut batches differently (the planner after
# n matched subjects, the set-based sweep after n ids), and the successors of skipped
# steps take their round-robin turns at the end of each batch.
ONE_BATCH = 100_000
# Placement columns: their turns depend on where batches end (see ONE_BATCH).
PLACEMENT = ("team_id", "assignee_id")


def _sweep(
    session: Session, slug: str, set_based: bool, batch_size: int = ONE_BATCH
) -> tuple[dict[str, Any], SopRun]:
    """Run `slug` once (in the session's transaction) and return its tasks by key."""
    run = start_run(session, slug, "manual", now=NOW)
    execute_run(session, run, batch_size=batch_size, commit=False, set_based=set_based)
    rows = session.scalars(select(Task).where(Task.sop_id == run.sop_id)).all()
    return {
        (t.subject_id, t.step_id, t.cycle): tuple(getattr(t, c) for c in COMPARED) for t in rows
    }, run


@pytest.fixture
def demo(session: Session) -> Session:
    seed_demo(session, patients=900, today=TODAY)
    report = sync_directory(session, ROOT / "sop_definitions")
    assert not report.errors
    # Edge cases the demo data may lack: no contact wanted (a skipped first step that
    # unlocks the next at once), a patient without a site, an expiry on a holiday.
    patients = session.scalars(select(Patient).order_by(Patient.id).limit(40)).all()
    for index, patient in enumerate(patients[:10]):
        patient.contact_preference = "none"
        patient.card_expires_on = date(2026, 12, 25) if index % 2 else date(2027, 1, 1)
    session.commit()
    return session


def _first_difference(sql_row: tuple[Any, ...], python_row: tuple[Any, ...]) -> str:
    """Name the first column that differs and where (for a readable failure)."""
    for column, a, b in zip(COMPARED, sql_row, python_row, strict=True):
        if a != b:
            if isinstance(a, str) and isinstance(b, str):
                pairs = enumerate(zip(a, b, strict=False))
                at = next((i for i, (x, y) in pairs if x != y), min(len(a), len(b)))
                around = slice(max(at - 20, 0), at + 20)
                return f"{column} at {at}: sql {a[around]!r} python {b[around]!r}"
            return f"{column}: sql {a!r} python {b!r}"
    return "no difference"


def test_every_shipped_sop_has_a_set_based_form(demo: Session) -> None:
    for sop in demo.scalars(select(Sop).order_by(Sop.slug)):
        prepared = prepared_for(latest_version(demo, sop.id))
        assert not_set_based_reason(prepared) is None, sop.slug


@pytest.mark.parametrize(
    "slug",
    [
        "patient-renewal",
        "certification-renewal",
        "document-expiry",
        "inspection-prep",
        "disposal-logging",
        "physician-outreach",
        "site-self-audit",
    ],
)
def test_set_based_sweep_writes_exactly_what_the_planner_writes(demo: Session, slug: str) -> None:
    by_sql, sql_run = _sweep(demo, slug, set_based=True)
    sql_counts = (sql_run.created_count, sql_run.unchanged_count, sql_run.skipped_count)
    demo.rollback()
    by_python, python_run = _sweep(demo, slug, set_based=False)
    python_counts = (python_run.created_count, python_run.unchanged_count, python_run.skipped_count)
    demo.rollback()

    assert by_python, f"{slug}: the demo data gives this SOP no work; the comparison is empty"
    assert by_sql.keys() == by_python.keys()
    differences = [key for key in by_python if by_sql[key] != by_python[key]]
    assert not differences, _first_difference(by_sql[differences[0]], by_python[differences[0]])
    assert sql_counts == python_counts
    assert sql_run.failed_count == python_run.failed_count == 0

    # In batches of 250 ids: the same tasks and counts; only turns may fall otherwise.
    by_batches, batches_run = _sweep(demo, slug, set_based=True, batch_size=250)
    demo.rollback()
    kept = [i for i, column in enumerate(COMPARED) if column not in PLACEMENT]
    assert by_batches.keys() == by_sql.keys()
    assert all(
        [by_batches[key][i] for i in kept] == [by_sql[key][i] for i in kept] for key in by_sql
    )
    batches_counts = (
        batches_run.created_count,
        batches_run.unchanged_count,
        batches_run.skipped_count,
    )
    assert batches_counts == sql_counts


def test_set_based_rerun_creates_nothing_and_cancels_moved_cycles(demo: Session) -> None:
    first = start_run(demo, "patient-renewal", "manual", now=NOW)
    execute_run(demo, first, batch_size=300, set_based=True)
    assert first.created_count > 100
    # Every task the run wrote is listed by its audit events, each id once.
    listed = [
        task_id
        for event in demo.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "bulk_create", AuditEvent.entity_id == f"run:{first.id}"
            )
        )
        for task_id in event.after["task_ids"]
    ]
    written = demo.scalars(select(Task.id).where(Task.run_id == first.id)).all()
    assert sorted(listed) == sorted(written)
    again = start_run(demo, "patient-renewal", "manual", now=NOW)
    execute_run(demo, again, batch_size=300, set_based=True)
    roots = demo.scalars(select(Task.id).where(Task.run_id == first.id, Task.step_id == "remind"))
    assert (again.created_count, again.unchanged_count) == (0, len(roots.all()))

    task = demo.scalars(select(Task).where(Task.run_id == first.id, Task.status == "open")).first()
    moved_expiry = update(Patient).values(card_expires_on=date(2027, 6, 1))
    demo.execute(moved_expiry.where(Patient.id == task.subject_id))
    demo.commit()
    moved = start_run(demo, "patient-renewal", "manual", now=NOW)
    execute_run(demo, moved, batch_size=300, set_based=True)
    demo.refresh(task)
    assert moved.cancelled_count == 1
    assert task.status == "cancelled" and "changed to 2027-06-01" in task.cancel_reason


# A chain behind a conditional first step: what a skipped `remind` unlocks is planned in
# SQL (`package`, due from the completion, i.e. the run), and what a skipped `package`
# unlocks in turn by the planner (`confirm`). `both` waits on two steps, which makes the
# set-based sweep leave every successor to the planner.
CHAIN = """
id: chain
title: Chain
owner_team: patient-services
triggers:
  - manual: {}
subjects:
  kind: patient
  filter:
    - {field: card_expires_on, lte: "today+60d"}
  cycle: card_expires_on
steps:
  - id: remind
    title: "Remind · {{ subject.ref }}"
    when: "subject.contact_preference != 'none'"
    due: {from: subject.card_expires_on, offset: -10bd, at: "17:00"}
    assign: {strategy: round_robin, team: patient-services, role: va}
  - id: package
    title: "Package · {{ subject.ref }} · {{ site.state }}"
    after: [remind]
    when: "subject.consent_email"
    due: {from: completion, offset: 3bd, by_state: {OK: 2bd}}
    assign: {strategy: least_loaded, team: patient-services, role: va}
  - id: confirm
    title: "Confirm · {{ subject.ref }}"
    after: [package]
    due: {from: completion, offset: 1d}
    assign: {strategy: team_queue, team: patient-services}
"""
BOTH = """
  - id: both
    title: "Both · {{ subject.ref }}"
    after: [remind, package]
    due: {from: completion, offset: 2d}
"""


@pytest.mark.parametrize("extra", ["", BOTH], ids=["successors-in-sql", "successors-planned"])
def test_skipped_steps_unlock_the_same_tasks_both_ways(session: Session, extra: str) -> None:
    world = build_world(session)
    for n in range(60):
        add_patient(
            session,
            (world.fl, world.pa, world.ok)[n % 3],
            n,
            card_expires_on=TODAY + timedelta(days=5 + n // 2),
            contact_preference="none" if n % 2 else "email",
            consent_email=n % 4 == 1,
        )
    load_sop(session, CHAIN + extra)
    prepared = prepared_for(latest_version(session, session.scalar(select(Sop.id))))
    assert (compile_spec(prepared).successors is None) == bool(extra)

    def sweep(set_based: bool) -> dict[str, tuple[Any, ...]]:
        run = start_run(session, "chain", "manual", now=NOW)
        execute_run(session, run, commit=False, set_based=set_based)
        rows = session.scalars(select(Task)).all()
        tasks = {
            (t.subject_id, t.step_id, t.cycle): tuple(getattr(t, c) for c in COMPARED) for t in rows
        }
        session.rollback()
        return tasks

    by_sql, by_python = sweep(True), sweep(False)
    assert by_sql == by_python
    steps = Counter(step_id for _, step_id, _ in by_sql)
    # 30 skipped reminders unlock 30 packages, 15 of them skipped unlock 15 confirmations.
    assert steps == ({"remind": 60, "package": 30, "confirm": 15} | ({"both": 15} if extra else {}))
