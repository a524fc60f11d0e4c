"""The board's services on both backends: claim, moves, evidence, visibility, queues."""

from __future__ import annotations

import io
import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import AuditEvent, Document, DocumentCategory, Task, TaskEvent, TaskStatus
from services.tasks import evidence, workflow
from services.tasks.access import TaskNotVisible, visible_task
from services.tasks.actions import TaskActionError, complete_task, ensure_checklist, tick
from services.tasks.buckets import bucket_of
from services.tasks.queries import (
    Cursor,
    TaskFilter,
    all_tasks,
    my_counts,
    my_queue,
    team_queue,
    team_queue_count,
)
from tests.support.board import plain_tasks, renewal_tasks, scope, utc
from tests.support.factories import make_site, make_team, make_user
from tests.support.world import build_world

NOW = utc(2026, 11, 2, 15, 0)  # a Monday, 10:00 in New York


def events(session: Session, task: Task) -> list[str]:
    query = select(TaskEvent.kind).where(TaskEvent.task_id == task.id).order_by(TaskEvent.id)
    return list(session.scalars(query))


def test_claim_is_atomic_and_says_who_won(session):
    world = build_world(session)
    (task,) = renewal_tasks(session, world, 1, NOW)
    assert task.assignee_id is None and task.team_id == world.patient_services.id
    first, second = world.vas[0], world.vas[1]

    won = workflow.claim(session, scope(session, first), task.id, NOW)
    session.commit()
    lost = workflow.claim(session, scope(session, second), task.id, NOW)
    session.commit()

    assert won.won and not lost.won
    assert lost.message == f"Already claimed by {first.name}."
    session.refresh(task)
    assert task.assignee_id == first.id
    assert events(session, task) == ["claimed"]
    audit = session.scalars(
        select(AuditEvent).where(AuditEvent.entity_type == "task", AuditEvent.action == "update")
    ).all()
    assert [(a.actor_label, a.before, a.after) for a in audit] == [
        ("system", {"assignee_id": None}, {"assignee_id": first.id})
    ]


def test_claim_outside_my_teams_finds_nothing(session):
    world = build_world(session)
    (task,) = renewal_tasks(session, world, 1, NOW)
    stranger = make_user(session, teams=[world.compliance], email="other@example.test")
    session.commit()
    with pytest.raises(TaskNotVisible):
        workflow.claim(session, scope(session, stranger), task.id, NOW)
    session.rollback()
    assert session.get(Task, task.id).assignee_id is None


def test_two_claimers_at_once_exactly_one_wins(session, engine):
    world = build_world(session)
    (task,) = renewal_tasks(session, world, 1, NOW)
    barrier = threading.Barrier(3)
    results: list[bool] = []
    errors: list[BaseException] = []

    def claimer(user_id: int) -> None:
        try:
            with Session(engine) as own:
                from models import User

                who = scope(own, own.get(User, user_id))
                barrier.wait(timeout=10)
                results.append(workflow.claim(own, who, task.id, NOW).won)
                own.commit()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(v.id,)) for v in world.vas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(results) == [False, False, True]
    claimed = session.scalar(
        select(func.count()).where(TaskEvent.task_id == task.id, TaskEvent.kind == "claimed")
    )
    assert claimed == 1


def test_start_snooze_wake_hand_back_block_unblock_and_notes(session):
    world = build_world(session)
    (task,) = renewal_tasks(session, world, 1, NOW)
    va = world.vas[0]
    me = scope(session, va)
    with pytest.raises(TaskActionError, match="Claim the task"):
        workflow.start(session, me, task, NOW)
    workflow.claim(session, me, task.id, NOW)
    workflow.start(session, me, task, NOW)
    assert task.status is TaskStatus.IN_PROGRESS

    with pytest.raises(TaskActionError, match="after today"):
        workflow.snooze(session, me, task, date(2026, 11, 2), "later", NOW)
    with pytest.raises(TaskActionError, match="reason"):
        workflow.snooze(session, me, task, date(2026, 11, 5), "  ", NOW)
    with pytest.raises(TaskActionError, match="at most 90 days"):
        workflow.snooze(session, me, task, date(2027, 6, 1), "far", NOW)
    back = workflow.snooze(session, me, task, date(2026, 11, 5), "Patient travels", NOW)
    assert back == utc(2026, 11, 5, 5, 0)  # local midnight in New York
    workflow.wake(session, me, task, NOW)
    assert task.snoozed_until is None

    workflow.block(session, me, task, "Waiting for the registry", NOW)
    assert task.status is TaskStatus.BLOCKED and task.blocked_reason == "Waiting for the registry"
    workflow.unblock(session, me, task, NOW)
    assert task.status is TaskStatus.IN_PROGRESS

    workflow.comment(session, me, task, "<script>alert(1)</script> called twice", NOW)
    workflow.hand_back(session, me, task, "Out sick", NOW)
    session.commit()
    assert task.assignee_id is None and task.status is TaskStatus.OPEN
    assert events(session, task) == [
        "claimed",
        "started",
        "snoozed",
        "woken",
        "blocked",
        "unblocked",
        "comment",
        "handed_back",
    ]


def test_a_va_cannot_work_someone_elses_task_and_cannot_see_it(session):
    world = build_world(session)
    (task,) = renewal_tasks(session, world, 1, NOW)
    owner, other = world.vas[0], world.vas[1]
    workflow.claim(session, scope(session, owner), task.id, NOW)
    session.commit()
    with pytest.raises(TaskNotVisible):
        visible_task(session, scope(session, other), task.id)
    with pytest.raises(TaskActionError, match="is with"):
        workflow.snooze(session, scope(session, other), task, date(2026, 11, 5), "x", NOW)
    # A manager sees and works every task.
    assert visible_task(session, scope(session, world.manager), task.id) is task


def test_reassign_single_and_bulk_are_managers_only_and_audited(session):
    world = build_world(session)
    tasks = renewal_tasks(session, world, 4, NOW)
    boss = scope(session, world.manager)
    with pytest.raises(TaskActionError, match="Only a manager"):
        workflow.reassign(session, scope(session, world.vas[0]), tasks[0], world.vas[1].id, NOW)
    with pytest.raises(TaskActionError, match="active person"):
        workflow.reassign(session, boss, tasks[0], world.inactive.id, NOW)
    workflow.reassign(session, boss, tasks[0], world.vas[1].id, NOW)
    moved = workflow.reassign_many(session, boss, [t.id for t in tasks] + [999999], world.vas[2].id)
    session.commit()
    assert moved == 4
    assert {t.assignee_id for t in session.scalars(select(Task))} == {world.vas[2].id}
    changes = session.scalars(
        select(AuditEvent).where(AuditEvent.entity_type == "task", AuditEvent.action == "update")
    ).all()
    to_third = [c for c in changes if c.after.get("assignee_id") == world.vas[2].id]
    assert sorted(int(c.entity_id) for c in to_third) == sorted(t.id for t in tasks)
    back = workflow.reassign_many(session, boss, [tasks[0].id], None, NOW)
    session.commit()
    assert back == 1 and session.get(Task, tasks[0].id).assignee_id is None


def test_evidence_file_link_and_document(session, tmp_path):
    world = build_world(session)
    (task,) = renewal_tasks(session, world, 1, NOW)
    me = scope(session, world.vas[0])
    workflow.claim(session, me, task.id, NOW)
    proof = evidence.attach_file(
        session, me, task, tmp_path, io.BytesIO(b"%PDF-1.4 renewal"), "../../etc/passwd", "form"
    )
    assert proof.file_name == "passwd" and "/" not in proof.file_ref and ".." not in proof.file_ref
    stored = evidence.storage_path(tmp_path, proof.file_ref)
    assert stored.read_bytes() == b"%PDF-1.4 renewal" and stored.is_relative_to(tmp_path)
    with pytest.raises(ValueError):
        evidence.storage_path(tmp_path, "../secret")
    with pytest.raises(TaskActionError, match="larger than"):
        evidence.store_file(tmp_path, io.BytesIO(b"x" * 20), limit=10)
    with pytest.raises(TaskActionError, match="https://"):
        evidence.attach_link(session, me, task, "javascript:alert(1)")
    evidence.attach_link(session, me, task, "https://registry.example.test/confirm/1")
    other_site = make_site(session, code="PA-Other")
    foreign = Document(site_id=other_site.id, category=DocumentCategory.LICENSES, title="Other")
    mine = Document(site_id=world.fl.id, category=DocumentCategory.PATIENT_RECORDS, title="Form")
    session.add_all([foreign, mine])
    session.flush()
    with pytest.raises(TaskActionError, match="this task's site"):
        evidence.attach_document(session, me, task, foreign.id)
    evidence.attach_document(session, me, task, mine.id, "renewal form")
    session.commit()
    assert [e.kind for e in task.evidence] == ["file", "link", "document"]
    assert events(session, task).count("evidence") == 3


def test_complete_creates_the_next_step_for_the_least_loaded_va(session):
    world = build_world(session)
    (task,) = renewal_tasks(session, world, 1, NOW)
    va = world.vas[0]
    me = scope(session, va)
    workflow.claim(session, me, task.id, NOW)
    for item in ensure_checklist(session, task):
        tick(session, item, va, True, NOW)
    done = complete_task(session, task, va, NOW)
    session.commit()
    (package,) = session.scalars(select(Task).where(Task.id.in_(done.created))).all()
    assert package.step_id == "package" and package.assignee_id == world.vas[0].id


def test_my_queue_buckets_in_the_sites_time_zone(session):
    world = build_world(session)
    va = world.vas[0]
    now = utc(2026, 11, 4, 3, 30)  # Wednesday 22:30 in New York, 21:30 in Chicago
    version_tasks = []
    for site, due_on, due_at in [
        (world.fl, date(2026, 11, 3), utc(2026, 11, 4, 3, 0)),  # overdue by 30 min
        (world.fl, date(2026, 11, 3), utc(2026, 11, 4, 5, 0)),  # due "today" in NY (Tue?)
        (world.ok, date(2026, 11, 3), utc(2026, 11, 4, 6, 0)),  # Tuesday in Chicago: today
        (world.fl, date(2026, 11, 8), utc(2026, 11, 9, 5, 0)),  # Sunday: this week
        (world.fl, date(2026, 11, 9), utc(2026, 11, 10, 5, 0)),  # Monday next week: later
    ]:
        (task,) = plain_tasks(session, 1, due_on, site_id=site.id, assignee_id=va.id, due_at=due_at)
        version_tasks.append(task)
    page = my_queue(session, scope(session, va), TaskFilter(), now)
    assert [r.bucket for r in page.rows] == ["overdue", "today", "today", "week", "later"]
    assert [bucket_of(t, now) for t in version_tasks] == [r.bucket for r in page.rows]
    counts = my_counts(session, scope(session, va), TaskFilter(), now)
    assert (counts["overdue"], counts["today"], counts["week"], counts["later"]) == (1, 2, 1, 1)
    assert counts["total"] == 5
    # Snoozed work leaves the buckets and is counted apart.
    version_tasks[4].snoozed_until = utc(2026, 11, 6, 5, 0)
    session.commit()
    counts = my_counts(session, scope(session, va), TaskFilter(), now)
    assert counts["later"] == 0 and counts["snoozed"] == 1
    snoozed = my_queue(session, scope(session, va), TaskFilter(status="snoozed"), now)
    assert [r.task.id for r in snoozed.rows] == [version_tasks[4].id]


def test_keyset_pages_cover_every_task_once(session):
    world = build_world(session)
    va = world.vas[0]
    plain_tasks(session, 23, date(2026, 11, 10), assignee_id=va.id, site_id=world.fl.id)
    seen: list[int] = []
    cursor = None
    while True:
        page = my_queue(session, scope(session, va), TaskFilter(), NOW, cursor, limit=5)
        seen += [r.task.id for r in page.rows]
        if page.next_cursor is None:
            break
        cursor = Cursor.decode(page.next_cursor)
    assert len(seen) == 23 == len(set(seen))
    assert Cursor.decode("garbage") is None and Cursor.decode("1_x") is None


def test_filters_and_search(session):
    world = build_world(session)
    tasks = renewal_tasks(session, world, 6, NOW)
    boss = scope(session, world.manager)
    ref = tasks[2].subject_ref
    found = all_tasks(session, boss, TaskFilter(q=ref), NOW)
    assert [r.task.id for r in found.rows] == [tasks[2].id]
    assert [
        r.task.id for r in all_tasks(session, boss, TaskFilter(q=f"#{tasks[3].id}"), NOW).rows
    ] == [tasks[3].id]
    assert len(all_tasks(session, boss, TaskFilter(q="reminder"), NOW).rows) == 6
    assert all_tasks(session, boss, TaskFilter(q="100%_"), NOW).rows == []
    window = TaskFilter(due_from=tasks[0].due_on, due_to=tasks[0].due_on)
    assert {r.task.due_on for r in all_tasks(session, boss, window, NOW).rows} == {tasks[0].due_on}
    unassigned = all_tasks(session, boss, TaskFilter(assignee_id=0), NOW)
    assert len(unassigned.rows) == 6
    assert team_queue_count(session, scope(session, world.vas[0]), TaskFilter(), NOW) == 6


def test_a_va_sees_only_their_teams_sites_in_the_team_queue(session):
    world = build_world(session)
    renewal_tasks(session, world, 3, NOW)
    elsewhere = make_site(session, code="CO-Denver", state="CO", timezone="America/Denver")
    narrow_team = make_team(session, sites=[elsewhere], slug="denver-only")
    outsider = make_user(session, teams=[narrow_team], email="denver@example.test")
    session.commit()
    assert team_queue(session, scope(session, outsider), TaskFilter(), NOW).rows == []
    assert len(team_queue(session, scope(session, world.vas[0]), TaskFilter(), NOW).rows) == 3


def test_due_dates_next_week_do_not_count_as_this_week(session):
    world = build_world(session)
    monday = utc(2026, 11, 2, 15)
    (task,) = plain_tasks(session, 1, date(2026, 11, 9), site_id=world.fl.id)
    (sunday,) = plain_tasks(session, 1, date(2026, 11, 8), site_id=world.fl.id)
    assert bucket_of(sunday, monday) == "week"
    assert bucket_of(task, monday) == "later"
    assert bucket_of(task, monday + timedelta(days=6)) == "later"  # Sunday: Monday is next week
    assert bucket_of(task, monday + timedelta(days=1)) == "later"
    assert bucket_of(task, monday + timedelta(days=7)) == "today"
