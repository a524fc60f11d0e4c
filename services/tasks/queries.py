"""Read-side queries over tasks, shared by the board and the sweeps."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from models import OPEN_STATUSES, Task


def open_tasks_for_user(session: Session, user_id: int, limit: int = 200) -> Sequence[Task]:
    """Return up to `limit` open tasks assigned to `user_id`, soonest due first,
    with site and SOP loaded (one query)."""
    query = (
        select(Task)
        .where(Task.assignee_id == user_id, Task.status.in_(OPEN_STATUSES))
        .options(joinedload(Task.site), joinedload(Task.sop))
        .order_by(Task.due_at, Task.id)
        .limit(limit)
    )
    return session.scalars(query).all()
