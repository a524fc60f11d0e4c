"""board: schema changes for the task board (issue 4)

Partial indexes over open work for My queue, the team queue and the manager
board: with 200k tasks, most of them finished, the lists read a few index pages
in display order instead of sorting every task a person ever had.

Revision ID: 0003_board
Revises: 6f42dcb63ea8
Create Date: 2026-11-22

"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import models.base  # noqa: F401

revision = "0003_board"
down_revision = "6f42dcb63ea8"
branch_labels = None
depends_on = None

OPEN_WORK = "status IN ('open', 'in_progress', 'blocked')"
TEAM_QUEUE = "status = 'open' AND assignee_id IS NULL"


def upgrade():
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.create_index(
            "ix_task_open_assignee",
            [
                "assignee_id",
                "due_at",
                "id",
                "due_on",
                "site_id",
                "snoozed_until",
                "starts_at",
                "team_id",
                "status",
                "escalation_level",
            ],
            unique=False,
            postgresql_where=sa.text(OPEN_WORK),
            sqlite_where=sa.text(OPEN_WORK),
        )
        batch_op.create_index(
            "ix_task_team_queue",
            [
                "team_id",
                "due_at",
                "id",
                "site_id",
                "snoozed_until",
                "starts_at",
                "status",
                "assignee_id",
            ],
            unique=False,
            postgresql_where=sa.text(TEAM_QUEUE),
            sqlite_where=sa.text(TEAM_QUEUE),
        )
        batch_op.create_index(
            "ix_task_open_due",
            ["due_at", "id"],
            unique=False,
            postgresql_where=sa.text(OPEN_WORK),
            sqlite_where=sa.text(OPEN_WORK),
        )


def downgrade():
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.drop_index("ix_task_open_due")
        batch_op.drop_index("ix_task_team_queue")
        batch_op.drop_index("ix_task_open_assignee")
