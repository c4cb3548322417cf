"""process variants: a published version or a draft may belong to one municipality

Revision ID: 0012
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('process_version', schema=None) as batch_op:
        batch_op.add_column(sa.Column('municipality_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_process_version_municipality_id'), ['municipality_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_process_version_municipality_id_municipality'), 'municipality',
                                    ['municipality_id'], ['id'])
    # One draft per process and municipality (NULL: the national draft) instead of one per process.
    with op.batch_alter_table('process_draft', schema=None) as batch_op:
        batch_op.drop_constraint('uq_process_draft_process_id', type_='unique')
    with op.batch_alter_table('process_draft', schema=None) as batch_op:
        batch_op.add_column(sa.Column('municipality_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_process_draft_municipality_id_municipality'), 'municipality',
                                    ['municipality_id'], ['id'])
        batch_op.create_unique_constraint('uq_process_draft_process_id', ['process_id', 'municipality_id'])


def downgrade() -> None:
    op.execute("DELETE FROM process_draft WHERE municipality_id IS NOT NULL")
    with op.batch_alter_table('process_draft', schema=None) as batch_op:
        batch_op.drop_constraint('uq_process_draft_process_id', type_='unique')
        batch_op.drop_constraint('fk_process_draft_municipality_id_municipality', type_='foreignkey')
        batch_op.drop_column('municipality_id')
    with op.batch_alter_table('process_draft', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_process_draft_process_id', ['process_id'])
    with op.batch_alter_table('process_version', schema=None) as batch_op:
        batch_op.drop_constraint('fk_process_version_municipality_id_municipality', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_process_version_municipality_id'))
        batch_op.drop_column('municipality_id')
