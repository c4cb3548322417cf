"""notifications: in-app reminders, the e-mail outbox, the user's digest choice

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

import engine.platform.db

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('app_user') as batch:
        batch.add_column(sa.Column('email_digest', sa.Boolean(), nullable=False, server_default=sa.text('false')))
    op.create_table('notification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=True),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('created_at', engine.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('read_at', engine.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('digest_pending', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], name=op.f('fk_notification_instance_id_process_instance'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['task_id'], ['human_task.id'], name=op.f('fk_notification_task_id_human_task'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_notification_user_id_app_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification')),
    sa.UniqueConstraint('key', name=op.f('uq_notification_key'))
    )
    op.create_index('ix_notification_user_unread', 'notification', ['user_id', 'read_at'], unique=False)
    op.create_index(op.f('ix_notification_task_id'), 'notification', ['task_id'], unique=False)
    op.create_index(op.f('ix_notification_digest_pending'), 'notification', ['digest_pending'], unique=False)
    op.create_table('email_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('to_addr', sa.String(length=200), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', engine.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('claimed_until', engine.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', engine.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', engine.platform.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_email_outbox_user_id_app_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_outbox')),
    sa.UniqueConstraint('key', name=op.f('uq_email_outbox_key'))
    )
    op.create_index('ix_email_outbox_due', 'email_outbox', ['status', 'next_attempt_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_email_outbox_due', table_name='email_outbox')
    op.drop_table('email_outbox')
    op.drop_index(op.f('ix_notification_digest_pending'), table_name='notification')
    op.drop_index(op.f('ix_notification_task_id'), table_name='notification')
    op.drop_index('ix_notification_user_unread', table_name='notification')
    op.drop_table('notification')
    with op.batch_alter_table('app_user') as batch:
        batch.drop_column('email_digest')
