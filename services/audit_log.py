"""Reading the audit trail: filtered pages for the audit view, and CSV export.

Exports are themselves recorded (`record`), so the trail shows who took a copy
of what.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from models import Audited, AuditEvent, User, db, record

PAGE_SIZE = 50
EXPORT_COLUMNS = (
    "id",
    "at",
    "actor_id",
    "actor_label",
    "action",
    "entity_type",
    "entity_id",
    "before",
    "after",
)
# Spreadsheet formula prefixes: a cell starting with one is written with a leading quote.
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class AuditFilter:
    """What the audit view is narrowed to; empty values mean "any". Dates are UTC days."""

    actor_id: int | None = None
    entity_type: str = ""
    entity_id: str = ""
    action: str = ""
    date_from: date | None = None
    date_to: date | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the filter as JSON-ready values (for the export's own audit event)."""
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(self).items()}


def entity_types() -> list[str]:
    """Return the audited table names plus the non-row subjects of `record` events."""
    names = {
        mapper.class_.__tablename__
        for mapper in db.Model.registry.mappers
        if issubclass(mapper.class_, Audited)
    }
    return sorted(names | {"audit_event", "sop_run"})


ACTIONS = ("create", "update", "delete", "bulk_create", "login", "export")


def _clauses(flt: AuditFilter) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if flt.actor_id is not None:
        clauses.append(AuditEvent.actor_id == flt.actor_id)
    if flt.entity_type:
        clauses.append(AuditEvent.entity_type == flt.entity_type)
    if flt.entity_id:
        clauses.append(AuditEvent.entity_id == flt.entity_id)
    if flt.action:
        clauses.append(AuditEvent.action == flt.action)
    if flt.date_from is not None:
        clauses.append(AuditEvent.at >= datetime.combine(flt.date_from, time(), UTC))
    if flt.date_to is not None:
        end = datetime.combine(flt.date_to + timedelta(days=1), time(), UTC)
        clauses.append(AuditEvent.at < end)
    return clauses


def audit_page(
    session: Session, flt: AuditFilter, before_id: int | None = None, limit: int = PAGE_SIZE
) -> tuple[Sequence[AuditEvent], int | None]:
    """Return a page of events, newest first, and the id to continue before (or None)."""
    query = select(AuditEvent).where(*_clauses(flt)).order_by(AuditEvent.id.desc())
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    events = session.scalars(query.limit(limit + 1)).all()
    more = len(events) > limit
    events = events[:limit]
    return events, (events[-1].id if more and events else None)


def actors(session: Session) -> Sequence[User]:
    """Return every user, by name (filter choices)."""
    return session.scalars(select(User).order_by(User.name, User.id)).all()


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        value = json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, datetime):
        value = value.isoformat()
    if isinstance(value, str) and value.startswith(_FORMULA):
        value = "'" + value
    return value


def export_csv(session: Session, flt: AuditFilter, batch: int = 1000) -> Iterator[str]:
    """Yield the filtered events as CSV text (header first), oldest first, in batches
    (keyset on id: memory stays flat however long the trail is)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    last_id = 0
    while True:
        # Plain rows, not ORM objects: nothing accumulates in the session's identity map.
        query = (
            select(*(getattr(AuditEvent, column) for column in EXPORT_COLUMNS))
            .where(*_clauses(flt), AuditEvent.id > last_id)
            .order_by(AuditEvent.id)
            .limit(batch)
        )
        rows = session.execute(query).all()
        for row in rows:
            writer.writerow([_cell(value) for value in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(rows) < batch:
            return
        last_id = rows[-1].id


def record_export(session: Session, flt: AuditFilter) -> None:
    """Record that the filtered trail was exported (the caller commits)."""
    record(session, "export", "audit_event", "csv", after={"filters": flt.as_dict()})
