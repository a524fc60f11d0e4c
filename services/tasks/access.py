"""Who sees and who works which task.

A VA sees the tasks assigned to them, the ones they completed, and the
unassigned tasks of their teams at their teams' sites (the `team_site`
table); managers and admins see everything. Every read of a task by id goes
through `visible_task`, so another user's task id in a URL finds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, and_, bindparam, false, or_, select, true
from sqlalchemy.orm import Session, joinedload

from models import Role, Task, User, team_members, team_sites

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
    session: Session,
    scope: Scope,
    task_id: int,
    *,
    lock: bool = False,
    with_sop: bool = False,
    with_checklist: bool = False,
) -> Task:
    """Return the task if the scope may see it; raise TaskNotVisible otherwise.

    `lock` takes a row lock until the transaction ends (actions); `with_sop` loads the
    task's SOP and version, `with_checklist` its checklist, in the same query
    (completing needs all three)."""
    query = _task_by_id(scope, lock, with_sop, with_checklist)
    # unique(): a joined collection repeats the task's row once per checklist item.
    task = session.execute(query, {"visible_task_id": task_id}).unique().scalar_one_or_none()
    if task is None:
        raise TaskNotVisible(task_id)
    return task


# `visible_task`'s statements by scope and options: building one (and its cache key)
# cost more than running it. Cleared when full: rebuilding is cheap.
_TASK_BY_ID: dict[tuple[object, ...], Select[tuple[Task]]] = {}
_TASK_BY_ID_MAX = 1024


def _task_by_id(
    scope: Scope, lock: bool, with_sop: bool, with_checklist: bool
) -> Select[tuple[Task]]:
    """Return the SELECT of the task :visible_task_id if the scope may see it, with the
    options of `visible_task`; built once per scope (its visibility) and options."""
    visibility = (scope.user_id, scope.role, scope.team_ids, scope.site_ids)
    key = (*visibility, lock, with_sop, with_checklist)
    query = _TASK_BY_ID.get(key)
    if query is not None:
        return query
    query = select(Task).where(Task.id == bindparam("visible_task_id"), visible_clause(scope))
    if with_sop:
        # The version's own SOP is the task's: `version.sop` finds it in the identity
        # map, so it is not joined a second time.
        query = query.options(
            joinedload(Task.sop, innerjoin=True), joinedload(Task.sop_version, innerjoin=True)
        )
    if with_checklist:
        query = query.options(joinedload(Task.checklist))
    if lock:
        query = query.with_for_update(of=Task)
    if len(_TASK_BY_ID) >= _TASK_BY_ID_MAX:
        _TASK_BY_ID.clear()
    _TASK_BY_ID[key] = query
    return query


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
