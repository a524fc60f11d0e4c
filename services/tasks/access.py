"""Who sees and who works which task.

A VA sees the tasks assigned to them, the ones they completed, and the
unassigned tasks of their teams at their teams' sites (the `team_site`
table); managers and admins see everything. Every read of a task by id goes
through `visible_task`, so another user's task id in a URL finds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.orm import Session, joinedload

from models import Role, SopVersion, Task, User, team_members, team_sites

MANAGER_ROLES = frozenset({Role.MANAGER, Role.ADMIN})


class TaskNotVisible(Exception):
    """The task does not exist or the user may not see it (a 404 for the web)."""


@dataclass(frozen=True)
class Scope:
    """What one user may see and do: the user, their teams, and their sites.

    `site_ids` is None for managers and admins (every site).
    """

    user: User
    team_ids: frozenset[int]
    site_ids: frozenset[int] | None
    user_id: int
    role: Role

    @property
    def is_manager(self) -> bool:
        return self.role in MANAGER_ROLES

    def sees_site(self, site_id: int | None) -> bool:
        """Return True when subjects and tasks of `site_id` are within this scope."""
        return self.site_ids is None or site_id is None or site_id in self.site_ids


def scope_for(session: Session, user: User) -> Scope:
    """Return the user's scope (one query: their teams and those teams' sites)."""
    rows = session.execute(
        select(team_members.c.team_id, team_sites.c.site_id)
        .select_from(team_members)
        .outerjoin(team_sites, team_sites.c.team_id == team_members.c.team_id)
        .where(team_members.c.user_id == user.id)
    ).all()
    team_ids = frozenset(team_id for team_id, _ in rows)
    manager = user.role in MANAGER_ROLES
    site_ids = None if manager else frozenset(s for _, s in rows if s is not None)
    return Scope(user, team_ids, site_ids, user.id, user.role)


def site_clause(scope: Scope, column: ColumnElement[int | None]) -> ColumnElement[bool]:
    """Return a condition limiting `column` (a site id) to the scope's sites."""
    if scope.site_ids is None:
        return true()
    if not scope.site_ids:
        return column.is_(None)
    return or_(column.is_(None), column.in_(sorted(scope.site_ids)))


def team_queue_clause(scope: Scope) -> ColumnElement[bool]:
    """Return the condition "unassigned, in one of my teams, at one of my sites"."""
    if not scope.team_ids:
        return false()
    return and_(
        Task.assignee_id.is_(None),
        Task.team_id.in_(sorted(scope.team_ids)),
        site_clause(scope, Task.site_id),
    )


def visible_clause(scope: Scope) -> ColumnElement[bool]:
    """Return the condition on Task rows this scope may see."""
    if scope.is_manager:
        return true()
    return or_(
        Task.assignee_id == scope.user_id,
        Task.completed_by_id == scope.user_id,
        team_queue_clause(scope),
    )


def visible_task(
    session: Session, scope: Scope, task_id: int, *, lock: bool = False, with_sop: bool = False
) -> Task:
    """Return the task if the scope may see it; raise TaskNotVisible otherwise.

    `lock` takes a row lock until the transaction ends (actions); `with_sop` loads the
    task's SOP and version in the same query (completing needs them)."""
    query = select(Task).where(Task.id == task_id, visible_clause(scope))
    if with_sop:
        query = query.options(
            joinedload(Task.sop, innerjoin=True),
            joinedload(Task.sop_version, innerjoin=True).joinedload(SopVersion.sop, innerjoin=True),
        )
    if lock:
        query = query.with_for_update(of=Task)
    task = session.scalar(query)
    if task is None:
        raise TaskNotVisible(task_id)
    return task


def may_work(scope: Scope, task: Task) -> bool:
    """Return True when the user may change the task: its assignee, or a manager."""
    return scope.is_manager or task.assignee_id == scope.user_id


def may_claim(scope: Scope, task: Task) -> bool:
    """Return True when the task sits unassigned in one of the scope's team queues."""
    return (
        task.assignee_id is None
        and task.is_open
        and (scope.is_manager or task.team_id in scope.team_ids)
        and scope.sees_site(task.site_id)
    )
