"""Append to and verify the hash-chained audit log."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from portal.crypto import audit_mac
from portal.database import Write, insert_if_missing, run_each, with_writes
from portal.models import AuditEvent, AuditHead, User
from portal.models.base import utcnow
from portal.services.background import CHECKS

GENESIS = "0" * 64


# The columns a row's hash covers, in the order they are hashed (then the previous row's hash).
CHAINED = ("id", "at", "actor_id", "actor_role", "action", "school_id", "case_id", "target", "address")


def _digest(prev_hash: str, values: dict) -> str:
    """The row's link in the chain: an HMAC under the audit key, which is kept outside the database, so someone who
    can only write to the database cannot rewrite rows and recompute the chain after them."""
    body = json.dumps([values["id"], values["at"].isoformat(), *(values[name] for name in CHAINED[2:]), prev_hash],
                      ensure_ascii=False, separators=(",", ":"))
    return audit_mac(body)


# Every case view, report and sign-in appends a row: the statements are made once, and the row goes in without the
# ORM's unit of work (nothing reads it back in the same transaction; the chain is read by verify below).
_READ_HEAD = select(AuditHead.last_id, AuditHead.last_hash).where(AuditHead.id == 1)
_HEAD = _READ_HEAD.with_for_update()
_APPEND = AuditEvent.__table__.insert()
_MOVE_HEAD = AuditHead.__table__.update().where(AuditHead.__table__.c.id == 1).values(
    last_id=bindparam("row_id"), last_hash=bindparam("row_hash"))
# PostgreSQL: the row and the head's move in one statement (the UPDATE in a WITH), so the head's row lock, which
# every audited action of the deployment waits for, is held across one round trip fewer. SQLite takes no DML in a
# WITH, and needs none: its write lock is held from BEGIN IMMEDIATE whatever the number of statements.
# Its binds are named row_*: a parameter named like a column of audit_head (id) would be added to the UPDATE's SET.
_APPEND_AND_MOVE = _APPEND.values({column.name: bindparam(f"row_{column.name}") for column in _APPEND.table.c}).add_cte(
    _MOVE_HEAD.cte("moved_head"))


def hold_head(session: Session) -> None:
    """Take the chain's head now, for the rest of the caller's transaction (PostgreSQL: its row lock; SQLite's
    write transaction holds it anyway), before a run that writes rows other audited actions also lock, such as
    the purge deleting a case's notices while a case view marks them read. Every transaction then takes the head
    before those rows, and none waits for the head while holding a row another holder of the head waits for."""
    session.execute(_HEAD)


def record(
    session: Session,
    action: str,
    *,
    actor: User | None = None,
    school_id: int | None = None,
    case_id: int | None = None,
    target: str | None = None,
    address: str | None = None,
    also: Sequence[Write] = (),
    new_rows: Sequence[Write] = (),
) -> None:
    """Append one row to the chain inside the caller's transaction. Never put case text in `target`.

    `also`: writes that belong with the row (database.Write; binds not named row_…), run right after it while the
    chain's head is held; on PostgreSQL in the row's statement, so that the head, which every audited action of the
    deployment waits for, is held one round trip less for each.

    `new_rows`: INSERTs of rows that no other transaction can lock (a new case's mails), sent with the statement
    that takes the head (on PostgreSQL, their CTEs; they cannot make it wait for anything): one round trip less for
    the locks the caller holds to its commit (a new case's school counter), the head held no longer (their values
    are prepared and encrypted before the statement is sent)."""
    if session.get_bind().dialect.name == "postgresql":
        statement, params = with_writes(_HEAD, new_rows)
        head = session.execute(statement, params).first()  # its row lock serializes appends
    else:
        run_each(session, new_rows)  # SQLite's write lock is held from the transaction's start
        head = session.execute(_HEAD).first()
    if head is None:  # a fresh database: concurrent first rows must not race to create the head twice
        insert_if_missing(session, AuditHead, id=1, last_id=0, last_hash=GENESIS)
        head = session.execute(_HEAD).first()
    last_id, last_hash = head
    actor_role = actor.role if actor is not None and getattr(actor, "is_authenticated", False) else None
    values = {
        "id": last_id + 1,
        "at": utcnow().replace(microsecond=0),
        "actor_id": actor.id if actor_role else None,
        "actor_role": actor_role,
        "action": action,
        "school_id": school_id if school_id is not None else (actor.school_id if actor_role else None),
        "case_id": case_id,
        "target": target,
        "address": address,
        "prev_hash": last_hash,
    }
    values["hash"] = _digest(last_hash, values)
    if session.get_bind().dialect.name == "postgresql":
        statement, params = with_writes(_APPEND_AND_MOVE, also)
        session.execute(statement, {**params, **{f"row_{name}": value for name, value in values.items()}})
    else:
        session.execute(_APPEND, values)
        session.execute(_MOVE_HEAD, {"row_id": values["id"], "row_hash": values["hash"]})
        run_each(session, also)


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
        if _digest(prev, {name: getattr(row, name) for name in CHAINED}) != row.hash:
            return count, ChainProblem(row.id, "row content does not match its hash")
        prev, expected_id, count = row.hash, expected_id + 1, count + 1
    # Read as a row, like record() writes it: an AuditHead object loaded earlier in the session would be stale.
    head = session.execute(_READ_HEAD).first()
    if head is not None and (head.last_id != count or head.last_hash != prev):
        return count, ChainProblem(head.last_id, "newest row is missing or the head was changed")
    return count, None


# --- Checkpoints: the head of the chain, written outside the database -------------------------------------------
# A database writer could delete the newest rows and set the head back: the chain would still add up. A signed
# line in a file the database does not hold (and the hash a school prints for its records) anchors the chain.

CHECKPOINT_FILE = "audit-checkpoints.log"


@dataclass(frozen=True)
class Checkpoint:
    """The chain's head at some moment: its newest row id and hash."""

    at: str
    last_id: int
    last_hash: str

    def line(self) -> str:
        body = f"{self.at} {self.last_id} {self.last_hash}"
        return f"{body} {audit_mac(body)}"


def _checkpoint_path(instance_path: str) -> str:
    return os.path.join(instance_path, CHECKPOINT_FILE)


def write_checkpoint(session: Session, instance_path: str) -> Checkpoint:
    """Append the chain's head to instance/audit-checkpoints.log (mode 0600, synced) and return it."""
    head = session.execute(_READ_HEAD).first()  # as a row: see verify()
    point = Checkpoint(utcnow().replace(microsecond=0).isoformat(), head.last_id if head else 0,
                       head.last_hash if head else GENESIS)
    fd = os.open(_checkpoint_path(instance_path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(point.line() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return point


def read_checkpoints(instance_path: str) -> tuple[list[Checkpoint], str | None]:
    """The checkpoints in the file, and a problem if a line was changed (its signature no longer matches)."""
    path = _checkpoint_path(instance_path)
    if not os.path.exists(path):
        return [], None
    points = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            parts = line.split()
            if len(parts) != 4 or audit_mac(" ".join(parts[:3])) != parts[3] or not parts[1].isdigit():
                return points, f"line {number} of {CHECKPOINT_FILE} was changed or is not a checkpoint"
            points.append(Checkpoint(parts[0], int(parts[1]), parts[2]))
    return points, None


def check_against(session: Session, points: list[Checkpoint]) -> ChainProblem | None:
    """Every checkpoint's row must still be in the chain with the same hash."""
    for point in points:
        if point.last_id == 0:
            continue
        row = session.get(AuditEvent, point.last_id)
        if row is None or row.hash != point.last_hash:
            return ChainProblem(point.last_id, f"rows were removed or rewritten after the checkpoint of {point.at}")
    return None


def checkpoint_check(session: Session, app, now) -> int:
    """Periodic check: write a checkpoint when the last one is older than AUDIT_CHECKPOINT_HOURS."""
    from datetime import datetime, timedelta

    points, _problem = read_checkpoints(app.instance_path)
    hours = app.config["AUDIT_CHECKPOINT_HOURS"]
    if points and datetime.fromisoformat(points[-1].at) > now - timedelta(hours=hours):
        return 0
    write_checkpoint(session, app.instance_path)
    return 1


def verify_all(session: Session, instance_path: str, expected: list[Checkpoint] | None = None
               ) -> tuple[int, ChainProblem | None]:
    """The chain, then the checkpoint file, then any checkpoint kept elsewhere (a printed record)."""
    count, problem = verify(session)
    if problem:
        return count, problem
    points, file_problem = read_checkpoints(instance_path)
    if file_problem:
        return count, ChainProblem(None, file_problem)
    return count, check_against(session, points + (expected or []))


def case_hash(session: Session, case_id: int) -> str:
    """The hash of the newest audit row about a case: printed at the end of a case report."""
    row = session.scalar(
        select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.id.desc()).limit(1)
    )
    return row.hash if row else GENESIS


CHECKS.append(checkpoint_check)
