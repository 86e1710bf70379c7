"""Append to and verify the hash-chained audit log."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.database import insert_if_missing
from portal.models import AuditEvent, AuditHead, User
from portal.models.base import utcnow

GENESIS = "0" * 64


def _digest(prev_hash: str, row: AuditEvent) -> str:
    body = json.dumps(
        [
            row.id, row.at.isoformat(), row.actor_id, row.actor_role, row.action,
            row.school_id, row.case_id, row.target, row.address, prev_hash,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode()).hexdigest()


def record(
    session: Session,
    action: str,
    *,
    actor: User | None = None,
    school_id: int | None = None,
    case_id: int | None = None,
    target: str | None = None,
    address: str | None = None,
) -> AuditEvent:
    """Append one row to the chain inside the caller's transaction. Never put case text in `target`."""
    insert_if_missing(session, AuditHead, id=1, last_id=0, last_hash=GENESIS)
    head = session.scalar(select(AuditHead).where(AuditHead.id == 1).with_for_update())
    actor_role = actor.role if actor is not None and getattr(actor, "is_authenticated", False) else None
    row = AuditEvent(
        id=head.last_id + 1,
        at=utcnow().replace(microsecond=0),
        actor_id=actor.id if actor_role else None,
        actor_role=actor_role,
        action=action,
        school_id=school_id if school_id is not None else (actor.school_id if actor_role else None),
        case_id=case_id,
        target=target,
        address=address,
        prev_hash=head.last_hash,
    )
    row.hash = _digest(head.last_hash, row)
    session.add(row)
    head.last_id, head.last_hash = row.id, row.hash
    session.flush()
    return row


@dataclass
class ChainProblem:
    """Where the chain first stops adding up."""

    row_id: int | None
    reason: str


def verify(session: Session) -> tuple[int, ChainProblem | None]:
    """Recompute the chain; return the number of rows checked and the first problem, if any."""
    prev, expected_id, count = GENESIS, 1, 0
    for row in session.scalars(select(AuditEvent).order_by(AuditEvent.id)).yield_per(1000):
        if row.id != expected_id:
            return count, ChainProblem(expected_id, f"row missing (ids jump from {expected_id - 1} to {row.id})")
        if row.prev_hash != prev:
            return count, ChainProblem(row.id, "previous hash does not match the row before it")
        if _digest(prev, row) != row.hash:
            return count, ChainProblem(row.id, "row content does not match its hash")
        prev, expected_id, count = row.hash, expected_id + 1, count + 1
    head = session.get(AuditHead, 1)
    if head is not None and (head.last_id != count or head.last_hash != prev):
        return count, ChainProblem(head.last_id, "newest row is missing or the head was changed")
    return count, None


def case_hash(session: Session, case_id: int) -> str:
    """The hash of the newest audit row about a case: printed at the end of a case report."""
    row = session.scalar(
        select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.id.desc()).limit(1)
    )
    return row.hash if row else GENESIS
