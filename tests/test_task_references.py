"""A task's references hold on both databases: foreign keys on SQLite, per-statement
checks on PostgreSQL (models/task_references.py). Same behaviour, same tests."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import Role, Site, SopRun, Task, Team, User
from models.task_references import TASK_REFERENCES
from tests.support.factories import make_site, make_sop_version, make_task, make_team, make_user

MISSING = 987654


@pytest.fixture
def world(session: Session) -> dict[str, object]:
    site = make_site(session)
    team = make_team(session, [site])
    user = make_user(session, Role.VA, [team])
    version = make_sop_version(session)
    run = SopRun(
        sop_id=version.sop_id,
        sop_version_id=version.id,
        trigger="manual",
        started_at=datetime(2026, 11, 2, tzinfo=UTC),
    )
    session.add(run)
    session.flush()
    task = make_task(
        session,
        version,
        site_id=site.id,
        team_id=team.id,
        assignee_id=user.id,
        run_id=run.id,
        completed_by_id=user.id,
    )
    session.commit()
    return {"site": site, "team": team, "user": user, "version": version, "run": run, "task": task}


def _row(world: dict[str, object], n: int, **changes: object) -> dict[str, object]:
    version = world["version"]
    values: dict[str, object] = {
        "title": "Reference test",
        "sop_id": version.sop_id,
        "sop_version_id": version.id,
        "step_id": "ref-test",
        "run_id": world["run"].id,
        "subject_type": "patient",
        "subject_id": n,
        "subject_ref": f"P-{n}",
        "cycle": "2026",
        "site_id": world["site"].id,
        "team_id": world["team"].id,
        "assignee_id": world["user"].id,
        "completed_by_id": world["user"].id,
        "status": "open",
        "priority": 2,
        "due_on": date(2026, 12, 1),
        "due_at": datetime(2026, 12, 2, tzinfo=UTC),
        "escalation_level": 0,
        "evidence_required": False,
        "revision": 0,
        "created_at": datetime(2026, 11, 2, tzinfo=UTC),
        "updated_at": datetime(2026, 11, 2, tzinfo=UTC),
    }
    values.update(changes)
    return values


def test_valid_references_insert_in_one_statement(session: Session, world) -> None:
    session.execute(insert(Task), [_row(world, n) for n in range(1, 51)])
    session.commit()
    written = session.scalars(select(Task.id).where(Task.step_id == "ref-test")).all()
    assert len(written) == 50


@pytest.mark.parametrize("column", sorted(TASK_REFERENCES))
def test_an_insert_naming_a_missing_row_fails_whole(session: Session, world, column) -> None:
    rows = [_row(world, n) for n in range(1, 20)] + [_row(world, 99, **{column: MISSING})]
    with pytest.raises(IntegrityError):
        session.execute(insert(Task), rows)
    session.rollback()
    assert session.scalars(select(Task.id).where(Task.step_id == "ref-test")).all() == []


@pytest.mark.parametrize("column", ["assignee_id", "team_id", "site_id", "completed_by_id"])
def test_an_update_to_a_missing_row_fails(session: Session, world, column) -> None:
    task_id = world["task"].id
    with pytest.raises(IntegrityError):
        session.execute(update(Task).where(Task.id == task_id).values({column: MISSING}))
    session.rollback()
    # Changing other columns, or to an existing row, is fine.
    other = make_user(session, Role.VA, [world["team"]])
    session.execute(update(Task).where(Task.id == task_id).values(assignee_id=other.id))
    session.execute(update(Task).where(Task.id == task_id).values(title="Renamed"))
    session.commit()
    assert session.get(Task, task_id).assignee_id == other.id


@pytest.mark.parametrize("model", [User, Team, Site, SopRun])
def test_a_referenced_row_cannot_be_deleted(session: Session, world, model) -> None:
    target = {User: "user", Team: "team", Site: "site", SopRun: "run"}[model]
    row_id = world[target].id
    with pytest.raises(IntegrityError):
        session.execute(delete(model).where(model.id == row_id))
        session.flush()
    session.rollback()
    assert session.get(model, row_id) is not None


def test_an_unreferenced_row_can_be_deleted(session: Session, world) -> None:
    spare = make_user(session, Role.VA)
    session.commit()
    session.execute(delete(User).where(User.id == spare.id))
    session.commit()
    assert session.get(User, spare.id) is None


@pytest.mark.postgres_only
def test_postgresql_checks_them_per_statement_not_per_row(session: Session) -> None:
    foreign_keys = session.execute(
        text(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 'task'::regclass AND contype = 'f'"
        )
    ).scalar_one()
    triggers = set(
        session.scalars(
            text(
                "SELECT tgname FROM pg_trigger "
                "WHERE tgrelid = 'task'::regclass AND NOT tgisinternal"
            )
        )
    )
    assert foreign_keys == 0
    assert {"task_references_inserted", "task_references_updated"} <= triggers
