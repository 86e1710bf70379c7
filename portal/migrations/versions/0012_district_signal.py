"""the district signal: each open, unmerged link item keeps a keyed HMAC of its normalised link (indexed), filled in
here for the items that exist

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 06:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

OPEN_STATUSES = ("new", "acknowledged", "in_progress")


def upgrade():
    with op.batch_alter_table('takedown_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('handle_mac', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_takedown_items_handle_mac'), ['handle_mac'], unique=False)
    # Items confirmed before this revision: the MAC of each open case's unmerged link, under the configured key.
    from portal.crypto import decrypt, signal_mac
    from portal.services.handles import normalise

    items = sa.table('takedown_items', sa.column('id'), sa.column('case_id'), sa.column('kind'), sa.column('target'),
                     sa.column('merged_into_id'), sa.column('handle_mac'))
    cases = sa.table('cases', sa.column('id'), sa.column('status'))
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(items.c.id, items.c.target).join(cases, cases.c.id == items.c.case_id)
        .where(items.c.kind == 'link', items.c.merged_into_id.is_(None), items.c.target.is_not(None),
               cases.c.status.in_(OPEN_STATUSES))).all()
    for item_id, target in rows:
        normal = normalise(decrypt(target))
        if normal:
            connection.execute(sa.update(items).where(items.c.id == item_id).values(handle_mac=signal_mac(normal)))

def downgrade():
    with op.batch_alter_table('takedown_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_takedown_items_handle_mac'))
        batch_op.drop_column('handle_mac')
