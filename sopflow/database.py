"""Database sessions outside a web request (flows, the CLI's long commands)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from sopflow.config import load_settings


def engine_options(url: str) -> dict[str, Any]:
    """Return the engine options sopflow uses for `url` (the web app uses them too)."""
    options: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        # Web workers, the scheduler and flow runs share one file: wait for a
        # lock rather than fail at once.
        options["connect_args"] = {"timeout": 30}
    return options


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """SQLite: write-ahead log (readers don't block the writer) and enforced foreign keys."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


@functools.cache
def engine_for(url: str) -> Engine:
    """Return the process's engine for `url` (one pool per process)."""
    return create_engine(url, **engine_options(url))


def default_engine() -> Engine:
    """Return the engine for the configured DATABASE_URL."""
    return engine_for(load_settings().database_url)


@contextmanager
def open_session(engine: Engine | None = None) -> Iterator[Session]:
    """Yield a session; roll back whatever was not committed, and close it."""
    session = Session(engine or default_engine())
    try:
        yield session
    finally:
        session.rollback()
        session.close()
