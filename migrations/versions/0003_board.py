"""board: schema changes for the task board (issue 4)

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


def upgrade():
    pass


def downgrade():
    pass
