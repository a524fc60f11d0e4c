"""The engine: a SOP version + data + now → exactly the tasks that should exist."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from models import AuditEvent, SopRun, Task, TaskStatus
from services.engine.sweep import execute_run, start_run
from tests.support.world import RENEWAL, TODAY, add_patient, build_world, load_sop

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def run(session, slug="test-renewal", now=NOW, batch_size=5000, **kw):
    sop_run = start_run(session, slug, "manual", now=now, **kw)
    session.commit()
    return execute_run(session, sop_run, batch_size=batch_size)


def tasks(session, **where):
    query = select(Task).order_by(Task.subject_id, Task.step_id)
    for key, value in where.items():
        query = query.where(getattr(Task, key) == value)
    return session.scalars(query).all()


def test_sweep_creates_root_tasks_once_for_matching_subjects(session):
    world = build_world(session)
    due_soon = [
        add_patient(session, world.fl, i, card_expires_on=TODAY + timedelta(days=40))
        for i in range(5)
    ]
    add_patient(session, world.fl, 10, card_expires_on=TODAY + timedelta(days=90))  # too far
    add_patient(
        session, world.fl, 11, card_expires_on=TODAY + timedelta(days=10), status="inactive"
    )
    add_patient(session, world.fl, 12, card_expires_on=None)
    load_sop(session, RENEWAL)

    first = run(session, batch_size=2)  # several batches
    assert (first.created_count, first.unchanged_count, first.failed_count) == (5, 0, 0)
    created = tasks(session)
    assert [t.subject_id for t in created] == [p.id for p in due_soon]
    assert {t.step_id for t in created} == {"remind"}
    assert all(t.title == f"Reminder · P-{t.subject_id}" for t in created)
    assert all(t.subject_ref == f"P-{t.subject_id}" and t.run_id == first.id for t in created)

    second = run(session)
    assert (second.created_count, second.unchanged_count) == (0, 5)
    assert session.scalar(select(func.count()).select_from(Task)) == 5


def test_due_dates_follow_the_state_and_the_site_zone(session):
    world = build_world(session)
    expiry = date(2027, 1, 1)
    fl = add_patient(session, world.fl, 1, card_expires_on=expiry)
    pa = add_patient(session, world.pa, 2, card_expires_on=expiry)
    ok = add_patient(session, world.ok, 3, card_expires_on=expiry)
    load_sop(session, RENEWAL)
    run(session, now=datetime(2026, 11, 20, 12, tzinfo=UTC))
    by_subject = {t.subject_id: t for t in tasks(session)}
    assert by_subject[fl.id].due_on == date(2026, 11, 17)  # -45d (default)
    assert by_subject[pa.id].due_on == date(2026, 11, 2)  # -60d
    assert by_subject[ok.id].due_on == date(2026, 12, 2)  # -30d
    # Overdue starts when the due day is over in the site's zone (EST / CST).
    assert by_subject[fl.id].due_at == datetime(2026, 11, 18, 5, tzinfo=UTC)
    assert by_subject[ok.id].due_at == datetime(2026, 12, 3, 6, tzinfo=UTC)


def test_round_robin_is_fair_across_runs_and_skips_inactive_users(session):
    world = build_world(session)
    for i in range(4):
        add_patient(session, world.fl, i, card_expires_on=TODAY + timedelta(days=30))
    load_sop(session, RENEWAL)
    run(session)
    for i in range(4, 6):
        add_patient(session, world.fl, i, card_expires_on=TODAY + timedelta(days=30))
    session.commit()
    run(session)
    assignees = [t.assignee_id for t in tasks(session)]
    va_ids = [u.id for u in world.vas]
    assert assignees == [va_ids[i % 3] for i in range(6)]
    assert world.inactive.id not in assignees and world.manager.id not in assignees


def test_failure_messages_never_carry_quoted_values():
    from services.engine.planner import short_error

    error = ValueError("invalid literal for int() with base 10: 'Smith'")
    assert short_error(error) == "ValueError: invalid literal for int() with base 10: …"


def test_a_failing_expression_is_recorded_and_the_rest_carry_on(session):
    world = build_world(session)
    good = add_patient(session, world.fl, 1, card_expires_on=TODAY + timedelta(days=20))
    bad = add_patient(session, world.fl, 2, card_expires_on=TODAY + timedelta(days=20))
    text = RENEWAL.replace(
        'title: "Reminder · {{ subject.ref }}"',
        f'title: "Reminder · {{{{ subject.ref }}}} · {{{{ (100 // (subject.id - {bad.id})) }}}}"',
    )
    load_sop(session, text)
    result = run(session)
    assert (result.created_count, result.failed_count) == (1, 1)
    assert result.failures == [
        {
            "subject": f"patient:{bad.id}",
            "error": "ZeroDivisionError: integer division or modulo by zero",
        }
    ]
    assert [t.subject_id for t in tasks(session)] == [good.id]


def test_open_tasks_of_an_old_cycle_are_cancelled_when_the_expiry_moves(session):
    world = build_world(session)
    patient = add_patient(session, world.fl, 1, card_expires_on=TODAY + timedelta(days=20))
    load_sop(session, RENEWAL)
    run(session)
    (old,) = tasks(session)
    patient.card_expires_on = TODAY + timedelta(days=50)  # renewed early, new expiry
    session.commit()
    result = run(session)
    assert result.cancelled_count == 1 and result.created_count == 1
    session.refresh(old)
    assert old.status is TaskStatus.CANCELLED
    assert old.cancel_reason.startswith("card_expires_on changed to")
    statuses = Counter(t.status for t in tasks(session))
    assert statuses == {TaskStatus.CANCELLED: 1, TaskStatus.OPEN: 1}


def test_created_tasks_are_audited_with_the_run(session):
    world = build_world(session)
    add_patient(session, world.fl, 1, card_expires_on=TODAY + timedelta(days=20))
    load_sop(session, RENEWAL)
    result = run(session)
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "bulk_create"))
    assert event.actor_label == f"system:sop-run:{result.id}"
    assert event.after["task_ids"] == [t.id for t in tasks(session)]


def test_run_records_counts_and_status(session):
    world = build_world(session)
    add_patient(session, world.fl, 1, card_expires_on=TODAY + timedelta(days=20))
    load_sop(session, RENEWAL)
    result = run(session)
    stored = session.get(SopRun, result.id)
    assert stored.status.value == "completed" and stored.finished_at is not None
    assert stored.trigger_detail["today"] == "2026-11-02"


def test_a_run_that_lost_its_process_is_closed_by_the_next(session):
    world = build_world(session)
    add_patient(session, world.fl, 1, card_expires_on=TODAY + timedelta(days=20))
    load_sop(session, RENEWAL)
    lost = start_run(session, "test-renewal", "schedule", now=NOW - timedelta(hours=7))
    session.commit()
    run(session)
    session.refresh(lost)
    assert lost.status.value == "failed" and lost.error.startswith("abandoned")
