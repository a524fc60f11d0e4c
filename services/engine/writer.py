"""Writing planned tasks: skip what exists, place the new ones, insert set-wise."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, select, text
from sqlalchemy.orm import Session

from models import AuditEvent, Task, TaskStatus, current_actor
from models.audit import audit_row
from models.tasks import TASK_IDENTITY
from services.assignment import place_tasks, team_id_for
from services.engine.planner import Identity, PreparedSpec, as_identity, identity_of
from services.engine.sql import insert_ignore

TASK_TABLE: Table = Task.__table__  # type: ignore[assignment]
# Rows per statement: well under SQLite's 32,766 bound parameters (~25 columns a row).
CHUNK = 1000
# PostgreSQL: from this many rows on, COPY through a staging table beats one INSERT per
# row (measured on the bench's 200k tasks: 1 row 0.8 vs 2.0 ms, 3 rows about even, 8 rows
# 4.0 vs 1.9 ms).
COPY_MIN_ROWS = 3


_IDENTITY = ", ".join(TASK_IDENTITY)
_IDENTITY_COLUMNS = [TASK_TABLE.c[name] for name in TASK_IDENTITY]
# Built once (a completion asks for one identity: building the statement cost as much
# as running it). The identities travel as one array a column, joined to the unique
# index: an IN list of thousands of row values costs more to build than to run.
_EXISTING_PG = text(
    f"SELECT {_IDENTITY} FROM task JOIN unnest(CAST(:subject_ids AS integer[]), "
    "CAST(:kinds AS text[]), CAST(:sop_ids AS integer[]), CAST(:step_ids AS text[]), "
    f"CAST(:cycles AS text[])) AS wanted ({_IDENTITY}) USING ({_IDENTITY})"
)
_ARRAYS = ("subject_ids", "kinds", "sop_ids", "step_ids", "cycles")
_INSERT_AUDIT = AuditEvent.__table__.insert()


def existing_identities(session: Session, identities: Sequence[Identity]) -> set[Identity]:
    """Return which of `identities` already have a task (one query per chunk)."""
    if session.get_bind().dialect.name == "postgresql":
        found: set[Identity] = set()
        for start in range(0, len(identities), 10 * CHUNK):
            chunk = identities[start : start + 10 * CHUNK]
            columns = dict(zip(_ARRAYS, zip(*chunk, strict=True), strict=True))
            rows = session.execute(_EXISTING_PG, {k: list(v) for k, v in columns.items()})
            found.update(as_identity(row) for row in rows)
        return found
    # SQLite: by subject, the constraint's first column (a list of row values would
    # be read row by row), keeping only the identities asked for.
    wanted = set(identities)
    by_owner: dict[tuple[str, int], list[int]] = defaultdict(list)
    for subject_id, kind, sop_id, _, _ in wanted:
        by_owner[(kind, sop_id)].append(subject_id)
    table = TASK_TABLE.c
    found = set()
    for (kind, sop_id), subject_ids in by_owner.items():
        ids = sorted(set(subject_ids))
        for start in range(0, len(ids), CHUNK):
            query = select(table.subject_id, table.step_id, table.cycle).where(
                table.subject_id.in_(ids[start : start + CHUNK]),
                table.subject_type == kind,
                table.sop_id == sop_id,
            )
            for subject_id, step_id, cycle in session.execute(query):
                key = (subject_id, kind, sop_id, step_id, cycle)
                if key in wanted:
                    found.add(key)
    return found


def _place(session: Session, prepared: PreparedSpec, rows: list[dict[str, Any]]) -> None:
    """Fill team_id / assignee_id of new rows, step by step (one placement call per step)."""
    by_step: dict[str, list[dict[str, Any]]] = defaultdict(list)
    skipped: list[dict[str, Any]] = []
    for row in rows:
        if row["status"] == TaskStatus.SKIPPED.value:
            skipped.append(row)
        else:
            by_step[row["step_id"]].append(row)
    for step_id, step_rows in by_step.items():
        rule = prepared.spec.assignment_for(prepared.steps[step_id].step)
        placements = place_tasks(session, rule, len(step_rows), prepared.spec.owner_team)
        for row, placement in zip(step_rows, placements, strict=True):
            row["team_id"] = placement.team_id
            row["assignee_id"] = placement.assignee_id
    # After the placements: the owner team is usually the steps' team, whose id the
    # placement has just looked up (and remembered), so this costs no query.
    owner_team = team_id_for(session, prepared.spec.owner_team)
    for row in skipped:
        row["team_id"], row["assignee_id"] = owner_team, None


@functools.cache
def _insert_statement(dialect: str) -> Any:
    """The INSERT … ON CONFLICT DO NOTHING RETURNING for `dialect`, built once.

    SQLAlchemy 2.0 does not cache the compiled form of a dialect INSERT … ON CONFLICT,
    so each execution compiles it again: fine for SQLite's batches of CHUNK rows.
    """
    return insert_ignore(dialect, TASK_TABLE, list(TASK_IDENTITY)).returning(
        TASK_TABLE.c.id, *_IDENTITY_COLUMNS
    )


# The columns a planned row carries, in COPY order.
COPY_COLUMNS = (
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
_INSERT_ONE = (
    f"INSERT INTO task ({_COLUMN_LIST}) "
    f"VALUES ({', '.join(f'%({column})s' for column in COPY_COLUMNS)}) "
    f"ON CONFLICT ({_IDENTITY}) DO NOTHING RETURNING id, {_IDENTITY}"
)


def _insert_via_values(connection: Any, rows: list[dict[str, Any]]) -> dict[Identity, int]:
    """SQLite: INSERT … VALUES … ON CONFLICT DO NOTHING RETURNING, CHUNK rows per
    statement; return {identity: id} of the rows this call created."""
    statement = _insert_statement(connection.dialect.name)
    ids: dict[Identity, int] = {}
    for start in range(0, len(rows), CHUNK):
        result = connection.execute(statement, rows[start : start + CHUNK])
        ids.update((as_identity(row[1:]), row[0]) for row in result)
    return ids


def _insert_row_by_row(connection: Any, rows: list[dict[str, Any]]) -> dict[Identity, int]:
    """PostgreSQL, a few rows: one INSERT … ON CONFLICT DO NOTHING RETURNING per row;
    return {identity: id} of the rows this call created.

    A completion's one successor costs one round trip here, where the COPY path
    spends four (create the staging table, copy, insert, truncate). The statement's
    text is fixed, so psycopg parses it once and the server prepares it after a few
    uses; SQLAlchemy cannot cache a dialect INSERT … ON CONFLICT and would compile
    `_insert_statement` again on every call.
    """
    ids: dict[Identity, int] = {}
    for row in rows:
        values = {column: row.get(column) for column in COPY_COLUMNS}
        created = connection.exec_driver_sql(_INSERT_ONE, values).first()
        if created is not None:  # None: the task exists (a concurrent writer won)
            ids[as_identity(created[1:])] = created[0]
    return ids


def _insert_via_copy(connection: Any, rows: list[dict[str, Any]]) -> dict[Identity, int]:
    """PostgreSQL: COPY the rows into a temporary staging table, then one
    INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING; return {identity: id}.

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
            f"ON CONFLICT ({_IDENTITY}) DO NOTHING RETURNING id, {_IDENTITY}"
        )
        ids = {as_identity(row[1:]): row[0] for row in cursor.fetchall()}
        cursor.execute("TRUNCATE task_staging")
    finally:
        cursor.close()
    return ids


def write_tasks(
    session: Session, prepared: PreparedSpec, rows: list[dict[str, Any]], checked: bool = False
) -> tuple[list[dict[str, Any]], int]:
    """Insert the rows whose identity is new; return (inserted rows with ids, how many
    existed).

    The read of existing identities keeps reruns cheap and round-robin turns fair;
    the INSERT … ON CONFLICT DO NOTHING is what makes two concurrent runs safe.
    One audit event per call lists every task id it created. `checked`: the
    caller has just filtered out the existing identities itself.
    """
    if not rows:
        return [], 0
    present = set() if checked else existing_identities(session, [identity_of(r) for r in rows])
    new_rows = [r for r in rows if identity_of(r) not in present]
    if not new_rows:
        return [], len(rows)
    _place(session, prepared, new_rows)
    # Core on the session's connection: the ORM's bulk path costs several times more.
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        ids = _insert_via_values(connection, new_rows)
    elif len(new_rows) < COPY_MIN_ROWS:
        ids = _insert_row_by_row(connection, new_rows)
    else:
        ids = _insert_via_copy(connection, new_rows)
    inserted = []
    for row in new_rows:
        key = identity_of(row)
        if key in ids:
            row["id"] = ids[key]
            inserted.append(row)
    if inserted:
        after = {
            "sop_version_id": inserted[0]["sop_version_id"],
            "run_id": inserted[0]["run_id"],
            "task_ids": [r["id"] for r in inserted],
        }
        entity = f"run:{inserted[0]['run_id']}" if inserted[0]["run_id"] else "completion"
        event = audit_row("bulk_create", "task", entity, after=after, actor=current_actor())
        connection.execute(_INSERT_AUDIT, [event])
    return inserted, len(rows) - len(inserted)
