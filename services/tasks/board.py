"""The manager board's aggregates: workload by person, escalations, SOP runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session, joinedload

from models import Sop, SopRun, Task, TaskStatus, Team, User
from services.tasks.access import Scope
from services.tasks.queries import is_open, row_loading


@dataclass
class Load:
    """Open work of one person (or one team's queue): counts by urgency and state."""

    open: int = 0
    overdue: int = 0
    in_progress: int = 0
    blocked: int = 0
    escalated: int = 0

    def add(self, other: Load) -> None:
        self.open += other.open
        self.overdue += other.overdue
        self.in_progress += other.in_progress
        self.blocked += other.blocked
        self.escalated += other.escalated


@dataclass
class Workload:
    """Everyone's load (active users, and anyone inactive still holding work) and
    each team's unassigned queue."""

    people: list[tuple[User, Load]]
    queues: list[tuple[Team, Load]]
    total: Load = field(default_factory=Load)


def workload(session: Session, scope: Scope, now: datetime) -> Workload:
    """Return open work by assignee and by team queue (two queries)."""
    query = (
        select(
            Task.assignee_id,
            Task.team_id,
            func.count(),
            func.sum(case((Task.due_at < now, 1), else_=0)),
            func.sum(case((Task.status == TaskStatus.IN_PROGRESS, 1), else_=0)),
            func.sum(case((Task.status == TaskStatus.BLOCKED, 1), else_=0)),
            func.sum(case((Task.escalation_level > 0, 1), else_=0)),
        )
        .where(is_open())
        .group_by(Task.assignee_id, Task.team_id)
    )
    by_user: dict[int, Load] = {}
    by_team: dict[int | None, Load] = {}
    total = Load()
    for assignee_id, team_id, n, overdue, started, blocked, escalated in session.execute(query):
        load = Load(n, overdue or 0, started or 0, blocked or 0, escalated or 0)
        total.add(load)
        if assignee_id is None:
            by_team.setdefault(team_id, Load()).add(load)
        else:
            by_user.setdefault(assignee_id, Load()).add(load)
    users = session.scalars(
        select(User)
        .where(or_(User.active.is_(True), User.id.in_(sorted(by_user))))
        .order_by(User.name, User.id)
    ).all()
    teams = {t.id: t for t in session.scalars(select(Team).order_by(Team.name))}
    people = [(u, by_user.get(u.id, Load())) for u in users]
    people.sort(key=lambda pair: (-pair[1].overdue, -pair[1].open, pair[0].name))
    queues = [(team, by_team.get(team_id, Load())) for team_id, team in teams.items()]
    return Workload(people, queues, total)


def escalations(session: Session, limit: int = 50) -> Sequence[Task]:
    """Return open escalated tasks, most overdue first (read in deadline order from the
    index over open work, so it stays cheap however many are escalated)."""
    query = (
        select(Task)
        .where(is_open(), Task.escalation_level > 0)
        .options(*row_loading("assignee"))
        .order_by(Task.due_at, Task.id)
        .limit(limit)
    )
    return session.scalars(query).all()


def recent_runs(session: Session, sop_id: int | None = None, limit: int = 25) -> Sequence[SopRun]:
    """Return the newest SOP runs (of one SOP if given), with their SOP and version."""
    query = (
        select(SopRun)
        .options(joinedload(SopRun.sop), joinedload(SopRun.version))
        .order_by(SopRun.started_at.desc(), SopRun.id.desc())
        .limit(limit)
    )
    if sop_id is not None:
        query = query.where(SopRun.sop_id == sop_id)
    return session.scalars(query).all()


def run_by_id(session: Session, run_id: int) -> SopRun | None:
    """Return one run with its SOP and version, or None."""
    query = (
        select(SopRun)
        .where(SopRun.id == run_id)
        .options(joinedload(SopRun.sop), joinedload(SopRun.version))
    )
    return session.scalar(query)


def sops(session: Session) -> Sequence[Sop]:
    """Return every SOP, by title (filter choices)."""
    return session.scalars(select(Sop).order_by(Sop.title)).all()
