"""Writing planned tasks: each identity once, on the small-batch and the COPY paths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select

from models import AuditEvent, RoundRobinCursor, Task
from models.tasks import TASK_IDENTITY
from services.engine.planner import RunContext, identity_of, plan_task
from services.engine.subjects import fetch_one
from services.engine.writer import COPY_MIN_ROWS, write_tasks
from services.sops.registry import latest_version, prepared_for
from tests.support.world import RENEWAL, TODAY, add_patient, build_world, load_sop

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def planned_reminders(session, n):  # type: ignore[no-untyped-def]
    """Return the SOP and the `remind` rows planned for `n` new patients (not written)."""
    world = build_world(session)
    patients = [
        add_patient(session, world.fl, i, card_expires_on=TODAY + timedelta(days=30))
        for i in range(n)
    ]
    sop = load_sop(session, RENEWAL)
    version = latest_version(session, sop.id)
    prepared = prepared_for(version)
    ctx = RunContext(sop.id, sop.slug, version.id, None, "completion", NOW, TODAY)
    subjects = [fetch_one(session, prepared.spec, p.id) for p in patients]
    cycle = (TODAY + timedelta(days=30)).isoformat()

    def rows():  # type: ignore[no-untyped-def]
        return [plan_task(prepared, "remind", s, cycle, ctx) for s in subjects]

    return prepared, rows


@pytest.mark.parametrize("n", [1, COPY_MIN_ROWS + 1], ids=["few rows", "a batch"])
def test_each_key_is_written_once_and_audited(session, engine, n):
    prepared, rows = planned_reminders(session, n)
    statements: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        inserted, existing = write_tasks(session, prepared, rows())
    finally:
        event.remove(engine, "before_cursor_execute", note)
    session.commit()

    tasks = session.scalars(select(Task))
    stored = {identity_of({c: getattr(t, c) for c in TASK_IDENTITY}): t for t in tasks}
    assert existing == 0 and len(inserted) == n == len(stored)
    assert all(stored[identity_of(row)].id == row["id"] for row in inserted)
    assert all(t.assignee_id is not None and t.team_id is not None for t in stored.values())
    (audit,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "bulk_create"))
    assert sorted(audit.after["task_ids"]) == sorted(t.id for t in stored.values())
    # PostgreSQL: a staging table and COPY for a batch, one INSERT per row below that.
    staged = any("task_staging" in s for s in statements)
    postgres = engine.dialect.name == "postgresql"
    assert staged == (postgres and n >= COPY_MIN_ROWS)

    # Again: the keys exist, nothing is written, nor placed (no round-robin turn taken).
    turn = session.scalars(select(RoundRobinCursor.last_user_id)).all()
    assert write_tasks(session, prepared, rows()) == ([], n)
    assert session.scalars(select(RoundRobinCursor.last_user_id)).all() == turn
    # A concurrent writer's rows (the read saw none of them): ON CONFLICT skips them all.
    assert write_tasks(session, prepared, rows(), checked=True) == ([], n)
    session.commit()
    assert len(session.scalars(select(Task)).all()) == n
    creations = select(AuditEvent).where(AuditEvent.action == "bulk_create")
    assert len(session.scalars(creations).all()) == 1
