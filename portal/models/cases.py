"""Cases, their response log, legal-duty checklist, assignees and notifications."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.accounts import School, User
from portal.models.base import EncryptedText, UTCDateTime, utcnow


class CaseStatus(enum.StrEnum):
    """Where a case stands."""

    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    CLOSED = "closed"


# What the inbox, the dashboards and the district signal count as open.
OPEN_STATUSES = (CaseStatus.NEW, CaseStatus.ACKNOWLEDGED, CaseStatus.IN_PROGRESS)


ENTRY_KINDS = (
    "note", "victim_contact", "guardian_contact", "police_report", "dsc_referral", "takedown",
    "school_violence_procedure", "safety_measure", "counselling", "follow_up", "outcome",
)
# The structured fields each kind of entry carries, and which of them it requires (every other kind requires its
# text instead). The log form shows only the chosen kind's fields; a field of another kind is never stored.
ENTRY_FIELDS = {"police_report": ("agency", "report_number"), "takedown": ("link", "platform", "takedown_status")}
ENTRY_REQUIRED = {"police_report": ("agency",), "takedown": ("link", "takedown_status")}
# Entries the portal writes for a decision about a checklist item; they are not chosen on the log form.
DUTY_ENTRY_KINDS = ("duty_not_applicable", "duty_open_at_close", "classified_minor_sex_crime", "classified_other",
                    "lead_handover")
# Entries that record a message in the conversation with the reporter; the entry points to the message.
MESSAGE_ENTRY_KINDS = ("message_to_reporter", "message_from_reporter")
# incident: a staff report; student_request: a signed-in student asking for help; anonymous: sent through the
# school's public page without an account (the reporter holds a receipt code instead).
CASE_KINDS = ("incident", "student_request", "anonymous")
# Kinds whose checklist waits for a counselor's classification: their sender may not know what the law requires.
CLASSIFIED_KINDS = ("student_request", "anonymous")
# Who an anonymous reporter says they are (optional).
REPORTER_RELATIONS = ("self", "friend", "guardian", "staff", "other", "unsaid")
CLASSIFICATIONS = ("minor_sex_crime", "other")
TAKEDOWN_STATUSES = ("requested", "removed", "reappeared")
# The takedown tracker (services/takedown.py): an item's statuses, and the changes each status allows.
ITEM_STATUSES = ("found", *TAKEDOWN_STATUSES)
ITEM_NEXT = {"found": ("requested", "removed"), "requested": ("removed", "reappeared"),
             "removed": ("reappeared",), "reappeared": ("requested", "removed")}
# link: a link, channel or account; details: the victim's personal details posted with the images, recorded as
# which kinds of detail and where, never the details themselves.
ITEM_KINDS = ("link", "details")
DETAIL_KINDS = ("name", "phone", "school", "address", "other")
# Entries the portal writes for the takedown tracker; they point to their item.
TAKEDOWN_ENTRY_KINDS = ("takedown_item_added", "takedown_status_changed", "takedown_items_merged")
OUTCOMES = ("resolved", "referred_to_police", "school_violence_committee", "no_further_action", "transferred",
            "not_genuine")


def new_public_id() -> str:
    """An opaque, unguessable id for URLs."""
    return secrets.token_urlsafe(16)


class Case(db.Model):
    """One incident report or student request and everything the school did about it."""

    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("school_id", "reference"),
        # The inbox pages a school's cases of one status newest first.
        Index("ix_cases_school_status_created", "school_id", "status", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    reference: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(20), default="incident")  # one of CASE_KINDS
    # A student's request carries no checklist until a counselor records whether it concerns a sex crime
    # against a minor: "minor_sex_crime" or "other" (None: not classified yet).
    classification: Mapped[str | None] = mapped_column(String(24))
    # The earliest open deadline (a checklist item or acknowledging), kept by services/cases.refresh_next_due so
    # that the inbox sorts and pages by it in SQL; None once nothing is open.
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    categories: Mapped[str] = mapped_column(String(120), default="")  # comma-separated CATEGORIES
    platforms: Mapped[str] = mapped_column(String(120), default="")  # comma-separated PLATFORMS
    victim_kind: Mapped[str] = mapped_column(String(16), default="unknown")
    victim_count: Mapped[int | None] = mapped_column(Integer)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    victim_knows: Mapped[str] = mapped_column(String(8), default="unknown")
    guardians_told: Mapped[str] = mapped_column(String(8), default="unknown")
    police_told: Mapped[bool] = mapped_column(Boolean, default=False)
    police_told_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_seen: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Encrypted: anything that names a person or describes what happened. Deferred, so lists, dashboards and the
    # periodic checks never load or decrypt it; the case file loads the group in one query when it is read.
    victim_names: Mapped[str | None] = mapped_column(EncryptedText, deferred=True, deferred_group="text")
    suspects: Mapped[str | None] = mapped_column(EncryptedText, deferred=True, deferred_group="text")
    links: Mapped[str | None] = mapped_column(EncryptedText, deferred=True, deferred_group="text")
    how_learned: Mapped[str | None] = mapped_column(EncryptedText, deferred=True, deferred_group="text")
    police_report_number: Mapped[str | None] = mapped_column(EncryptedText, deferred=True, deferred_group="text")
    description: Mapped[str | None] = mapped_column(EncryptedText, deferred=True, deferred_group="text")
    # An anonymous reporter's optional answers: who they are (REPORTER_RELATIONS) and, encrypted, a name and class.
    reporter_relation: Mapped[str | None] = mapped_column(String(16))
    reporter_identity: Mapped[str | None] = mapped_column(EncryptedText, deferred=True, deferred_group="text")
    # The conversation with the reporter: when they last wrote, when the school last wrote, when they last looked.
    reporter_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    staff_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reporter_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default=CaseStatus.NEW)
    outcome: Mapped[str | None] = mapped_column(String(32))
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    submission_token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ack_escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    purge_warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    school: Mapped[School] = relationship()
    reporter: Mapped[User | None] = relationship(foreign_keys=[reporter_id])
    assignees: Mapped[list[CaseAssignee]] = relationship(back_populates="case", cascade="all, delete-orphan")
    exclusions: Mapped[list[CaseExclusion]] = relationship(cascade="all, delete-orphan")
    entries: Mapped[list[ResponseEntry]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="ResponseEntry.id")
    duties: Mapped[list[DutyItem]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="DutyItem.id")
    messages: Mapped[list[CaseMessage]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="CaseMessage.id")
    receipt: Mapped[ReceiptCode | None] = relationship(cascade="all, delete-orphan")
    takedown_items: Mapped[list[TakedownItem]] = relationship(cascade="all, delete-orphan",
                                                              order_by="TakedownItem.id")

    @property
    def anonymous(self) -> bool:
        return self.kind == "anonymous"

    @property
    def new_reply(self) -> bool:
        """The school wrote to the reporter since they last looked."""
        return self.staff_message_at is not None and (self.reporter_seen_at is None
                                                      or self.staff_message_at > self.reporter_seen_at)

    @property
    def category_list(self) -> list[str]:
        return [c for c in self.categories.split(",") if c]

    @property
    def platform_list(self) -> list[str]:
        return [p for p in self.platforms.split(",") if p]


class CaseCounter(db.Model):
    """The last reference number given out per school and year; its row lock keeps numbers unique."""

    __tablename__ = "case_counters"

    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


class CaseAssignee(db.Model):
    """A counselor (or, without counselors, a school admin) who handles a case."""

    __tablename__ = "case_assignees"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[Case] = relationship(back_populates="assignees")
    user: Mapped[User] = relationship()


class CaseExclusion(db.Model):
    """Staff the reporter named as having a conflict of interest: they never see the case."""

    __tablename__ = "case_exclusions"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)


class ResponseEntry(db.Model):
    """One thing the school did, appended to the case's chronology; never edited or deleted."""

    __tablename__ = "response_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(32))
    happened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    logged_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    text: Mapped[str | None] = mapped_column(EncryptedText)
    agency: Mapped[str | None] = mapped_column(EncryptedText)
    report_number: Mapped[str | None] = mapped_column(EncryptedText)
    link: Mapped[str | None] = mapped_column(EncryptedText)
    platform: Mapped[str | None] = mapped_column(String(16))
    takedown_status: Mapped[str | None] = mapped_column(String(16))
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("response_entries.id"))
    duty_id: Mapped[str | None] = mapped_column(String(40))  # the checklist item a duty decision concerns
    after_close: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # a late addendum
    message_id: Mapped[int | None] = mapped_column(ForeignKey("case_messages.id", ondelete="CASCADE"))
    takedown_item_id: Mapped[int | None] = mapped_column(ForeignKey("takedown_items.id", ondelete="CASCADE"))

    case: Mapped[Case] = relationship(back_populates="entries")
    author: Mapped[User | None] = relationship()
    message: Mapped[CaseMessage | None] = relationship()
    takedown_item: Mapped[TakedownItem | None] = relationship()


class CaseMessage(db.Model):
    """One message between the school and the person who reported: the only case text a reporter ever reads.

    Kept apart from the response log (which reporters never see); each message also has a log entry, so the
    chronology shows the conversation in its place. A reporter's later additions to their report are messages too.
    """

    __tablename__ = "case_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    from_reporter: Mapped[bool] = mapped_column(Boolean)
    # The counselor who wrote, or the signed-in reporter; None for an anonymous reporter.
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(EncryptedText)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[Case] = relationship(back_populates="messages")
    author: Mapped[User | None] = relationship()


class ReceiptCode(db.Model):
    """How an anonymous reporter comes back: a public lookup part and a secret part, the secret kept only as an
    argon2 hash (as passwords are). Wrong guesses are counted per code; enough of them pause it for a while."""

    __tablename__ = "receipt_codes"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    lookup: Mapped[str] = mapped_column(String(8), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(255))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReporterSession(db.Model):
    """An anonymous reporter's open conversation after they sent a report or entered their code: the browser holds
    a random token, the database only its SHA-256. It ends after a short idle time, on "End" and on quick exit."""

    __tablename__ = "reporter_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class DutyItem(db.Model):
    """A legal or procedural duty on a case, with its deadline, done when a matching log entry exists."""

    __tablename__ = "duty_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    duty_id: Mapped[str] = mapped_column(String(40))
    satisfied_by: Mapped[str] = mapped_column(String(32))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_entry_id: Mapped[int | None] = mapped_column(ForeignKey("response_entries.id"))
    # Marked "not applicable" with a reason, which is the entry it points to.
    not_applicable_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    not_applicable_entry_id: Mapped[int | None] = mapped_column(ForeignKey("response_entries.id"))
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    case: Mapped[Case] = relationship(back_populates="duties")


class TakedownItem(db.Model):
    """One link, channel or account where the material was posted (or the victim's personal details posted with
    it), confirmed by a counselor, and how far its removal has come. Every change is also a log entry."""

    __tablename__ = "takedown_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="link")  # one of ITEM_KINDS
    # The link or handle in its normal form (services/handles.py); for personal details, where they were posted,
    # if known. Case content: encrypted, never in a URL, a log line or an e-mail.
    target: Mapped[str | None] = mapped_column(EncryptedText)
    detail_kinds: Mapped[str] = mapped_column(String(60), default="")  # comma-separated DETAIL_KINDS
    platform: Mapped[str] = mapped_column(String(16), default="other")
    status: Mapped[str] = mapped_column(String(16), default="found")  # one of ITEM_STATUSES
    found_at: Mapped[datetime] = mapped_column(UTCDateTime)
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reappeared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The reference the platform or the support center gave the latest request (encrypted like a report number).
    reference: Mapped[str | None] = mapped_column(EncryptedText)
    # Set when a counselor found it is the same channel as another item: it then lives on in that one.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("takedown_items.id", ondelete="SET NULL"))
    # The district signal's keyed HMAC of the link (crypto.signal_mac), set by the takedown service on a link item of
    # an open case that is not merged, and None otherwise: equal MACs are the same channel, and without SIGNAL_KEY
    # (outside the database) a MAC says nothing about which channel it is.
    handle_mac: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    requested_by: Mapped[User | None] = relationship()

    @property
    def detail_list(self) -> list[str]:
        return [d for d in self.detail_kinds.split(",") if d]


class Notification(db.Model):
    """An in-portal notice about a case: a kind and the case, never its content."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    case: Mapped[Case | None] = relationship()


class CaseFigure(db.Model):
    """A running count for the dashboards: the cases a school opened in a month, by category and by platform, and
    how long they took to acknowledge (in tenths of an hour). Counted as cases open and are acknowledged, so a
    dashboard reads a few hundred rows however many cases the school has had (services/figures.py)."""

    __tablename__ = "case_figures"

    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM of the case's opening, in UTC
    figure: Mapped[str] = mapped_column(String(40), primary_key=True)  # opened, category:…, platform:…, ack:<tenths>
    count: Mapped[int] = mapped_column(Integer, default=0)


class CaseTombstone(db.Model):
    """What is left of a purged case: enough to answer "was there a case, and how did it end", nothing more."""

    __tablename__ = "case_tombstones"

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    reference: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(20))
    categories: Mapped[str] = mapped_column(String(120), default="")
    outcome: Mapped[str | None] = mapped_column(String(32))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    purged_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
