"""notifications: calendar feeds and mail (issue 5)

Revision ID: 0004_notifications
Revises: 0003_board
Create Date: 2026-11-22

"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import models.base  # noqa: F401

revision = "0004_notifications"
down_revision = "0003_board"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
