"""The conversation between a case's counselors and the person who reported it.

One model (CaseMessage) serves an anonymous reporter holding a receipt code, a teacher answering a question on
their report (or adding what they learned later) and a student on their request. Messages are the only case text
a reporter reads; internal notes stay in the response log. Each message is also a log entry, so the chronology
shows it in its place, and an audit row. Notices carry the case reference only, never a message.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from portal.models import Case, CaseMessage, CaseStatus, Notification, ResponseEntry, User
from portal.models.base import utcnow
from portal.services import audit, notify
from portal.services.cases import CaseError, acknowledge, refresh_next_due

MESSAGE_MAX = 4000
REPORTER_MESSAGES_PER_HOUR = 20  # per case: someone holding a code cannot flood the counselors


def has_reporter(case: Case) -> bool:
    """Someone can read the school's messages: a signed-in reporter, or an anonymous one with a receipt code."""
    return case.reporter_id is not None or case.receipt is not None


def _message(session: Session, case: Case, text: str | None, *, from_reporter: bool, author: User | None,
             now: datetime) -> CaseMessage:
    text = (text or "").strip()
    if not text:
        raise CaseError("message_required")
    if len(text) > MESSAGE_MAX:
        raise CaseError("message_too_long")
    message = CaseMessage(case_id=case.id, from_reporter=from_reporter, author_id=author.id if author else None,
                          text=text, created_at=now)
    session.add(message)
    session.flush()
    session.add(ResponseEntry(case_id=case.id, author_id=author.id if author else None,
                              kind="message_from_reporter" if from_reporter else "message_to_reporter",
                              happened_at=now, logged_at=now, message_id=message.id,
                              after_close=case.status == CaseStatus.CLOSED))
    case.updated_at = now
    return message


def write_to_reporter(session: Session, user: User, case: Case, text: str | None, address: str | None = None,
                      now: datetime | None = None) -> CaseMessage:
    """A counselor writes to the reporter. Answering a new case acknowledges it: someone is looking at it."""
    now = now or utcnow()
    if not has_reporter(case):
        raise CaseError("no_reporter")
    if case.status == CaseStatus.NEW:
        acknowledge(session, user, case, address, now)
    message = _message(session, case, text, from_reporter=False, author=user, now=now)
    if case.status == CaseStatus.ACKNOWLEDGED:
        case.status = CaseStatus.IN_PROGRESS
    case.staff_message_at = now
    refresh_next_due(case)
    audit.record(session, "message_sent", actor=user, case_id=case.id, school_id=case.school_id,
                 target=f"message:{message.id}", address=address)
    if case.reporter is not None:
        notify.reporter_reply(session, case)
    return message


def write_to_school(session: Session, case: Case, text: str | None, *, reporter: User | None = None,
                    address: str | None = None, now: datetime | None = None) -> CaseMessage:
    """The reporter writes: an answer, or something learned later. The case's counselors are told (reference
    only) and the case is marked in their inbox until they open it. Anonymous: no account and no address."""
    now = now or utcnow()
    recent = session.scalar(select(func.count()).select_from(CaseMessage).where(
        CaseMessage.case_id == case.id, CaseMessage.from_reporter.is_(True),
        CaseMessage.created_at > now - timedelta(hours=1)))
    if recent >= REPORTER_MESSAGES_PER_HOUR:
        raise CaseError("too_many_messages")
    message = _message(session, case, text, from_reporter=True, author=reporter, now=now)
    case.reporter_message_at = case.reporter_seen_at = now
    audit.record(session, "reporter_message", actor=reporter, case_id=case.id, school_id=case.school_id,
                 target=f"message:{message.id}", address=address if reporter else None)
    # One waiting notice (and mail) per counselor until they open the case: ten messages are not ten mails.
    waiting = set(session.scalars(select(Notification.user_id).where(
        Notification.case_id == case.id, Notification.kind == "reporter_message", Notification.read_at.is_(None))))
    notify.notify(session, [a.user for a in case.assignees if a.user_id not in waiting], case, "reporter_message")
    return message


def seen_by_reporter(session: Session, case: Case, reporter: User | None = None, address: str | None = None,
                     now: datetime | None = None) -> None:
    """The reporter opened the conversation: an audited read, and the school's replies are no longer new."""
    # A plain UPDATE that keeps updated_at: a reporter reading must not restart the case's retention clock.
    table = Case.__table__
    session.execute(update(table).where(table.c.id == case.id)
                    .values(reporter_seen_at=now or utcnow(), updated_at=table.c.updated_at))
    audit.record(session, "reporter_viewed", actor=reporter, case_id=case.id, school_id=case.school_id,
                 address=address if reporter else None)
