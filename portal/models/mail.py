"""Outgoing mail (written in the same transaction as what it describes and delivered after commit), and the lease
that lets one process of a deployment run the periodic checks that deliver it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.models.base import EncryptedText, UTCDateTime, utcnow


class OutboxMail(db.Model):
    """One mail to one address. Subject and body are encrypted: a reset link in them is a secret."""

    __tablename__ = "outbox_mails"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Chosen when the row is written, so a resend after a crash carries the same Message-ID: about 45 characters
    # and PUBLIC_URL's host, which may be as long as DNS allows (253).
    message_id: Mapped[str] = mapped_column(String(320), unique=True)
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id", ondelete="SET NULL"), index=True)
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(EncryptedText)
    body: Mapped[str] = mapped_column(EncryptedText)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    given_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(80))  # an exception class name, never content


class BackgroundLease(db.Model):
    """Who runs the periodic checks this minute: a row per job, claimed by one process of the whole deployment
    (every server and worker tries; an UPDATE that only succeeds when the lease has run out picks one)."""

    __tablename__ = "background_leases"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(120))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
