"""sop editor: versions, notes, editing (issue 6)

Revision ID: 0005_sop_editor
Revises: 0004_notifications
Create Date: 2026-11-22

"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import models.base  # noqa: F401

revision = "0005_sop_editor"
down_revision = "0004_notifications"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
