"""a task's identity is one composite unique constraint, led by the subject

`task.dedup_key` spelled (sop, step, kind, subject, cycle) as text under its own
unique index, and `ix_task_subject` found a subject's tasks. One unique constraint on
(subject_id, subject_type, sop_id, step_id, cycle) does both, with smaller entries:
a new task enters one index instead of two, and carries no key string.

Revision ID: 0008_task_identity
Revises: 0007_open_closed_indexes
Create Date: 2026-12-05

"""

import sqlalchemy as sa
from alembic import op

revision = "0008_task_identity"
down_revision = "0007_open_closed_indexes"
branch_labels = None
depends_on = None

IDENTITY = ["subject_id", "subject_type", "sop_id", "step_id", "cycle"]


def upgrade():
    # The old key was unique on the same facts (the SOP's slug names one SOP), so every
    # existing row already has a distinct identity.
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_task_identity", IDENTITY)
        batch_op.drop_index("ix_task_subject")
        batch_op.drop_constraint("uq_task_dedup_key", type_="unique")
        batch_op.drop_column("dedup_key")


def downgrade():
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dedup_key", sa.String(length=200), nullable=True))
    op.execute(
        "UPDATE task SET dedup_key = (SELECT sop.slug FROM sop WHERE sop.id = task.sop_id)"
        " || ':' || step_id || ':' || subject_type || ':' || subject_id || ':' || cycle"
    )
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.alter_column("dedup_key", existing_type=sa.String(length=200), nullable=False)
        batch_op.create_unique_constraint("uq_task_dedup_key", ["dedup_key"])
        batch_op.create_index("ix_task_subject", ["subject_type", "subject_id"])
        batch_op.drop_constraint("uq_task_identity", type_="unique")
