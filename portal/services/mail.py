"""The mail outbox: mail is written as a row in the transaction it describes and sent only after commit.

A rollback therefore sends nothing, and no database lock is held while a mail server answers (a slow server
once made every other writer wait). Delivery is at least once: a row is claimed for a while, sent, then marked;
after a crash between send and mark it is sent again with the same Message-ID, so receiving systems can drop
the copy. Failures are retried with backoff and counted for the school admin, without any of the mail's text.
"""

from __future__ import annotations

import logging
import os
import smtplib
import threading
import time
from datetime import datetime, timedelta
from email.utils import make_msgid, parseaddr
from pathlib import Path

from flask import Flask, current_app, has_app_context
from sqlalchemy import bindparam, delete, func, or_, select
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from portal.models import OutboxMail
from portal.models.base import utcnow
from portal.urls import public_host

log = logging.getLogger("portal.mail")

CLAIM = timedelta(minutes=2)  # longer than one SMTP exchange at MAIL_TIMEOUT
MAX_ATTEMPTS = 12  # with the backoff below, about 9 hours of retries
KEEP_SENT = timedelta(days=30)
PENDING = "portal.outbox_pending"


def valid_address(address: str | None) -> bool:
    """One plain address: no display name, no list, no line breaks (which would inject headers)."""
    if not address or len(address) > 320 or any(c in address for c in "\r\n,;<>\"' \t"):
        return False
    name, parsed = parseaddr(address)
    local, _, domain = parsed.partition("@")
    return not name and parsed == address and bool(local) and "." in domain.strip(".")


def queue(session: Session, to: str | None, subject: str, body: str, school_id: int | None = None) -> bool:
    """Add a mail to the outbox in the caller's transaction; it is sent once that transaction commits."""
    row = outbox_row(session, to, subject, body, school_id)
    if row is not None:
        session.execute(QUEUE, row)
    return row is not None


def outbox_row(session: Session, to: str | None, subject: str, body: str, school_id: int | None = None) -> dict | None:
    """The outbox row of a mail, for the caller to insert with QUEUE in its transaction: queue() does, and a new
    case sends its mails with the statement that takes the audit chain's head (audit.record's `new_rows`). None,
    with a warning, for an address that is not one. Every column is given: in a statement of several writes
    (PostgreSQL) the table's defaults are not."""
    if not valid_address(to):
        log.warning("mail not queued: the recipient address is not a single valid address")
        return None
    domain = public_host(current_app.config["PUBLIC_URL"]) or "portal.invalid"
    session.info[PENDING] = True  # the courier is woken once the caller commits
    now = utcnow()
    return {"message_id": make_msgid(domain=domain), "school_id": school_id, "recipient": to, "subject": subject,
            "body": body, "created_at": now, "attempts": 0, "next_attempt_at": now}


# One Core INSERT, made once (every new case queues mail): an object added to the session cost a flush of its own.
QUEUE = OutboxMail.__table__.insert()


def _backoff(attempts: int) -> timedelta:
    return timedelta(minutes=min(2 ** (attempts - 1), 60))


# Mails claimed together: one transaction claims them, one marks them (two commits for the batch, not two per
# mail, which on SQLite each wait for the write lock and a sync to disk while reports queue for it). Small enough
# that a batch at MAIL_TIMEOUT per mail is sent before its claim runs out.
CLAIM_BATCH = 10

# The outbox's statements, made once with their values bound (Core, not the ORM's bulk UPDATE): a courier round
# runs them for every few mails, and building them each time cost more than sending the mail.
_OUTBOX = OutboxMail.__table__
_DUE = (_OUTBOX.c.sent_at.is_(None), _OUTBOX.c.given_up_at.is_(None), _OUTBOX.c.next_attempt_at <= bindparam("now"),
        or_(_OUTBOX.c.claimed_until.is_(None), _OUTBOX.c.claimed_until < bindparam("now")))
_CLAIM = (
    _OUTBOX.update()
    .where(_OUTBOX.c.id.in_(select(_OUTBOX.c.id).where(*_DUE).order_by(_OUTBOX.c.id).limit(CLAIM_BATCH)
                            .scalar_subquery()), *_DUE)
    .values(claimed_until=bindparam("until"))
    .returning(_OUTBOX.c.id, _OUTBOX.c.message_id, _OUTBOX.c.recipient, _OUTBOX.c.subject, _OUTBOX.c.body)
)
_MARK_SENT = _OUTBOX.update().where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True))) \
    .values(claimed_until=None, sent_at=bindparam("done"))
_RELEASE = _OUTBOX.update().where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True))).values(claimed_until=None)


def deliver_due(app: Flask, now: datetime | None = None, budget: float = 45.0) -> int:
    """Send every mail that is due, claimed in small batches, sent outside any transaction, then marked. Returns
    how many went out.

    Works through the outbox until nothing is due or `budget` seconds have passed (a backlog after a mail-server
    outage is cleared in one round, and a round still ends before the next minute's check).
    """
    from portal.extensions import db

    sent = 0
    deadline = time.monotonic() + budget
    with app.app_context():
        session = db.session
        try:
            now = now or utcnow()
            while time.monotonic() < deadline:
                claimed = _claim(session, now)
                if claimed:
                    sent += _deliver(app, session, claimed, deadline)
                if len(claimed) < CLAIM_BATCH:  # that was the last of what is due (mail queued since wakes us again)
                    break
        finally:
            session.remove()
    return sent


def _claim(session: Session, now: datetime) -> list:
    """Claim up to CLAIM_BATCH due mails in one statement; the rows this process got (another process's claim
    makes the same rows fail the WHERE, on PostgreSQL after waiting for its row locks)."""
    rows = session.execute(_CLAIM, {"now": now, "until": now + CLAIM}).all()
    session.commit()
    return sorted(rows)


def _deliver(app: Flask, session: Session, claimed: list, deadline: float) -> int:
    """Send the claimed mails with no transaction open (nothing is locked while the mail server answers), then
    mark them all in one transaction; 1 for each that went out. Those the time budget left unsent are released."""
    errors: dict[int, str | None] = {}
    for mail_id, message_id, recipient, subject, body in claimed:
        if time.monotonic() >= deadline:
            break
        errors[mail_id] = _send(app, message_id, recipient, subject, body)
    done = utcnow()
    sent = [mail_id for mail_id, error in errors.items() if error is None]
    if sent:
        session.execute(_MARK_SENT, {"ids": sent, "done": done})
    unsent = [mail_id for mail_id, *_rest in claimed if mail_id not in errors]
    if unsent:
        session.execute(_RELEASE, {"ids": unsent})
    for mail_id, error in errors.items():
        if error is None:
            continue
        row = session.get(OutboxMail, mail_id)
        row.claimed_until = None
        row.attempts += 1
        row.last_error = error
        row.next_attempt_at = done + _backoff(row.attempts)
        if row.attempts >= MAX_ATTEMPTS:
            row.given_up_at = done
        log.warning("mail delivery failed (%s, attempt %d)", error, row.attempts)
    session.commit()
    return len(sent)


def _send(app: Flask, message_id: str, to: str, subject: str, body: str) -> str | None:
    """Hand one mail to the SMTP server, or write it to instance/outbox without one. None, or the error's name."""
    from flask_mailman import EmailMessage

    config = app.config
    message = EmailMessage(subject, body, config["MAIL_FROM"], [to], headers={"Message-ID": message_id})
    try:
        if config.get("MAIL_SERVER"):
            connection = app.extensions["mailman"].get_connection(
                backend="smtp", host=config["MAIL_SERVER"], port=int(config["MAIL_PORT"]),
                username=config.get("MAIL_USERNAME"), password=config.get("MAIL_PASSWORD"),
                use_tls=bool(config.get("MAIL_USE_STARTTLS")), timeout=config["MAIL_TIMEOUT"], fail_silently=False)
            message.connection = connection
            message.send()
            log.info("mail sent")
        else:
            _write_to_folder(app, message_id, message.message().as_bytes())
            log.info("mail queued in the outbox folder")
    except (OSError, smtplib.SMTPException, ValueError) as error:
        return type(error).__name__
    return None


def _write_to_folder(app: Flask, message_id: str, data: bytes) -> None:
    """Without a mail server, each mail is a private .eml file; the name comes from its Message-ID, so a resend
    after a crash replaces the same file instead of adding a second."""
    outbox = Path(app.instance_path) / "outbox"
    outbox.mkdir(parents=True, exist_ok=True)
    stem = "".join(c for c in message_id.strip("<>").split("@")[0] if c.isalnum() or c in ".-_")
    path = outbox / f"{stem}.eml"
    temporary = outbox / f".{stem}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def undelivered(session: Session, school_id: int) -> tuple[int, str | None]:
    """How many of a school's mails have failed at least once and are not sent, and the newest error name."""
    where = (OutboxMail.school_id == school_id, OutboxMail.sent_at.is_(None), OutboxMail.attempts > 0)
    count = session.scalar(select(func.count()).select_from(OutboxMail).where(*where)) or 0
    error = session.scalar(select(OutboxMail.last_error).where(*where).order_by(OutboxMail.id.desc()).limit(1))
    return count, error


def deliver_outbox(session: Session, app: Flask, now: datetime) -> int:
    """Periodic check: retry what is due and forget mail sent more than 30 days ago."""
    session.execute(delete(OutboxMail).where(OutboxMail.sent_at < now - KEEP_SENT))
    session.commit()
    return deliver_due(app, now)


class Courier:
    """A thread per process that delivers the outbox as soon as a transaction that queued mail commits.

    Woken, it waits GATHER before it claims, so that a burst (a period's reports at once) goes out in a few rounds:
    each round is two transactions whether it sends one mail or ten, and on SQLite each takes the write lock that
    reports queue for. A mail leaves a twentieth of a second later; nobody waits for it.
    """

    GATHER = 0.05  # seconds

    def __init__(self, app: Flask):
        self.app = app
        self.wanted = threading.Event()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def wake(self) -> None:
        """Ask for a delivery round; start the thread on first use."""
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="portal-mail", daemon=True)
                self.thread.start()
        self.wanted.set()

    def _run(self) -> None:
        while True:
            self.wanted.wait()
            time.sleep(self.GATHER)
            self.wanted.clear()  # what commits from here on wakes it for another round
            try:
                deliver_due(self.app)
            except Exception:  # the periodic check retries; the log names no mail content
                log.exception("mail delivery round failed")


def _after_commit(session: Session) -> None:
    if session.info.pop(PENDING, False) and has_app_context():
        courier = current_app.extensions.get("portal.courier")
        if courier is not None:
            courier.wake()


def _after_rollback(session: Session) -> None:
    session.info.pop(PENDING, None)  # the rows went with the rollback: there is nothing to send


def init_app(app: Flask) -> None:
    """Bind Flask-Mailman, the courier and the periodic retry."""
    from flask_mailman import Mail

    from portal.services.background import CHECKS

    Mail(app)
    if app.config["MAIL_COURIER"]:
        app.extensions["portal.courier"] = Courier(app)
    if not sa_event.contains(Session, "after_commit", _after_commit):
        sa_event.listen(Session, "after_commit", _after_commit)
        sa_event.listen(Session, "after_rollback", _after_rollback)
    if deliver_outbox not in CHECKS:
        CHECKS.append(deliver_outbox)
