"""the takedown tracker: one row per confirmed link, channel, account or posting of personal details; log entries
point to their item

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 05:00:00

"""
import sqlalchemy as sa
from alembic import op

import portal.models.base

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'takedown_items',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('target', portal.models.base.EncryptedText(), nullable=True),
        sa.Column('detail_kinds', sa.String(length=60), nullable=False),
        sa.Column('platform', sa.String(length=16), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('found_at', portal.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('requested_at', portal.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('removed_at', portal.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('reappeared_at', portal.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('requested_by_id', sa.Integer(), nullable=True),
        sa.Column('reference', portal.models.base.EncryptedText(), nullable=True),
        sa.Column('merged_into_id', sa.Integer(), nullable=True),
        sa.Column('created_at', portal.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', portal.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['merged_into_id'], ['takedown_items.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('takedown_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_takedown_items_case_id'), ['case_id'], unique=False)
    with op.batch_alter_table('response_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('takedown_item_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_response_entries_takedown_item_id', 'takedown_items',
                                    ['takedown_item_id'], ['id'], ondelete='CASCADE')


def downgrade():
    with op.batch_alter_table('response_entries', schema=None) as batch_op:
        batch_op.drop_constraint('fk_response_entries_takedown_item_id', type_='foreignkey')
        batch_op.drop_column('takedown_item_id')
    with op.batch_alter_table('takedown_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_takedown_items_case_id'))
    op.drop_table('takedown_items')
