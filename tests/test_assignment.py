"""Assignment strategies: fixed, team queue, round-robin, least-loaded, role; only active users."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from models import Role, RoundRobinCursor, TaskStatus
from models.sop_spec import Assignment
from services.assignment import (
    AssignmentError,
    place_escalation,
    place_tasks,
    plan_placements,
)
from tests.support.factories import make_sop_version, make_task
from tests.support.world import build_world


def test_team_queue_leaves_tasks_unassigned_in_the_team(session):
    world = build_world(session)
    rule = Assignment(strategy="team_queue", team="patient-services")
    placements = place_tasks(session, rule, 3, "compliance")
    assert {(p.team_id, p.assignee_id) for p in placements} == {(world.patient_services.id, None)}


def test_no_rule_means_the_owner_teams_queue(session):
    world = build_world(session)
    (placement,) = place_tasks(session, None, 1, "compliance")
    assert (placement.team_id, placement.assignee_id) == (world.compliance.id, None)


def test_fixed_user_must_be_active(session):
    world = build_world(session)
    rule = Assignment(strategy="fixed", user="VA2@example.test", team="patient-services")
    assert {p.assignee_id for p in place_tasks(session, rule, 2, None)} == {world.vas[1].id}
    gone = Assignment(strategy="fixed", user="gone@example.test")
    with pytest.raises(AssignmentError, match=r'no active user "gone@example\.test"'):
        place_tasks(session, gone, 1, None)


def test_least_loaded_fills_the_emptiest_first(session):
    world = build_world(session)
    version = make_sop_version(session)
    a, b, c = world.vas
    for _ in range(3):
        make_task(session, version, assignee_id=a.id)
    make_task(session, version, assignee_id=b.id)
    make_task(session, version, assignee_id=c.id, status=TaskStatus.DONE)  # not open
    session.commit()
    rule = Assignment(strategy="least_loaded", team="patient-services", role="va")
    picks = [p.assignee_id for p in place_tasks(session, rule, 4, None)]
    # open counts a=3, b=1, c=0 → c, c (now 2 vs b 1) → b, then b/c tie → by id
    assert picks == [c.id, b.id, c.id, b.id]


def test_placements_travel_as_a_lead_and_one_cycle(session):
    # The set-based sweep ships placements compactly; expanded, they must be exactly the
    # greedy picks one at a time, whatever n.
    world = build_world(session)
    version = make_sop_version(session)
    a, b, c = world.vas
    for user, count in ((a, 4), (b, 1)):
        for _ in range(count):
            make_task(session, version, assignee_id=user.id)
    session.commit()
    loads = {a.id: 4, b.id: 1, c.id: 0}
    rule = Assignment(strategy="least_loaded", team="patient-services", role="va")
    for n in (1, 3, 7, 8, 20):
        one_at_a_time = []
        counts = dict(loads)
        for _ in range(n):
            pick = min(counts, key=lambda uid: (counts[uid], uid))
            one_at_a_time.append(pick)
            counts[pick] += 1
        placements = plan_placements(session, rule, n, None)
        assert [p.assignee_id for p in placements.expanded()] == one_at_a_time
        assert len(placements.lead) == min(n, 7)  # 4 - 1 + 4 - 0 picks until level
        assert [p.assignee_id for p in placements.cycle] == sorted(loads)
    turns = Assignment(strategy="round_robin", team="patient-services", role="va")
    placements = plan_placements(session, turns, 7, None)
    assert (placements.lead, len(placements.cycle)) == ((), 3)
    picks = [p.assignee_id for p in placements.expanded()]
    assert picks == [picks[i % 3] for i in range(7)] and set(picks) == set(loads)
    # The turn saved is the seventh pick's: the next call starts after it.
    (following,) = place_tasks(session, turns, 1, None)
    assert following.assignee_id == picks[(7) % 3]


def test_round_robin_skips_inactive_and_resumes_after_the_last_pick(session):
    world = build_world(session)
    rule = Assignment(strategy="round_robin", team="patient-services", role="va")
    first = [p.assignee_id for p in place_tasks(session, rule, 2, None)]
    session.commit()
    world.vas[2].active = False
    session.commit()
    second = [p.assignee_id for p in place_tasks(session, rule, 3, None)]
    ids = [u.id for u in world.vas]
    assert first == ids[:2]
    assert second == [ids[0], ids[1], ids[0]]  # the inactive third VA is skipped


def test_role_strategy_and_escalation_target(session):
    world = build_world(session)
    rule = Assignment(strategy="role", role="manager", team="patient-services")
    assert {p.assignee_id for p in place_tasks(session, rule, 2, None)} == {world.manager.id}
    target = place_escalation(session, Role.ADMIN, None, None, world.compliance.id)
    assert (target.team_id, target.assignee_id) == (world.compliance.id, world.admin.id)
    with pytest.raises(AssignmentError, match="nobody active with role va"):
        place_escalation(session, Role.VA, "compliance", None, None)


def test_round_robin_takes_and_saves_its_turn_under_a_lock(session, engine):
    world = build_world(session)
    rule = Assignment(strategy="round_robin", team="patient-services", role="va")
    scope_key = f"team:{world.patient_services.id}"
    assert session.get(RoundRobinCursor, scope_key) is None
    first = [p.assignee_id for p in place_tasks(session, rule, 1, None)]  # creates the turn
    session.commit()
    cursor = session.get(RoundRobinCursor, scope_key)
    assert cursor.last_user_id == first[0] and cursor.updated_at is not None
    saved_at = cursor.updated_at

    statements: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        later = [p.assignee_id for p in place_tasks(session, rule, 2, None)]
    finally:
        event.remove(engine, "before_cursor_execute", note)
    session.commit()
    ids = [u.id for u in world.vas]
    assert first + later == ids
    # The team with its people, the turn read under lock, the turn saved.
    assert len(statements) == 3, statements
    session.expire_all()
    cursor = session.get(RoundRobinCursor, scope_key)
    assert cursor.last_user_id == ids[2] and cursor.updated_at > saved_at


def test_a_team_without_active_people_queues_and_an_unknown_team_is_an_error(session):
    world = build_world(session)
    for user in world.vas:
        user.active = False
    session.commit()
    rule = Assignment(strategy="round_robin", team="patient-services", role="va")
    (placement,) = place_tasks(session, rule, 1, None)
    assert (placement.team_id, placement.assignee_id) == (world.patient_services.id, None)
    nowhere = Assignment(strategy="least_loaded", team="no-such-team")
    with pytest.raises(AssignmentError, match='no team with slug "no-such-team"'):
        place_tasks(session, nowhere, 1, None)
