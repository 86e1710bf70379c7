"""the lease that lets one process of a deployment run the periodic checks

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 01:20:00

"""
import sqlalchemy as sa
from alembic import op

import portal.models.base

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'background_leases',
        sa.Column('name', sa.String(length=32), nullable=False),
        sa.Column('holder', sa.String(length=120), nullable=True),
        sa.Column('expires_at', portal.models.base.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('name'),
    )


def downgrade():
    op.drop_table('background_leases')
