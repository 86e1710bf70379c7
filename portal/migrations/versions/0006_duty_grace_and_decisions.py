"""grace period for immediate duties; "not applicable" and closing decisions; addenda; classification; TOTP replay step

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 23:15:00

"""
import sqlalchemy as sa
from alembic import op

import portal.models.base

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('schools', schema=None) as batch_op:
        batch_op.add_column(sa.Column('duty_grace_minutes', sa.Integer(), nullable=False, server_default='60'))
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('classification', sa.String(length=24), nullable=True))
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('totp_last_step', sa.Integer(), nullable=True))
    with op.batch_alter_table('response_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('duty_id', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('after_close', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('duty_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('not_applicable_at', portal.models.base.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('not_applicable_entry_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_duty_items_not_applicable_entry', 'response_entries',
                                    ['not_applicable_entry_id'], ['id'])


def downgrade():
    with op.batch_alter_table('duty_items', schema=None) as batch_op:
        batch_op.drop_constraint('fk_duty_items_not_applicable_entry', type_='foreignkey')
        batch_op.drop_column('not_applicable_entry_id')
        batch_op.drop_column('not_applicable_at')
    with op.batch_alter_table('response_entries', schema=None) as batch_op:
        batch_op.drop_column('after_close')
        batch_op.drop_column('duty_id')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('totp_last_step')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('classification')
    with op.batch_alter_table('schools', schema=None) as batch_op:
        batch_op.drop_column('duty_grace_minutes')
