"""Dialect-specific SQL the engine needs, behind dialect-neutral functions."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_ignore(
    bind: Session | str, table: Any, conflict_columns: list[str] | None = None
) -> Any:
    """Return `INSERT … ON CONFLICT DO NOTHING` for `table` on the dialect of `bind`
    (a session, or a dialect name).

    Both SQLite and PostgreSQL support it; the unique constraint, not a
    read-then-write, is what keeps concurrent writers from doubling rows.
    """
    dialect = bind if isinstance(bind, str) else bind.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing(index_elements=conflict_columns)
