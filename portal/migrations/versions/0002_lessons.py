"""lessons: progress per user and assignments per class

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 23:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

import portal.models.base


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('lesson_progress',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('lesson_slug', sa.String(length=80), nullable=False),
    sa.Column('started_at', portal.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('completed_at', portal.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('best_score', sa.Integer(), nullable=True),
    sa.Column('last_score', sa.Integer(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('scenario_choice', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('user_id', 'lesson_slug')
    )
    with op.batch_alter_table('lesson_progress', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lesson_progress_lesson_slug'), ['lesson_slug'], unique=False)
        batch_op.create_index(batch_op.f('ix_lesson_progress_user_id'), ['user_id'], unique=False)

    op.create_table('lesson_assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('classroom_id', sa.Integer(), nullable=False),
    sa.Column('lesson_slug', sa.String(length=80), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('assigned_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', portal.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['assigned_by_id'], ['users.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['classroom_id'], ['classrooms.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('classroom_id', 'lesson_slug')
    )
    with op.batch_alter_table('lesson_assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lesson_assignments_classroom_id'), ['classroom_id'], unique=False)


def downgrade():
    with op.batch_alter_table('lesson_assignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lesson_assignments_classroom_id'))

    op.drop_table('lesson_assignments')
    with op.batch_alter_table('lesson_progress', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lesson_progress_user_id'))
        batch_op.drop_index(batch_op.f('ix_lesson_progress_lesson_slug'))

    op.drop_table('lesson_progress')
