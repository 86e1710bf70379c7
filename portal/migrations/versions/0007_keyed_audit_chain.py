"""key the audit chain: recompute every row's hash as an HMAC under the audit key

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 22:45:00

"""
import hashlib
import json

import sqlalchemy as sa
from alembic import op

import portal.models.base

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def _body(row, prev):
    return json.dumps([row.id, row.at.isoformat(), row.actor_id, row.actor_role, row.action, row.school_id,
                       row.case_id, row.target, row.address, prev], ensure_ascii=False, separators=(",", ":"))


def upgrade():
    """Re-chain only a chain that is intact under the old plain SHA-256: a chain that was already broken stays as
    it is, and `portal audit verify` goes on naming where it breaks."""
    from portal.crypto import audit_mac

    when = portal.models.base.UTCDateTime()
    events = sa.table('audit_events', sa.column('id'), sa.column('at', when), sa.column('actor_id'),
                      sa.column('actor_role'), sa.column('action'), sa.column('school_id'), sa.column('case_id'),
                      sa.column('target'), sa.column('address'), sa.column('prev_hash'), sa.column('hash'))
    head = sa.table('audit_head', sa.column('id'), sa.column('last_id'), sa.column('last_hash'))
    bind = op.get_bind()
    rows = bind.execute(sa.select(events).order_by(events.c.id)).all()
    prev = GENESIS
    for expected_id, row in enumerate(rows, start=1):
        if row.id != expected_id or row.prev_hash != prev or \
                hashlib.sha256(_body(row, prev).encode()).hexdigest() != row.hash:
            return
        prev = row.hash
    prev = GENESIS
    for row in rows:
        digest = audit_mac(_body(row, prev))
        bind.execute(sa.update(events).where(events.c.id == row.id).values(prev_hash=prev, hash=digest))
        prev = digest
    if rows:
        bind.execute(sa.update(head).where(head.c.id == 1).values(last_id=rows[-1].id, last_hash=prev))


def downgrade():
    """The keyed hashes stay: a plain chain cannot be rebuilt without trusting the rows again."""
