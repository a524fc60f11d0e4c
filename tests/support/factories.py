"""Small builders for test rows (synthetic data only)."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from itertools import count
from typing import Any

from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from models import Role, Site, Sop, SopVersion, SopVersionSource, SubjectKind, Task, Team, User

PASSWORD = "correct horse battery"
_PASSWORD_HASH = generate_password_hash(PASSWORD)
_seq = count(1)


def make_site(session: Session, **values: Any) -> Site:
    n = next(_seq)
    site = Site(
        code=values.pop("code", f"FL-Site{n}"),
        name=values.pop("name", f"Test site {n}"),
        state=values.pop("state", "FL"),
        timezone=values.pop("timezone", "America/New_York"),
        holiday_calendar=values.pop("holiday_calendar", "US-FL"),
        **values,
    )
    session.add(site)
    session.flush()
    return site


def make_team(session: Session, sites: list[Site] | None = None, **values: Any) -> Team:
    n = next(_seq)
    team = Team(slug=values.pop("slug", f"team-{n}"), name=values.pop("name", f"Team {n}"))
    team.sites = sites or []
    session.add(team)
    session.flush()
    return team


def make_user(
    session: Session, role: Role = Role.VA, teams: list[Team] | None = None, **values: Any
) -> User:
    n = next(_seq)
    user = User(
        email=values.pop("email", f"user{n}@example.test"),
        name=values.pop("name", f"User {n}"),
        role=role,
        password_hash=_PASSWORD_HASH,
        **values,
    )
    user.teams = teams or []
    session.add(user)
    session.flush()
    return user


def make_sop_version(
    session: Session, slug: str = "test-sop", text: str = "id: test-sop\n"
) -> SopVersion:
    sop = Sop(slug=f"{slug}-{next(_seq)}", title="Test SOP")
    session.add(sop)
    session.flush()
    version = SopVersion(
        sop_id=sop.id,
        number=1,
        yaml_text=text,
        checksum=hashlib.sha256(text.encode()).hexdigest(),
        source=SopVersionSource.FILE,
    )
    session.add(version)
    session.flush()
    return version


def make_task(session: Session, version: SopVersion, **values: Any) -> Task:
    n = next(_seq)
    due_on = values.pop("due_on", date(2026, 12, 1))
    task = Task(
        title=values.pop("title", f"Task {n}"),
        sop_id=version.sop_id,
        sop_version_id=version.id,
        step_id=values.pop("step_id", "step"),
        subject_type=values.pop("subject_type", SubjectKind.PATIENT),
        subject_id=values.pop("subject_id", n),
        subject_ref=values.pop("subject_ref", f"P-{n}"),
        cycle=values.pop("cycle", "2026"),
        due_on=due_on,
        due_at=values.pop(
            "due_at", datetime.combine(due_on, datetime.min.time(), UTC) + timedelta(days=1)
        ),
        **values,
    )
    session.add(task)
    session.flush()
    return task
