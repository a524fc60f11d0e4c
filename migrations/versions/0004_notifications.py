"""notifications: calendar feeds and mail (issue 5)

Revision ID: 0004_notifications
Revises: 0003_board
Create Date: 2026-11-22

"""

import sqlalchemy as sa
from alembic import op

import models.base

revision = "0004_notifications"
down_revision = "0003_board"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('notification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dedup_key', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.Enum('digest', 'warning', 'overdue', 'escalation', 'patient_reminder', name='notificationkind', native_enum=False, length=24), nullable=False),
    sa.Column('status', sa.Enum('queued', 'sent', 'failed', 'prepared', 'suppressed', name='notificationstatus', native_enum=False, length=16), nullable=False),
    sa.Column('channel', sa.Enum('email', 'sms', 'phone', 'mail', name='channel', native_enum=False, length=8), nullable=False),
    sa.Column('recipient_id', sa.Integer(), nullable=True),
    sa.Column('task_id', sa.Integer(), nullable=True),
    sa.Column('task_event_id', sa.Integer(), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=True),
    sa.Column('to_address', sa.String(length=254), nullable=True),
    sa.Column('subject', sa.String(length=300), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('transport', sa.String(length=16), nullable=True),
    sa.Column('message_id', sa.String(length=255), nullable=True),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sent_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['recipient_id'], ['user_account.id'], name=op.f('fk_notification_recipient_id_user_account')),
    sa.ForeignKeyConstraint(['sent_by_id'], ['user_account.id'], name=op.f('fk_notification_sent_by_id_user_account')),
    sa.ForeignKeyConstraint(['task_event_id'], ['task_event.id'], name=op.f('fk_notification_task_event_id_task_event'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['task_id'], ['task.id'], name=op.f('fk_notification_task_id_task'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification')),
    sa.UniqueConstraint('dedup_key', name=op.f('uq_notification_dedup_key'))
    )
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.create_index('ix_notification_recipient_kind', ['recipient_id', 'kind', 'created_at'], unique=False)
        batch_op.create_index('ix_notification_status_id', ['status', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_task_event_id'), ['task_event_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_task_id'), ['task_id'], unique=False)

    # The notification planner reads recent escalation events by kind and time.
    with op.batch_alter_table('task_event', schema=None) as batch_op:
        batch_op.create_index('ix_task_event_kind_at', ['kind', 'at'], unique=False)


def downgrade():
    with op.batch_alter_table('task_event', schema=None) as batch_op:
        batch_op.drop_index('ix_task_event_kind_at')

    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_task_id'))
        batch_op.drop_index(batch_op.f('ix_notification_task_event_id'))
        batch_op.drop_index('ix_notification_status_id')
        batch_op.drop_index('ix_notification_recipient_kind')

    op.drop_table('notification')
