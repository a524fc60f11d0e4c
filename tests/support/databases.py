"""Test databases: where PostgreSQL is, how to build a migrated one, how to empty it."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError

from sopflow.config import database_url as normalise_url

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


def postgres_url_or_skip(suffix: str | None = None) -> str:
    """Return the PostgreSQL test URL (its database name suffixed per xdist worker).

    Skips the test when no server is configured or reachable; under
    REQUIRE_POSTGRES=1 fails instead, so CI cannot pass without PostgreSQL.
    """
    raw = os.environ.get("SOPFLOW_TEST_DATABASE_URL", "")
    required = os.environ.get("REQUIRE_POSTGRES") == "1"
    if not raw:
        if required:
            pytest.fail("REQUIRE_POSTGRES=1 but SOPFLOW_TEST_DATABASE_URL is not set")
        pytest.skip("PostgreSQL tests need SOPFLOW_TEST_DATABASE_URL")
    url = make_url(normalise_url(raw))
    if suffix:
        url = url.set(database=f"{url.database}_{suffix}")
    try:
        _create_database_if_missing(url.render_as_string(hide_password=False))
    except OperationalError as exc:
        message = f"PostgreSQL at {url.host}:{url.port} is unreachable: {exc.orig}"
        if required:
            pytest.fail(message)
        pytest.skip(message)
    return url.render_as_string(hide_password=False)


def _create_database_if_missing(url: str) -> None:
    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            exists = connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"),
                {"name": target.database},
            )
            if not exists:
                connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    finally:
        admin.dispose()


def reset_database(url: str) -> None:
    """Drop every table (and Alembic's version row) so the database is empty."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
            else:
                names = connection.scalars(
                    text("SELECT name FROM sqlite_master WHERE type='table'")
                ).all()
                for name in names:
                    if not name.startswith("sqlite_"):
                        connection.execute(text(f'DROP TABLE IF EXISTS "{name}"'))
    finally:
        engine.dispose()


def upgrade_database(url: str) -> None:
    """Run every migration on `url` through Flask-Migrate, as `sopflow db upgrade` does."""
    from flask_migrate import upgrade

    from webapp import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with app.app_context():
        from models import db

        upgrade()
        db.session.remove()
        db.engine.dispose()


def prepare_database(url: str) -> None:
    """Make `url` an empty database at the newest migration."""
    reset_database(url)
    upgrade_database(url)


def clear_database(engine: Engine) -> None:
    """Delete every row of every table except Alembic's, restarting ids."""
    from models import db

    tables = [t for t in reversed(db.metadata.sorted_tables)]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(table.delete())
