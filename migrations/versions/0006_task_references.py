"""task references checked per statement on PostgreSQL (see models/task_references.py)

Revision ID: 0006_task_references
Revises: 0005_sop_editor
Create Date: 2026-11-22

"""

from alembic import op

from models.task_references import (
    TASK_REFERENCES,
    create_statements,
    drop_statements,
    foreign_key_name,
)

revision = "0006_task_references"
down_revision = "0005_sop_editor"
branch_labels = None
depends_on = None


def upgrade():
    # SQLite keeps its foreign keys: it checks them cheaply and has no statement triggers.
    if op.get_bind().dialect.name != "postgresql":
        return
    for column in TASK_REFERENCES:
        op.drop_constraint(foreign_key_name(column), "task", type_="foreignkey")
    for statement in create_statements():
        op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in drop_statements():
        op.execute(statement)
    for column, parent in TASK_REFERENCES.items():
        op.create_foreign_key(foreign_key_name(column), "task", parent, [column], ["id"])
