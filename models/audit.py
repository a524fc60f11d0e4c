"""The append-only audit trail and the one mechanism that writes it.

Every ORM create, update and delete of a class that inherits `Audited` is
recorded by a session hook, so no view or flow has to remember to do it.
Set-based writes that bypass the ORM (the engine's bulk inserts) call
`record_bulk` with the ids they wrote. The actor comes from a context
variable that the web request or the flow sets with `acting_as`.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, event, insert, inspect
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import UTCDateTime, db, utcnow


@dataclass(frozen=True)
class Actor:
    """Who is acting: a signed-in user, or a labelled system process."""

    user_id: int | None
    label: str


SYSTEM = Actor(None, "system")
_current_actor: ContextVar[Actor] = ContextVar("sopflow_actor", default=SYSTEM)


def current_actor() -> Actor:
    """Return the actor that audit events are attributed to right now."""
    return _current_actor.get()


@contextlib.contextmanager
def acting_as(actor: Actor) -> Iterator[Actor]:
    """Attribute every audited change inside the block to `actor`."""
    token = _current_actor.set(actor)
    try:
        yield actor
    finally:
        _current_actor.reset(token)


def set_actor(actor: Actor) -> None:
    """Attribute audited changes in this context to `actor` (per web request)."""
    _current_actor.set(actor)


class AuditEvent(db.Model):
    """One recorded change: who, what, when, before and after. Never updated or deleted."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_entity", "entity_type", "entity_id"),
        Index("ix_audit_event_actor_at", "actor_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    actor_label: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(40))  # create / update / delete / login / ...
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Audited:
    """Mixin: the session hook records every change to rows of this class.

    `__audit_exclude__` names columns never copied into the trail (secrets).
    """

    __audit_exclude__: frozenset[str] = frozenset()


class AuditImmutableError(Exception):
    """Raised on an attempt to change or delete a recorded audit event."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _columns(obj: Any) -> Iterable[Any]:
    mapper = inspect(obj).mapper
    exclude = type(obj).__audit_exclude__
    return [c for c in mapper.column_attrs if c.key not in exclude]


def _snapshot(obj: Any) -> dict[str, Any]:
    return {c.key: _jsonable(getattr(obj, c.key)) for c in _columns(obj)}


def _changes(obj: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    state = inspect(obj)
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for column in _columns(obj):
        history = state.attrs[column.key].history
        if not history.has_changes():
            continue
        old = history.deleted[0] if history.deleted else None
        new = history.added[0] if history.added else None
        if old == new:
            continue
        before[column.key] = _jsonable(old)
        after[column.key] = _jsonable(new)
    # Many-to-many links (a user's teams, a patient's caregivers) are changes too.
    for rel in state.mapper.relationships:
        if rel.secondary is None:
            continue
        history = state.attrs[rel.key].history
        if not history.has_changes():
            continue
        current = {_entity_id(o) for o in (history.unchanged or ())}
        before[rel.key] = sorted(current | {_entity_id(o) for o in history.deleted})
        after[rel.key] = sorted(current | {_entity_id(o) for o in history.added})
    return before, after


def _entity_id(obj: Any) -> str:
    # Not `identity`: a row inserted by this flush gets its identity key only later.
    key = inspect(obj).mapper.primary_key_from_instance(obj)
    return ",".join(str(v) for v in key)


def audit_row(
    action: str,
    entity_type: str,
    entity_id: Any,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    actor: Actor | None = None,
) -> dict[str, Any]:
    """Return the column values of one audit event (for `record` or a bulk insert)."""
    who = actor or current_actor()
    return {
        "at": utcnow(),
        "actor_id": who.user_id,
        "actor_label": who.label[:120],
        "action": action,
        "entity_type": entity_type,
        "entity_id": str(entity_id),
        "before": before,
        "after": after,
    }


def record(session: Session, action: str, entity_type: str, entity_id: Any, **values: Any) -> None:
    """Record an event that is not a row change (a sign-in, an export, a run started)."""
    session.execute(insert(AuditEvent), [audit_row(action, entity_type, entity_id, **values)])


def record_bulk(
    session: Session, action: str, entity_type: str, rows: Iterable[tuple[Any, dict[str, Any]]]
) -> int:
    """Record one event per (entity id, after-values) pair written outside the ORM.

    Returns how many events were written.
    """
    batch = [audit_row(action, entity_type, eid, after=after) for eid, after in rows]
    if batch:
        session.execute(insert(AuditEvent), batch)
    return len(batch)


def _keep_old_value(target: Any, value: Any, oldvalue: Any, initiator: Any) -> Any:
    return value


@event.listens_for(db.Model, "mapper_configured", propagate=True)
def _load_old_values_on_change(mapper: Any, cls: type) -> None:
    """Make audited columns load their old value before a change (active history),
    so an update of an expired row still knows its "before"."""
    if not issubclass(cls, Audited):
        return
    for column in mapper.column_attrs:
        event.listen(getattr(cls, column.key), "set", _keep_old_value, active_history=True)


@event.listens_for(Session, "after_flush")
def _write_audit_trail(session: Session, flush_context: Any) -> None:
    """Turn the flush's creates, updates and deletes of audited rows into events.

    Runs after the flush so new rows have their ids; writes with one Core
    insert on the same connection, inside the same transaction.
    """
    rows: list[dict[str, Any]] = []
    for obj in session.new:
        if isinstance(obj, Audited):
            rows.append(
                audit_row("create", obj.__tablename__, _entity_id(obj), None, _snapshot(obj))
            )
    for obj in session.dirty:
        if isinstance(obj, Audited) and session.is_modified(obj):
            before, after = _changes(obj)
            if after:
                rows.append(audit_row("update", obj.__tablename__, _entity_id(obj), before, after))
    for obj in session.deleted:
        if isinstance(obj, Audited):
            rows.append(
                audit_row("delete", obj.__tablename__, _entity_id(obj), _snapshot(obj), None)
            )
    if rows:
        session.connection().execute(insert(AuditEvent), rows)


@event.listens_for(Session, "before_flush")
def _forbid_audit_changes(session: Session, flush_context: Any, instances: Any) -> None:
    """Keep the trail append-only at the ORM level."""
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, AuditEvent):
            raise AuditImmutableError("audit events are append-only")
