"""task indexes split into open work and history; reference checks in one pass

A sweep inserts tens of thousands of open tasks, and each index a new row enters
costs about a microsecond of every insert (bench/sweep.py). So:

- the three full (assignee | team |) status + deadline indexes become partial
  indexes over closed work (done, cancelled, skipped), which new open tasks never
  enter; open work keeps the board's partial indexes, and `ix_task_open_due`
  carries team, site and SOP so that team and site feeds and counts per SOP are
  checked in the index;
- `ix_task_sop_step` and `ix_task_site_id` go: a handful of SOPs and sites make
  them unselective, and every query that used them has a better index (the
  subject's, or the open/closed ones above);
- `ix_task_run_id` becomes a BRIN index on PostgreSQL (a run's tasks are appended
  together);
- the INSERT trigger's reference checks gather all seven columns in one pass over
  the new rows (models/task_references.py). Downgrading keeps that function: it
  enforces exactly what the one it replaced did.

Revision ID: 0007_open_closed_indexes
Revises: 0006_task_references
Create Date: 2026-12-05

"""

import sqlalchemy as sa
from alembic import op

from models.task_references import inserted_function

revision = "0007_open_closed_indexes"
down_revision = "0006_task_references"
branch_labels = None
depends_on = None

OPEN_WORK = "status IN ('open', 'in_progress', 'blocked')"
CLOSED_WORK = "status NOT IN ('open', 'in_progress', 'blocked')"


def _partial(where: str) -> dict:
    return {"postgresql_where": sa.text(where), "sqlite_where": sa.text(where)}


def upgrade():
    with op.batch_alter_table("task", schema=None) as batch_op:
        for name in (
            "ix_task_assignee_status_due",
            "ix_task_team_status_due",
            "ix_task_status_due",
            "ix_task_sop_step",
            "ix_task_site_id",
            "ix_task_run_id",
            "ix_task_open_due",
        ):
            batch_op.drop_index(name)
        batch_op.create_index("ix_task_run_id", ["run_id"], postgresql_using="brin")
        batch_op.create_index(
            "ix_task_open_due", ["due_at", "id", "team_id", "site_id", "sop_id"], **_partial(OPEN_WORK)
        )
        batch_op.create_index(
            "ix_task_closed_assignee",
            ["assignee_id", "status", "due_at", "id", "updated_at"],
            **_partial(CLOSED_WORK),
        )
        batch_op.create_index(
            "ix_task_closed_team", ["team_id", "status", "due_at", "id", "updated_at"], **_partial(CLOSED_WORK)
        )
        batch_op.create_index(
            "ix_task_closed_due",
            ["status", "due_at", "id", "site_id", "sop_id", "updated_at"],
            **_partial(CLOSED_WORK),
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(inserted_function())


def downgrade():
    with op.batch_alter_table("task", schema=None) as batch_op:
        for name in (
            "ix_task_closed_due",
            "ix_task_closed_team",
            "ix_task_closed_assignee",
            "ix_task_open_due",
            "ix_task_run_id",
        ):
            batch_op.drop_index(name)
        batch_op.create_index("ix_task_open_due", ["due_at", "id"], **_partial(OPEN_WORK))
        batch_op.create_index("ix_task_run_id", ["run_id"])
        batch_op.create_index("ix_task_site_id", ["site_id"])
        batch_op.create_index("ix_task_sop_step", ["sop_id", "step_id"])
        batch_op.create_index("ix_task_status_due", ["status", "due_at"])
        batch_op.create_index("ix_task_team_status_due", ["team_id", "status", "due_at"])
        batch_op.create_index("ix_task_assignee_status_due", ["assignee_id", "status", "due_at"])
