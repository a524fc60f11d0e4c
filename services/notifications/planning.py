"""Deciding who is told what: notifications from escalation events, and morning digests.

Planning only writes `notification` rows (status queued); `delivery` sends
them. Every row has a dedup key and is written with INSERT … ON CONFLICT DO
NOTHING, so planning twice (a rerun, two workers at once) plans nothing new.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from models import (
    Notification,
    NotificationKind,
    NotificationStatus,
    Role,
    Task,
    TaskEvent,
    User,
    open_work,
    team_members,
)
from services.engine.sql import insert_ignore

# TaskEvent kinds the escalation sweep writes, and the notification each becomes.
EVENT_KINDS = {
    "warned": NotificationKind.WARNING,
    "reminded": NotificationKind.OVERDUE,
    "escalated": NotificationKind.ESCALATION,
}
# Events older than this are not looked at: a sweep runs every 15 minutes.
EVENT_LOOKBACK = timedelta(days=3)
DIGEST_IDS_KEPT = 100  # task ids stored per digest section (the total is stored too)
NEW_SINCE_DEFAULT = timedelta(hours=24)


class Audience:
    """Active users by team and role, looked up once per planning run."""

    def __init__(self, session: Session) -> None:
        self.session = session
        rows = session.execute(select(User.id, User.role).where(User.active.is_(True))).all()
        self.roles: dict[int, Role] = {user_id: role for user_id, role in rows}
        self._teams: dict[int, list[int]] = {}

    def active(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.roles

    def team(self, team_id: int | None) -> list[int]:
        """Return the active members of a team, by id."""
        if team_id is None:
            return []
        if team_id not in self._teams:
            query = select(team_members.c.user_id).where(team_members.c.team_id == team_id)
            self._teams[team_id] = sorted(u for u in self.session.scalars(query) if self.active(u))
        return self._teams[team_id]

    def with_role(self, role: Role) -> list[int]:
        return sorted(u for u, r in self.roles.items() if r is role)

    def managers(self, team_id: int | None) -> list[int]:
        """Return the team's managers; when the team has none, every active manager."""
        own = [u for u in self.team(team_id) if self.roles[u] is Role.MANAGER]
        return own or self.with_role(Role.MANAGER)


def _event_recipients(audience: Audience, kind: str, detail: dict[str, Any], task: Any) -> set[int]:
    """Return who hears of one event: the assignee (else the team's queue) for warnings and
    reminders; the rung's `notify` list, plus the new assignee, for an escalation."""
    if kind != "escalated":
        if audience.active(task.assignee_id):
            return {task.assignee_id}
        return set(audience.team(task.team_id))
    users: set[int] = set()
    for target in detail.get("notify") or []:
        if target == "assignee":
            previous = detail.get("from_assignee_id", task.assignee_id)
            users.update([previous] if audience.active(previous) else [])
        elif target == "team":
            users.update(audience.team(task.team_id))
        elif target == "managers":
            users.update(audience.managers(task.team_id))
        elif target == "admins":
            users.update(audience.with_role(Role.ADMIN))
    new_assignee = detail.get("to_assignee_id")
    if audience.active(new_assignee):
        users.add(new_assignee)
    return users


def _insert(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert the rows whose dedup key is new; return how many were inserted."""
    if not rows:
        return 0
    statement = insert_ignore(session, Notification.__table__, ["dedup_key"]).returning(
        Notification.__table__.c.id
    )
    inserted = 0
    for start in range(0, len(rows), 500):
        inserted += len(session.execute(statement, rows[start : start + 500]).all())
    return inserted


def plan_event_notices(session: Session, now: datetime) -> int:
    """Queue a notification per recipient of every recent warned/reminded/escalated event
    not yet planned; return how many were queued.

    An event nobody can be told of (no active assignee, an empty team) is recorded
    as a suppressed notification without recipient, so it is decided once.
    """
    planned = exists().where(Notification.task_event_id == TaskEvent.id)
    query = (
        select(TaskEvent, Task)
        .join(Task, Task.id == TaskEvent.task_id)
        .where(TaskEvent.kind.in_(EVENT_KINDS), TaskEvent.at >= now - EVENT_LOOKBACK, ~planned)
        .order_by(TaskEvent.id)
    )
    audience = Audience(session)
    rows: list[dict[str, Any]] = []
    for event, task in session.execute(query):
        detail = event.detail or {}
        kind = EVENT_KINDS[event.kind]
        base = {
            "kind": kind.value,
            "task_id": task.id,
            "task_event_id": event.id,
            "payload": {"level": detail.get("level"), "to": detail.get("to_assignee_id")},
            "attempts": 0,
            "created_at": now,
        }
        users = _event_recipients(audience, event.kind, detail, task)
        for user_id in sorted(users):
            rows.append(
                base
                | {
                    "dedup_key": f"event:{event.id}:user:{user_id}",
                    "recipient_id": user_id,
                    "status": NotificationStatus.QUEUED.value,
                    "channel": "email",
                }
            )
        if not users:
            rows.append(
                base
                | {
                    "dedup_key": f"event:{event.id}:nobody",
                    "recipient_id": None,
                    "status": NotificationStatus.SUPPRESSED.value,
                    "channel": "email",
                    "last_error": "nobody active to tell",
                }
            )
    return _insert(session, rows)


def _last_digests(session: Session, user_ids: Iterable[int]) -> dict[int, datetime]:
    query = (
        select(Notification.recipient_id, Notification.created_at)
        .where(
            Notification.kind == NotificationKind.DIGEST,
            Notification.recipient_id.in_(list(user_ids)),
        )
        .order_by(Notification.created_at)
    )
    return {user_id: at for user_id, at in session.execute(query)}


def digest_sections(
    session: Session, user_ids: list[int], day: date, now: datetime
) -> dict[int, dict[str, list[int]]]:
    """Return {user: {"due_today": ids, "overdue": ids, "new": ids}} for the users' open
    tasks: due on `day`, past their deadline, or assigned since their last digest."""
    last = _last_digests(session, user_ids)
    since = {u: last.get(u, now - NEW_SINCE_DEFAULT) for u in user_ids}
    earliest = min(since.values(), default=now)
    query = (
        select(Task.id, Task.assignee_id, Task.due_on, Task.due_at, Task.created_at)
        .where(
            Task.assignee_id.in_(user_ids),
            open_work(),
            (Task.due_on <= day) | (Task.created_at >= earliest),
        )
        .order_by(Task.due_at, Task.id)
    )
    sections: dict[int, dict[str, list[int]]] = defaultdict(
        lambda: {"due_today": [], "overdue": [], "new": []}
    )
    for task_id, user_id, due_on, due_at, created_at in session.execute(query):
        mine = sections[user_id]
        if due_at <= now:
            mine["overdue"].append(task_id)
        elif due_on == day:
            mine["due_today"].append(task_id)
        if created_at >= since[user_id]:
            mine["new"].append(task_id)
    # Escalations that handed a task to someone are new assignments too.
    handed = select(TaskEvent.task_id, TaskEvent.detail, TaskEvent.at).where(
        TaskEvent.kind == "escalated", TaskEvent.at >= earliest
    )
    for task_id, detail, at in session.execute(handed):
        user_id = (detail or {}).get("to_assignee_id")
        if user_id in since and at >= since[user_id] and task_id not in sections[user_id]["new"]:
            sections[user_id]["new"].append(task_id)
    return dict(sections)


def plan_digests(session: Session, now: datetime, day: date) -> int:
    """Queue the digest of `day` for every active user who has not opted out and has
    something due, overdue or new; return how many were queued (0 on a rerun)."""
    user_ids = list(
        session.scalars(
            select(User.id).where(User.active.is_(True), User.digest_opt_out.is_(False))
        )
    )
    if not user_ids:
        return 0
    rows = []
    for user_id, sections in sorted(digest_sections(session, user_ids, day, now).items()):
        if not any(sections.values()):
            continue
        payload: dict[str, Any] = {"day": day.isoformat()}
        for key, ids in sections.items():
            payload[key] = ids[:DIGEST_IDS_KEPT]
            payload[f"{key}_total"] = len(ids)
        rows.append(
            {
                "dedup_key": f"digest:{user_id}:{day.isoformat()}",
                "kind": NotificationKind.DIGEST.value,
                "status": NotificationStatus.QUEUED.value,
                "channel": "email",
                "recipient_id": user_id,
                "payload": payload,
                "attempts": 0,
                "created_at": now,
            }
        )
    return _insert(session, rows)
