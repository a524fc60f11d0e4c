"""The migrations build exactly the models' schema, on SQLite and on PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from models import db
from models.task_references import include_object
from models.tasks import TASK_IDENTITY
from sopflow.dbcheck import current_revision, head_revision


def test_upgrade_gives_the_models_schema(database_url: str) -> None:
    # `database_url` was built by running every migration on an empty database.
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={
                    "compare_type": True,
                    "compare_server_default": False,
                    "include_object": include_object,
                },
            )
            diff = compare_metadata(context, db.metadata)
        assert diff == [], f"models and migrations differ: {diff}"
        assert current_revision(engine) == head_revision()
        tables = set(inspect(engine).get_table_names())
        assert set(db.metadata.tables) <= tables
    finally:
        engine.dispose()


def test_task_identity_is_unique_in_the_database(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        uniques = inspect(engine).get_unique_constraints("task")
        indexes = inspect(engine).get_indexes("task")
        unique_columns = [u["column_names"] for u in uniques] + [
            i["column_names"] for i in indexes if i.get("unique")
        ]
        assert list(TASK_IDENTITY) in unique_columns
    finally:
        engine.dispose()
