"""process drafts; a version's content may be published again (rollback)

Revision ID: 0004
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

import engine.platform.db

revision = '0004'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('process_draft',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('process_id', sa.String(length=64), nullable=False),
    sa.Column('bpmn_xml', sa.Text(), nullable=False),
    sa.Column('forms', sa.JSON(), nullable=False),
    sa.Column('base_version_id', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', engine.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', engine.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['base_version_id'], ['process_version.id'], name=op.f('fk_process_draft_base_version_id_process_version')),
    sa.ForeignKeyConstraint(['created_by_id'], ['app_user.id'], name=op.f('fk_process_draft_created_by_id_app_user')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['app_user.id'], name=op.f('fk_process_draft_updated_by_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_process_draft')),
    sa.UniqueConstraint('process_id', name=op.f('uq_process_draft_process_id'))
    )
    # Rollback publishes an earlier version's content again as a new version: the same hash may
    # now appear under two numbers of one process, so the hash is indexed but no longer unique.
    with op.batch_alter_table('process_version', schema=None) as batch_op:
        batch_op.drop_constraint('uq_process_version_content_hash', type_='unique')
        batch_op.create_index(batch_op.f('ix_process_version_content_hash'), ['content_hash'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('process_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_process_version_content_hash'))
        batch_op.create_unique_constraint('uq_process_version_content_hash', ['content_hash'])
    op.drop_table('process_draft')
