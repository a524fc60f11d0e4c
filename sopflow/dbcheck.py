"""Is the database at the newest migration? Commands that write data ask first."""

from __future__ import annotations

import click
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from sopflow.config import PROJECT_ROOT


def head_revision() -> str:
    """Return the newest revision id in `migrations/versions`."""
    script = ScriptDirectory(str(PROJECT_ROOT / "migrations"))
    head = script.get_current_head()
    assert head is not None, "migrations/versions holds no revision"
    return head


def current_revision(engine: Engine) -> str | None:
    """Return the revision the database is at, or None for an unmigrated database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def require_current_schema(engine: Engine) -> None:
    """Raise a ClickException telling the user to migrate unless the database is current."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        state = "has no schema yet" if current is None else f"is at migration {current}"
        raise click.ClickException(
            f"the database {state}; the code needs {head}. Run: sopflow db upgrade"
        )
