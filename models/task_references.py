"""The task table's references, checked once per statement on PostgreSQL.

A foreign key checks every inserted row with its own lookup and row lock: seven
of them made inserting a sweep's tens of thousands of tasks cost more than twice
the rows and indexes themselves (bench/sweep.py). On PostgreSQL those seven
constraints are replaced (migration 0006) by triggers that keep their
guarantees, set-wise:

- after an INSERT statement, the distinct referenced rows of all new tasks (a
  sweep's thousands of tasks name a handful of sites, teams, people, one SOP
  version and one run) are locked FOR KEY SHARE, as a foreign key locks them, so
  a concurrent delete waits; a reference to a missing row fails the statement;
- after an UPDATE that changes a reference, that row is checked the same way;
- deleting (or renumbering) a row that a task references fails, as NO ACTION does.

Under READ COMMITTED, PostgreSQL's default and the app's, this is what the
foreign keys enforced (a concurrent delete either waits for the insert and then
sees the task, or commits first and the insert's check no longer finds the row).
The models keep declaring the foreign keys: SQLite enforces them, and the ORM
reads its joins from them. The schema-drift check skips them (`include_object`).
"""

from __future__ import annotations

from typing import Any

# task column -> the table it references (by id).
TASK_REFERENCES: dict[str, str] = {
    "sop_id": "sop",
    "sop_version_id": "sop_version",
    "run_id": "sop_run",
    "site_id": "site",
    "team_id": "team",
    "assignee_id": "user_account",
    "completed_by_id": "user_account",
}


def include_object(
    object_: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic's filter: leave task's foreign keys out of autogenerate comparisons (on
    PostgreSQL the triggers above enforce them; see tests/test_task_references.py)."""
    if type_ == "foreign_key_constraint" and object_.table is not None:
        columns = {column.name for column in object_.columns}
        if object_.table.name == "task" and columns and columns <= set(TASK_REFERENCES):
            return False
    return True


def _insert_check(column: str, parent: str) -> str:
    # `ids_<column>` holds the column's distinct non-null values (see `inserted_function`).
    ids = f"ids_{column}"
    return f"""
    IF {ids} IS NOT NULL THEN
        SELECT array_agg(id) INTO found
          FROM (SELECT id FROM {parent} WHERE id = ANY({ids}) FOR KEY SHARE) AS locked;
        IF cardinality({ids}) <> coalesce(cardinality(found), 0) THEN
            SELECT min(x) INTO missing
              FROM unnest({ids}) AS x WHERE x <> ALL(coalesce(found, '{{}}'));
            RAISE EXCEPTION 'task.{column} = % names no row of {parent}', missing
                USING ERRCODE = 'foreign_key_violation';
        END IF;
    END IF;"""


def inserted_function() -> str:
    """The SQL of the function behind the INSERT trigger: every column's distinct values
    gathered in one pass over the new rows, then each parent table checked and locked."""
    declared = "".join(f"\n    ids_{column} integer[];" for column in TASK_REFERENCES)
    gathered = ",\n           ".join(
        f"array_agg(DISTINCT {column}) FILTER (WHERE {column} IS NOT NULL)"
        for column in TASK_REFERENCES
    )
    targets = ", ".join(f"ids_{column}" for column in TASK_REFERENCES)
    checks = "".join(_insert_check(c, p) for c, p in TASK_REFERENCES.items())
    return f"""CREATE OR REPLACE FUNCTION task_references_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE{declared}
    found integer[];
    missing integer;
BEGIN
    SELECT {gathered}
      INTO {targets}
      FROM new_rows;{checks}
    RETURN NULL;
END $$"""


def _update_check(column: str, parent: str) -> str:
    return f"""
    IF NEW.{column} IS NOT NULL AND NEW.{column} IS DISTINCT FROM OLD.{column} THEN
        PERFORM 1 FROM {parent} WHERE id = NEW.{column} FOR KEY SHARE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'task.{column} = % names no row of {parent}', NEW.{column}
                USING ERRCODE = 'foreign_key_violation';
        END IF;
    END IF;"""


def _parent_triggers() -> list[tuple[str, str, str]]:
    """(trigger name, parent table, task column) for every reference."""
    return [(f"task_ref_{column}", parent, column) for column, parent in TASK_REFERENCES.items()]


def create_statements() -> list[str]:
    """The SQL that installs the checks (PostgreSQL)."""
    updated = "".join(_update_check(c, p) for c, p in TASK_REFERENCES.items())
    columns = ", ".join(TASK_REFERENCES)
    statements = [
        inserted_function(),
        "CREATE TRIGGER task_references_inserted AFTER INSERT ON task "
        "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION task_references_inserted()",
        f"""CREATE FUNCTION task_references_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN{updated}
    RETURN NULL;
END $$""",
        f"CREATE TRIGGER task_references_updated AFTER UPDATE OF {columns} ON task "
        "FOR EACH ROW EXECUTE FUNCTION task_references_updated()",
        """CREATE FUNCTION task_referenced_row_removed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE used integer;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT 1 FROM task WHERE %I = $1 LIMIT 1', TG_ARGV[0]) INTO used USING OLD.id;
    IF used IS NOT NULL THEN
        RAISE EXCEPTION '% of %.id = % is still referenced by task.%',
            lower(TG_OP), TG_TABLE_NAME, OLD.id, TG_ARGV[0]
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$""",
    ]
    for name, parent, column in _parent_triggers():
        statements.append(
            f"CREATE TRIGGER {name} AFTER DELETE OR UPDATE OF id ON {parent} "
            f"FOR EACH ROW EXECUTE FUNCTION task_referenced_row_removed('{column}')"
        )
    return statements


def drop_statements() -> list[str]:
    """The SQL that removes the checks (PostgreSQL)."""
    statements = [
        f"DROP TRIGGER IF EXISTS {name} ON {parent}" for name, parent, _ in _parent_triggers()
    ]
    return [
        *statements,
        "DROP TRIGGER IF EXISTS task_references_inserted ON task",
        "DROP TRIGGER IF EXISTS task_references_updated ON task",
        "DROP FUNCTION IF EXISTS task_references_inserted()",
        "DROP FUNCTION IF EXISTS task_references_updated()",
        "DROP FUNCTION IF EXISTS task_referenced_row_removed()",
    ]


def foreign_key_name(column: str) -> str:
    """The constraint name the naming convention gave task's foreign key on `column`."""
    return f"fk_task_{column}_{TASK_REFERENCES[column]}"
