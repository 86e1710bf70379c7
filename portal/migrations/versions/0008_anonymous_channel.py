"""the anonymous channel and the conversation with reporters: messages, receipt codes, reporter sessions

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 01:00:00

"""
import sqlalchemy as sa
from alembic import op

import portal.models.base

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    when = portal.models.base.UTCDateTime()
    op.create_table(
        'case_messages',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('from_reporter', sa.Boolean(), nullable=False),
        sa.Column('author_id', sa.Integer(), nullable=True),
        sa.Column('text', portal.models.base.EncryptedText(), nullable=False),
        sa.Column('created_at', when, nullable=False),
        sa.ForeignKeyConstraint(['author_id'], ['users.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_case_messages_case_id', 'case_messages', ['case_id'])
    op.create_table(
        'receipt_codes',
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('lookup', sa.String(length=8), nullable=False),
        sa.Column('secret_hash', sa.String(length=255), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('paused_until', when, nullable=True),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('case_id'),
        sa.UniqueConstraint('lookup'),
    )
    op.create_table(
        'reporter_sessions',
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('expires_at', when, nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('token_hash'),
    )
    op.create_index('ix_reporter_sessions_case_id', 'reporter_sessions', ['case_id'])
    op.create_index('ix_reporter_sessions_expires_at', 'reporter_sessions', ['expires_at'])
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reporter_relation', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('reporter_identity', portal.models.base.EncryptedText(), nullable=True))
        batch_op.add_column(sa.Column('reporter_message_at', when, nullable=True))
        batch_op.add_column(sa.Column('staff_message_at', when, nullable=True))
        batch_op.add_column(sa.Column('reporter_seen_at', when, nullable=True))
    with op.batch_alter_table('response_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_response_entries_message', 'case_messages', ['message_id'], ['id'],
                                    ondelete='CASCADE')
    with op.batch_alter_table('schools', schema=None) as batch_op:
        batch_op.add_column(sa.Column('anonymous_hourly_limit', sa.Integer(), nullable=False, server_default='30'))


def downgrade():
    with op.batch_alter_table('schools', schema=None) as batch_op:
        batch_op.drop_column('anonymous_hourly_limit')
    with op.batch_alter_table('response_entries', schema=None) as batch_op:
        batch_op.drop_constraint('fk_response_entries_message', type_='foreignkey')
        batch_op.drop_column('message_id')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        for column in ('reporter_seen_at', 'staff_message_at', 'reporter_message_at', 'reporter_identity',
                       'reporter_relation'):
            batch_op.drop_column(column)
    op.drop_table('reporter_sessions')
    op.drop_table('receipt_codes')
    op.drop_table('case_messages')
