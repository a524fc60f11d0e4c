"""Writing planned tasks: skip what exists, place the new ones, insert set-wise."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import String, Table, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from models import AuditEvent, Task, TaskStatus, current_actor
from models.audit import audit_row
from services.assignment import place_tasks, team_id_for
from services.engine.planner import PreparedSpec
from services.engine.sql import insert_ignore

TASK_TABLE: Table = Task.__table__  # type: ignore[assignment]
# Rows per statement: well under SQLite's 32,766 bound parameters (~25 columns a row).
CHUNK = 1000


def existing_keys(session: Session, keys: Sequence[str]) -> set[str]:
    """Return which of `keys` already have a task (one query per chunk).

    On PostgreSQL the keys travel as one array parameter (`= ANY(:keys)`): an IN
    list of thousands of placeholders costs more to build than to run.
    """
    found: set[str] = set()
    postgres = session.get_bind().dialect.name == "postgresql"
    size = 10 * CHUNK if postgres else CHUNK
    for start in range(0, len(keys), size):
        chunk = list(keys[start : start + size])
        condition = (
            Task.dedup_key == any_(bindparam("keys", chunk, type_=ARRAY(String)))
            if postgres
            else Task.dedup_key.in_(chunk)
        )
        found.update(session.scalars(select(Task.dedup_key).where(condition)))
    return found


def _place(session: Session, prepared: PreparedSpec, rows: list[dict[str, Any]]) -> None:
    """Fill team_id / assignee_id of new rows, step by step (one placement call per step)."""
    owner_team = team_id_for(session, prepared.spec.owner_team)
    by_step: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["status"] == TaskStatus.SKIPPED.value:
            row["team_id"], row["assignee_id"] = owner_team, None
        else:
            by_step[row["step_id"]].append(row)
    for step_id, step_rows in by_step.items():
        rule = prepared.spec.assignment_for(prepared.steps[step_id].step)
        placements = place_tasks(session, rule, len(step_rows), prepared.spec.owner_team)
        for row, placement in zip(step_rows, placements, strict=True):
            row["team_id"] = placement.team_id
            row["assignee_id"] = placement.assignee_id


@functools.cache
def _insert_statement(dialect: str) -> Any:
    """The INSERT … ON CONFLICT DO NOTHING RETURNING for `dialect`, built once (and so
    compiled once: SQLAlchemy caches compiled statements by their structure)."""
    return insert_ignore(dialect, TASK_TABLE, ["dedup_key"]).returning(
        TASK_TABLE.c.id, TASK_TABLE.c.dedup_key
    )


# The columns a planned row carries, in COPY order.
COPY_COLUMNS = (
    "dedup_key",
    "title",
    "description",
    "sop_id",
    "sop_version_id",
    "step_id",
    "run_id",
    "subject_type",
    "subject_id",
    "subject_ref",
    "cycle",
    "site_id",
    "team_id",
    "assignee_id",
    "status",
    "priority",
    "starts_at",
    "due_on",
    "due_at",
    "cancel_reason",
    "escalation_level",
    "evidence_required",
    "approval_role",
    "revision",
    "created_at",
    "updated_at",
)
_COLUMN_LIST = ", ".join(COPY_COLUMNS)


def _insert_via_copy(connection: Any, rows: list[dict[str, Any]]) -> dict[str, int]:
    """PostgreSQL: COPY the rows into a temporary staging table, then one
    INSERT … SELECT … ON CONFLICT (dedup_key) DO NOTHING RETURNING; return {key: id}.

    A multi-row VALUES insert of thousands of rows spends most of its time in the
    driver turning placeholders into SQL; COPY streams them, and the RETURNING of
    the INSERT … SELECT names exactly the rows this call created.
    """
    connection.exec_driver_sql(
        f"CREATE TEMP TABLE IF NOT EXISTS task_staging AS SELECT {_COLUMN_LIST} FROM task "
        "WITH NO DATA"
    )
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        with cursor.copy(f"COPY task_staging ({_COLUMN_LIST}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(tuple(row.get(column) for column in COPY_COLUMNS))
        cursor.execute(
            f"INSERT INTO task ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} FROM task_staging "
            "ON CONFLICT (dedup_key) DO NOTHING RETURNING id, dedup_key"
        )
        ids = {key: task_id for task_id, key in cursor.fetchall()}
        cursor.execute("TRUNCATE task_staging")
    finally:
        cursor.close()
    return ids


def write_tasks(
    session: Session, prepared: PreparedSpec, rows: list[dict[str, Any]], checked: bool = False
) -> tuple[list[dict[str, Any]], int]:
    """Insert the rows whose dedup key is new; return (inserted rows with ids, how many existed).

    The read of existing keys keeps reruns cheap and round-robin turns fair; the
    INSERT … ON CONFLICT DO NOTHING is what makes two concurrent runs safe.
    One audit event per call lists every task id it created. `checked`: the
    caller has just filtered out the existing keys itself.
    """
    if not rows:
        return [], 0
    present = set() if checked else existing_keys(session, [r["dedup_key"] for r in rows])
    new_rows = [r for r in rows if r["dedup_key"] not in present]
    if not new_rows:
        return [], len(rows)
    _place(session, prepared, new_rows)
    # Core on the session's connection: the ORM's bulk path costs several times more.
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        ids = _insert_via_copy(connection, new_rows)
    else:
        statement = _insert_statement(connection.dialect.name)
        ids = {}
        for start in range(0, len(new_rows), CHUNK):
            result = connection.execute(statement, new_rows[start : start + CHUNK])
            ids.update((key, task_id) for task_id, key in result)
    inserted = []
    for row in new_rows:
        if row["dedup_key"] in ids:
            row["id"] = ids[row["dedup_key"]]
            inserted.append(row)
    if inserted:
        after = {
            "sop_version_id": inserted[0]["sop_version_id"],
            "run_id": inserted[0]["run_id"],
            "task_ids": [r["id"] for r in inserted],
        }
        entity = f"run:{inserted[0]['run_id']}" if inserted[0]["run_id"] else "completion"
        event = audit_row("bulk_create", "task", entity, after=after, actor=current_actor())
        connection.execute(AuditEvent.__table__.insert(), [event])
    return inserted, len(rows) - len(inserted)
