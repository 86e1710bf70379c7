"""outbox of mail delivered after commit

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 22:30:00

"""
import sqlalchemy as sa
from alembic import op

import portal.models.base

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'outbox_mails',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('message_id', sa.String(length=255), nullable=False),
        sa.Column('school_id', sa.Integer(), nullable=True),
        sa.Column('recipient', sa.String(length=320), nullable=False),
        sa.Column('subject', portal.models.base.EncryptedText(), nullable=False),
        sa.Column('body', portal.models.base.EncryptedText(), nullable=False),
        sa.Column('created_at', portal.models.base.UTCDateTime(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', portal.models.base.UTCDateTime(), nullable=False),
        sa.Column('claimed_until', portal.models.base.UTCDateTime(), nullable=True),
        sa.Column('sent_at', portal.models.base.UTCDateTime(), nullable=True),
        sa.Column('given_up_at', portal.models.base.UTCDateTime(), nullable=True),
        sa.Column('last_error', sa.String(length=80), nullable=True),
        sa.ForeignKeyConstraint(['school_id'], ['schools.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('message_id'),
    )
    with op.batch_alter_table('outbox_mails', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_mails_school_id'), ['school_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_mails_next_attempt_at'), ['next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_mails_sent_at'), ['sent_at'], unique=False)


def downgrade():
    op.drop_table('outbox_mails')
