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
        batch_op.add_column(sa.Column('next_due_at', portal.models.base.UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_cases_next_due_at'), ['next_due_at'], unique=False)
    _fill_next_due_at()
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


def _fill_next_due_at():
    """Existing open cases: the earliest open checklist deadline, or acknowledging for a new case."""
    from datetime import timedelta

    when = portal.models.base.UTCDateTime()
    cases = sa.table('cases', sa.column('id'), sa.column('school_id'), sa.column('status'), sa.column('urgent'),
                     sa.column('created_at', when), sa.column('next_due_at', when))
    duties = sa.table('duty_items', sa.column('case_id'), sa.column('due_at', when), sa.column('done_at', when))
    schools = sa.table('schools', sa.column('id'), sa.column('ack_urgent_hours'), sa.column('ack_normal_hours'))
    bind = op.get_bind()
    hours = {row.id: (row.ack_urgent_hours, row.ack_normal_hours) for row in bind.execute(sa.select(schools))}
    for case in bind.execute(sa.select(cases).where(cases.c.status != 'closed')).all():
        due = [row.due_at for row in bind.execute(sa.select(duties.c.due_at).where(
            duties.c.case_id == case.id, duties.c.done_at.is_(None)))]
        if case.status == 'new':
            urgent_hours, normal_hours = hours[case.school_id]
            due.append(case.created_at + timedelta(hours=urgent_hours if case.urgent else normal_hours))
        if due:
            bind.execute(sa.update(cases).where(cases.c.id == case.id).values(next_due_at=min(due)))


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
        batch_op.drop_index(batch_op.f('ix_cases_next_due_at'))
        batch_op.drop_column('next_due_at')
        batch_op.drop_column('classification')
    with op.batch_alter_table('schools', schema=None) as batch_op:
        batch_op.drop_column('duty_grace_minutes')
