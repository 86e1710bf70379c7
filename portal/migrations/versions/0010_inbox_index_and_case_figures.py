"""indexes for the inbox's pages; the dashboards' running counts, counted from the existing cases

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 04:00:00

"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('ix_cases_school_status_created', ['school_id', 'status', 'created_at', 'id'],
                              unique=False)
        batch_op.drop_index('ix_cases_school_id')  # a prefix of the new one
    op.create_table(
        'case_figures',
        sa.Column('school_id', sa.Integer(), nullable=False),
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('figure', sa.String(length=40), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['school_id'], ['schools.id'], ),
        sa.PrimaryKeyConstraint('school_id', 'month', 'figure'),
    )
    from portal.services import figures

    figures.rebuild(Session(bind=op.get_bind()))  # core statements on the migration's own connection


def downgrade():
    op.drop_table('case_figures')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('ix_cases_school_id', ['school_id'], unique=False)
        batch_op.drop_index('ix_cases_school_status_created')
