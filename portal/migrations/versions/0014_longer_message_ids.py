"""a mail's Message-ID holds up to 320 characters: with a PUBLIC_URL host longer than about 210 (DNS allows 253)
every Message-ID was longer than the column's 255, and PostgreSQL refused every report that queued mail

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 16:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox_mails', schema=None) as batch_op:
        batch_op.alter_column('message_id', existing_type=sa.String(length=255), type_=sa.String(length=320),
                              existing_nullable=False)


def downgrade():
    with op.batch_alter_table('outbox_mails', schema=None) as batch_op:
        batch_op.alter_column('message_id', existing_type=sa.String(length=320), type_=sa.String(length=255),
                              existing_nullable=False)
