"""Domain events: "a disposal was logged", "an inspection was scheduled".

Services announce an event with `emit`; it is dispatched only after the
transaction that caused it commits (a rolled-back change announces nothing).
Who listens is installed by the process: the Prefect integration starts the
SOP deployments that declare the event; without one, the default listener
runs those SOPs in-process for the one subject.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

KNOWN_EVENTS = (
    "disposal.logged",
    "inspection.scheduled",
    "document.expiring",
    "patient.changed",
    "physician.changed",
)


@dataclass(frozen=True)
class DomainEvent:
    """An event name and the id of the subject it is about."""

    name: str
    subject_id: int


# Called with the event and the engine of the session that committed it.
Listener = Callable[[DomainEvent, Engine], None]
_listeners: list[Listener] = []
_PENDING = "sopflow_pending_events"


def set_listener(listener: Listener) -> None:
    """Make `listener` the one that receives events (replacing any before it)."""
    _listeners[:] = [listener]


def listener() -> Listener | None:
    return _listeners[0] if _listeners else None


def emit(session: Session, name: str, subject_id: int) -> None:
    """Queue an event; it is dispatched when `session` commits."""
    if name not in KNOWN_EVENTS:
        raise ValueError(f"unknown event {name!r}")
    session.info.setdefault(_PENDING, []).append(DomainEvent(name, subject_id))


@event.listens_for(Session, "after_commit")
def _dispatch(session: Session) -> None:
    pending: list[DomainEvent] = session.info.pop(_PENDING, [])
    for domain_event in pending:
        target = listener()
        if target is None:
            log.info(
                "event %s for subject %s: no listener", domain_event.name, domain_event.subject_id
            )
            continue
        try:
            target(domain_event, session.get_bind())
        except Exception:  # an event must never undo or break the change that caused it
            log.exception(
                "event %s for subject %s failed", domain_event.name, domain_event.subject_id
            )


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)


def pending(session: Session) -> list[Any]:
    """Return the events queued on `session` (for tests and diagnostics)."""
    return list(session.info.get(_PENDING, []))
