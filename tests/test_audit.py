"""Every ORM change of a domain row lands in the append-only audit trail, by one hook."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models import Actor, AuditEvent, Role, acting_as
from models.audit import AuditImmutableError, record_bulk
from tests.support.factories import make_site, make_team, make_user


def events(session, entity_type):
    query = select(AuditEvent).where(AuditEvent.entity_type == entity_type).order_by(AuditEvent.id)
    return session.scalars(query).all()


def test_create_update_delete_are_recorded_with_actor(session):
    with acting_as(Actor(None, "test-runner")):
        site = make_site(session, code="FL-Audit")
        session.commit()
        site.name = "Renamed"
        session.commit()
        session.delete(site)
        session.commit()
    rows = events(session, "site")
    assert [r.action for r in rows] == ["create", "update", "delete"]
    assert rows[0].after["code"] == "FL-Audit"
    assert rows[1].before == {"name": rows[0].after["name"]} and rows[1].after == {
        "name": "Renamed"
    }
    assert rows[2].before["name"] == "Renamed" and rows[2].after is None
    assert {r.actor_label for r in rows} == {"test-runner"}
    assert all(r.entity_id == str(rows[0].after["id"]) for r in rows)


def test_secrets_never_reach_the_trail(session):
    user = make_user(session, role=Role.MANAGER)
    session.commit()
    user.password_hash = "changed"
    session.commit()
    rows = events(session, "user_account")
    assert "password_hash" not in rows[0].after
    assert "session_nonce" not in rows[0].after
    # A change of only excluded columns writes no empty update event.
    assert [r.action for r in rows] == ["create"]


def test_many_to_many_membership_changes_are_recorded(session):
    team = make_team(session)
    user = make_user(session)
    session.commit()
    user.teams.append(team)
    session.commit()
    update = events(session, "user_account")[-1]
    assert update.action == "update"
    assert update.before["teams"] == [] and update.after["teams"] == [str(team.id)]


def test_unchanged_assignment_writes_nothing(session):
    site = make_site(session)
    session.commit()
    count = len(events(session, "site"))
    site.name = site.name
    session.commit()
    assert len(events(session, "site")) == count


def test_audit_events_are_append_only(session):
    make_site(session)
    session.commit()
    row = events(session, "site")[0]
    row.action = "tampered"
    with pytest.raises(AuditImmutableError):
        session.commit()
    session.rollback()
    session.delete(session.get(AuditEvent, row.id))
    with pytest.raises(AuditImmutableError):
        session.commit()
    session.rollback()


def test_bulk_writes_record_one_event_per_row(session):
    with acting_as(Actor(None, "system:run_sop")):
        written = record_bulk(session, "create", "task", [(1, {"title": "a"}), (2, {"title": "b"})])
    session.commit()
    rows = events(session, "task")
    assert written == 2
    assert [(r.entity_id, r.after["title"], r.actor_label) for r in rows] == [
        ("1", "a", "system:run_sop"),
        ("2", "b", "system:run_sop"),
    ]
