"""The school's public channel: receipt codes and the short sessions of an anonymous reporter's conversation.

A receipt code is 20 characters of Crockford's base32, shown in five groups of four: the first group looks the
report up, the other sixteen are the secret (80 bits). Only an argon2 hash of the secret is stored, as for
passwords, so a copy of the database does not open any conversation. Wrong codes are counted per code: after
MAX_FAILURES the code is paused for PAUSE, and a paused, wrong or unknown code all get the same answer. (SecureDrop
and GlobaLeaks give sources a code the same way; words were not used because a Korean student reads Latin letters
and digits more surely than English words.)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from contextlib import contextmanager
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.crypto import argon2_stand_in
from portal.models import Case, ReceiptCode, ReporterSession, School
from portal.models.base import utcnow
from portal.services import audit
from portal.services.background import CHECKS
from portal.services.errors import ServiceError

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32: no I, L, O or U to misread
LOOKUP_LENGTH, SECRET_LENGTH = 4, 16  # 20 bits to look up, 80 bits of secret
MISREAD = str.maketrans({"O": "0", "I": "1", "L": "1", "U": "V"})
MAX_FAILURES = 10
PAUSE = timedelta(hours=1)
SESSION_IDLE = timedelta(minutes=20)

_hasher = PasswordHasher()


def _random(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def new_code() -> str:
    """A fresh receipt code, without separators (20 characters)."""
    return _random(LOOKUP_LENGTH + SECRET_LENGTH)


def grouped(code: str) -> list[str]:
    """The code in groups of four, for reading aloud and writing down."""
    return [code[i:i + 4] for i in range(0, len(code), 4)]


def normalize(text: str | None) -> str | None:
    """What a person typed, as a code: spaces and dashes dropped, lower case and misread letters forgiven;
    None when it cannot be a code at all."""
    code = "".join((text or "").split()).replace("-", "").upper().translate(MISREAD)
    if len(code) != LOOKUP_LENGTH + SECRET_LENGTH or any(ch not in ALPHABET for ch in code):
        return None
    return code


# One argon2 run (64 MiB, about 0.2 s) at a time per process for the public page, and a request that finds it
# taken does not wait: it is told at once to send again in a few seconds (ChannelBusy, "page_busy"), its words
# kept. A server worker runs two requests at once (`portal serve`): waiting for the turn would hold the other
# thread too, so a flood of anonymous requests could take both from staff. The price: a second sender within the
# same fifth of a second is asked to press the button again.
_slow = threading.BoundedSemaphore(1)


class ChannelBusy(ServiceError):
    """The public page's slow check is taken: the sender is asked to send again in a moment."""

    def __init__(self):
        super().__init__("page_busy")


@contextmanager
def _slow_turn():
    if not _slow.acquire(blocking=False):
        raise ChannelBusy()
    try:
        yield
    finally:
        _slow.release()


def hash_secret(code: str) -> tuple[str, str]:
    """(lookup, argon2 hash of the secret part) for storing; slow, so call it before any write transaction.
    ChannelBusy when another request of this process is hashing at this moment."""
    with _slow_turn():
        return code[:LOOKUP_LENGTH], _hasher.hash(code[LOOKUP_LENGTH:])


def lookup_taken(session: Session, lookup: str) -> bool:
    return session.scalar(select(ReceiptCode.case_id).where(ReceiptCode.lookup == lookup)) is not None


STORE_TRIES = 10


def store_receipt(session: Session, case_id: int, lookup: str, secret_hash: str) -> str:
    """Store a new case's receipt and return the lookup it got. The view chose a free lookup before its write
    transaction, so a concurrent report (on another server or thread) can take it first: then the insert fails
    on the unique lookup inside a savepoint, and another lookup is drawn (the secret and its hash stay). The
    caller shows the code with the lookup returned here."""
    for _attempt in range(STORE_TRIES):
        try:
            with session.begin_nested():
                session.add(ReceiptCode(case_id=case_id, lookup=lookup, secret_hash=secret_hash))
            return lookup
        except IntegrityError:
            lookup = _random(LOOKUP_LENGTH)
    raise RuntimeError("no free receipt lookup after several tries")  # a million lookups: not in practice


def _secret_matches(secret_hash: str, secret: str) -> bool:
    with _slow_turn():  # ChannelBusy outside the try: busy is not a wrong code
        try:
            return _hasher.verify(secret_hash, secret)
        except (VerificationError, InvalidHashError):
            return False


def find_receipt(session: Session, school: School, code: str | None) -> ReceiptCode | None:
    """The receipt a normalized code names at this school, paused or not (no secret is checked here)."""
    if code is None:
        return None
    return session.scalar(select(ReceiptCode).join(Case, Case.id == ReceiptCode.case_id)
                          .where(ReceiptCode.lookup == code[:LOOKUP_LENGTH], Case.school_id == school.id))


def check_secret(receipt: ReceiptCode | None, code: str | None, now: datetime) -> bool:
    """Whether the code opens this receipt. Slow (argon2) whatever the answer, so that a wrong, unknown or
    paused code cannot be told apart by its timing; run it outside any write transaction."""
    if receipt is None or code is None or (receipt.paused_until is not None and receipt.paused_until > now):
        _secret_matches(argon2_stand_in(_hasher), "-")
        return False
    return _secret_matches(receipt.secret_hash, code[LOOKUP_LENGTH:])


def record_attempt(session: Session, receipt_id: int | None, opened: bool, now: datetime) -> None:
    """Count a wrong code against its receipt (pausing it after MAX_FAILURES) or clear the count on success; the
    row is locked, so concurrent guesses are all counted."""
    if receipt_id is None:
        return
    # The audit chain's head first, then the receipt: the daily purge holds the head while it deletes a purged
    # case's receipt, so a wrong code locking the receipt and then waiting for the head would deadlock with it.
    audit.hold_head(session)
    receipt = session.scalar(select(ReceiptCode).where(ReceiptCode.case_id == receipt_id).with_for_update())
    if receipt is None:
        return
    if opened:
        receipt.failures = 0
        return
    if receipt.paused_until is not None and receipt.paused_until > now:
        return
    receipt.failures += 1
    if receipt.failures >= MAX_FAILURES:
        receipt.failures, receipt.paused_until = 0, now + PAUSE
    audit.record(session, "receipt_code_refused", case_id=receipt.case_id,
                 school_id=session.get(Case, receipt.case_id).school_id)


# --- the conversation's session: a random token in a cookie, its hash here -------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, case: Case, now: datetime | None = None) -> str:
    """Open the conversation for this browser; returns the token for its cookie."""
    token = secrets.token_urlsafe(32)
    session.add(ReporterSession(token_hash=_token_hash(token), case_id=case.id,
                                expires_at=(now or utcnow()) + SESSION_IDLE))
    return token


def session_case(session: Session, token: str | None, now: datetime | None = None) -> Case | None:
    """The case whose conversation this token opens, extending its idle time; None when ended or expired."""
    if not token or len(token) > 100:
        return None
    now = now or utcnow()
    row = session.get(ReporterSession, _token_hash(token))
    if row is None or row.expires_at <= now:
        return None
    row.expires_at = now + SESSION_IDLE
    return session.get(Case, row.case_id)


def end_session(session: Session, token: str | None) -> None:
    """End the conversation in this browser (the End button and quick exit)."""
    if token and len(token) <= 100:
        session.execute(delete(ReporterSession).where(ReporterSession.token_hash == _token_hash(token)))


def session_token_mac(token: str, secret_key: str) -> str:
    """The conversation form's CSRF token: bound to this browser's session token, useless without the cookie."""
    return hmac.new(secret_key.encode(), b"reporter-form:" + token.encode(), "sha256").hexdigest()


def end_expired_sessions(session: Session, _app: Flask, now: datetime) -> int:
    """The periodic check: delete conversation sessions past their idle time."""
    return session.execute(delete(ReporterSession).where(ReporterSession.expires_at <= now)).rowcount or 0


CHECKS.append(end_expired_sessions)
