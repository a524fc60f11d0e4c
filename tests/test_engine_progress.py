"""Completing a step moves the SOP forward; escalation climbs the ladder at frozen times."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event, select

from models import Actor, AuditEvent, Evidence, Task, TaskEvent, TaskStatus, User, acting_as
from services.engine.escalation import escalation_sweep
from services.engine.sweep import execute_run, start_run
from services.tasks.actions import TaskActionError, complete_task, ensure_checklist, tick
from tests.support.world import RENEWAL, TODAY, add_patient, build_world, load_sop

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def sweep(session, now=NOW):
    run = start_run(session, "test-renewal", "schedule", now=now)
    session.commit()
    return execute_run(session, run)


def only(session, step_id):
    (task,) = session.scalars(select(Task).where(Task.step_id == step_id)).all()
    return task


def world_with_one_patient(session):
    """A world with one consenting FL patient whose card expires in 30 days."""
    world = build_world(session)
    add_patient(
        session, world.fl, 1, card_expires_on=TODAY + timedelta(days=30), consent_email=True
    )
    return world


def tick_all(session, task, user):
    for item in ensure_checklist(session, task):
        tick(session, item, user, True)


def test_completion_creates_the_next_step_due_from_the_completion(session):
    world = world_with_one_patient(session)
    load_sop(session, RENEWAL)
    sweep(session)
    remind = only(session, "remind")
    va = session.get(type(world.vas[0]), remind.assignee_id)

    with pytest.raises(TaskActionError, match="Tick the required checklist items first: Send"):
        complete_task(session, remind, va, now=NOW)
    session.rollback()
    assert session.scalars(select(Task).where(Task.step_id == "package")).all() == []

    tick_all(session, remind, va)
    # Wednesday 2026-11-25 + 3 business days: Thanksgiving and the day after are FL holidays.
    done_at = datetime(2026, 11, 25, 15, tzinfo=UTC)
    completion = complete_task(session, remind, va, now=done_at)
    session.commit()
    package = only(session, "package")
    assert completion.created == [package.id]
    assert package.due_on == date(2026, 12, 2)
    assert package.status is TaskStatus.OPEN and package.sop_version_id == remind.sop_version_id
    assert remind.status is TaskStatus.DONE and remind.completed_by_id == va.id
    kinds = [
        e.kind for e in session.scalars(select(TaskEvent).where(TaskEvent.task_id == remind.id))
    ]
    assert kinds == ["checklist", "checklist", "completed"]


def test_false_condition_skips_a_step_records_why_and_unblocks_nothing_twice(session):
    world = build_world(session)
    add_patient(
        session, world.fl, 1, card_expires_on=TODAY + timedelta(days=30), consent_email=False
    )
    load_sop(session, RENEWAL)
    sweep(session)
    remind = only(session, "remind")
    tick_all(session, remind, world.vas[0])
    complete_task(session, remind, world.vas[0], now=NOW)
    package = only(session, "package")
    complete_task(session, package, world.vas[0], now=NOW)
    session.commit()
    confirm = only(session, "confirm")
    assert confirm.status is TaskStatus.SKIPPED
    assert confirm.cancel_reason == "Skipped: condition `subject.consent_email` was false"
    sweep(session)  # a rerun re-creates nothing
    assert len(session.scalars(select(Task)).all()) == 3


def test_approval_steps_need_the_role_and_evidence_gates(session):
    world = world_with_one_patient(session)
    text = RENEWAL.replace(
        "    approval: {role: manager}",
        "    approval: {role: manager}\n    evidence: {required: true, kind: any}",
    )
    load_sop(session, text)
    sweep(session)
    remind = only(session, "remind")
    tick_all(session, remind, world.vas[0])
    complete_task(session, remind, world.vas[0], now=NOW)
    complete_task(session, only(session, "package"), world.vas[1], now=NOW)
    confirm = only(session, "confirm")
    with pytest.raises(TaskActionError) as refused:
        complete_task(session, confirm, world.vas[0], now=NOW)
    assert "needs evidence" in str(refused.value) and "Only a manager" in str(refused.value)
    session.add(Evidence(task_id=confirm.id, kind="link", url="https://registry.example.test/x"))
    session.flush()
    session.refresh(confirm)
    complete_task(session, confirm, world.manager, now=NOW)
    assert confirm.status is TaskStatus.DONE


def test_escalation_ladder_at_frozen_times_is_idempotent(session):
    world = build_world(session)
    add_patient(session, world.fl, 1, card_expires_on=date(2026, 12, 31))
    load_sop(session, RENEWAL)
    sweep(session, now=datetime(2026, 11, 1, 12, tzinfo=UTC))
    task = only(session, "remind")
    assert task.due_on == date(2026, 11, 16)  # Monday; overdue from 17 Nov 05:00Z
    first_assignee = task.assignee_id

    def at(day, hour=12):
        report = escalation_sweep(session, datetime(2026, 11, day, hour, tzinfo=UTC))
        session.commit()
        return report

    assert at(16, 4).warned == []  # 25 hours ahead: not yet
    assert at(16, 6).warned == [task.id]  # within a day of the deadline
    assert at(16, 7).warned == []  # once
    assert at(17).reminded == [task.id]
    assert at(17, 13).reminded == []  # a sweep a minute (an hour) later: nothing again
    assert at(18).reminded == [task.id]
    assert at(19).escalated == []  # 2 business days overdue: not yet
    report = at(20)  # 3 business days after the deadline
    assert report.escalated == [task.id]
    assert at(20, 13).escalated == []
    session.refresh(task)
    assert task.escalation_level == 1 and task.assignee_id == world.manager.id
    events = session.scalars(
        select(TaskEvent).where(TaskEvent.task_id == task.id).order_by(TaskEvent.id)
    ).all()
    assert [e.kind for e in events] == [
        "warned",
        "reminded",
        "reminded",
        "reminded",
        "reminded",
        "escalated",
    ]
    assert events[-1].detail["from_assignee_id"] == first_assignee
    assert events[-1].detail["notify"] == ["managers"]


def test_snoozed_tasks_are_not_escalated(session):
    world = build_world(session)
    add_patient(session, world.fl, 1, card_expires_on=date(2026, 12, 31))
    load_sop(session, RENEWAL)
    sweep(session, now=datetime(2026, 11, 1, 12, tzinfo=UTC))
    task = only(session, "remind")
    task.snoozed_until = datetime(2026, 11, 30, tzinfo=UTC)
    session.commit()
    report = escalation_sweep(session, datetime(2026, 11, 25, 12, tzinfo=UTC))
    assert (report.warned, report.reminded, report.escalated) == ([], [], [])


def test_completing_is_audited_and_in_the_history_like_any_change(session):
    world = world_with_one_patient(session)
    load_sop(session, RENEWAL)
    sweep(session)
    remind = only(session, "remind")
    va = session.get(User, remind.assignee_id)
    tick_all(session, remind, va)
    session.commit()
    written = remind.updated_at

    with acting_as(Actor(va.id, va.email)):
        completion = complete_task(session, remind, va, now=NOW)
    assert remind.status is TaskStatus.DONE and not remind.is_open  # the loaded task knows
    session.commit()

    package = only(session, "package")
    assert completion.created == [package.id]
    # The new rows as written are the rows in the database: nobody reads them back.
    (row,) = completion.rows
    assert (row["id"], row["title"], row["assignee_id"]) == (
        package.id,
        package.title,
        package.assignee_id,
    )
    assert (row["due_on"], row["due_at"]) == (package.due_on, package.due_at)
    assert completion.timezone == world.fl.timezone
    (update,) = session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "update",
            AuditEvent.entity_type == "task",
            AuditEvent.entity_id == str(remind.id),
        )
    ).all()
    assert update.before == {"status": "open", "completed_at": None, "completed_by_id": None}
    assert update.after == {
        "status": "done",
        "completed_at": NOW.isoformat(),
        "completed_by_id": va.id,
    }
    assert (update.actor_id, update.actor_label) == (va.id, va.email)
    created = session.scalars(select(AuditEvent).where(AuditEvent.action == "bulk_create"))
    assert [e.after["task_ids"] for e in created if package.id in e.after["task_ids"]] == [
        [package.id]
    ]
    session.expire_all()
    remind = session.get(Task, remind.id)
    assert (remind.status, remind.completed_at, remind.completed_by_id) == (
        TaskStatus.DONE,
        NOW,
        va.id,
    )
    assert remind.updated_at != written
    kinds = [
        e.kind
        for e in session.scalars(
            select(TaskEvent).where(TaskEvent.task_id == remind.id).order_by(TaskEvent.id)
        )
    ]
    assert kinds == ["checklist", "checklist", "completed"]


def test_a_step_after_two_others_waits_for_both(session, engine):
    # `call` runs beside `remind`; `package` needs both (the database is asked about the
    # one that did not just finish).
    text = RENEWAL.replace(
        '  - id: package\n    title: "Package · {{ subject.ref }}"\n    after: [remind]\n',
        "  - id: call\n"
        '    title: "Call · {{ subject.ref }}"\n'
        "    due: {from: subject.card_expires_on, offset: -40d}\n"
        "    assign: {strategy: round_robin, team: patient-services, role: va}\n"
        "  - id: package\n"
        '    title: "Package · {{ subject.ref }}"\n'
        "    after: [remind, call]\n",
    )
    assert "after: [remind, call]" in text
    world = world_with_one_patient(session)
    load_sop(session, text)
    sweep(session)
    remind, call = only(session, "remind"), only(session, "call")
    tick_all(session, remind, world.vas[0])
    assert complete_task(session, remind, world.vas[0], now=NOW).created == []
    session.commit()
    assert session.scalars(select(Task).where(Task.step_id == "package")).all() == []
    created = complete_task(session, call, world.vas[0], now=NOW).created
    session.commit()
    assert created == [only(session, "package").id]
    complete_task(session, only(session, "package"), world.vas[0], now=NOW)
    confirm = only(session, "confirm")
    statements: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        done = complete_task(session, confirm, world.manager, now=NOW)
    finally:
        event.remove(engine, "before_cursor_execute", note)
    # The SOP's last step unlocks nothing, and its subject is not even read.
    assert done.created == [] and not any("FROM patient" in s for s in statements)
