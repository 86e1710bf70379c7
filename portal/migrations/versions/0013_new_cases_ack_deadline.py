"""a new case's stored first deadline (next_due_at, the inbox's order) includes acknowledging it: cases opened
since 0006 stored only their checklist's (none at all for a student's request or a report without an account),
because the case's status was set by the INSERT, after the deadline was worked out

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 11:10:00

"""
from datetime import timedelta

import sqlalchemy as sa
from alembic import op

import portal.models.base

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    """Only cases still waiting to be acknowledged change: the earlier of what they store and their deadline to
    acknowledge (the school's hours for an urgent or a normal case, from its opening)."""
    when = portal.models.base.UTCDateTime()
    cases = sa.table('cases', sa.column('id'), sa.column('school_id'), sa.column('status'), sa.column('urgent'),
                     sa.column('created_at', when), sa.column('next_due_at', when))
    schools = sa.table('schools', sa.column('id'), sa.column('ack_urgent_hours'), sa.column('ack_normal_hours'))
    bind = op.get_bind()
    hours = {row.id: (row.ack_urgent_hours, row.ack_normal_hours) for row in bind.execute(sa.select(schools))}
    for case in bind.execute(sa.select(cases).where(cases.c.status == 'new')).all():
        urgent_hours, normal_hours = hours[case.school_id]
        ack = case.created_at + timedelta(hours=urgent_hours if case.urgent else normal_hours)
        if case.next_due_at is None or ack < case.next_due_at:
            bind.execute(sa.update(cases).where(cases.c.id == case.id).values(next_due_at=ack))


def downgrade():
    pass  # the earlier deadline is still right for those cases
