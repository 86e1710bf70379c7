"""Keeping data for the right time and not longer: closed cases, and the lesson data of students who left."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import delete, exists, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from portal.models import (
    Case,
    CaseAssignee,
    CaseExclusion,
    CaseMessage,
    CaseStatus,
    CaseTombstone,
    DutyItem,
    LessonProgress,
    Notification,
    ReceiptCode,
    ReporterSession,
    ResponseEntry,
    Role,
    School,
    TakedownItem,
    User,
)
from portal.services import audit, background, notify
from portal.services.background import CHECKS
from portal.services.schools import lead_counselor

# The lead hears about a purge this long before it happens, and a case is never purged sooner after that notice.
WARNING_DAYS = 30


@dataclass
class RetentionReport:
    """What one run did (or, for a dry run, would do)."""

    warned: int = 0
    purged: int = 0
    students: int = 0
    lesson_rows: int = 0

    @property
    def total(self) -> int:
        return self.warned + self.purged + self.lesson_rows


def _last_activity(case: Case) -> datetime:
    return max(case.closed_at, case.updated_at)


def decision(case: Case, retention_days: int, now: datetime) -> str | None:
    """Decide what retention does with one case now: "warn", "purge" or None.

    A case is due `retention_days` after it was closed and last changed; reopened cases are never due. The lead is
    warned once, 30 days before, and the case goes only when it is due and that notice is 30 days old: lowering a
    school's retention period never deletes a case without notice. A warning from before a reopening does not count.
    """
    if case.status != CaseStatus.CLOSED or case.closed_at is None:
        return None
    last = _last_activity(case)
    due = last + timedelta(days=retention_days)
    warned = case.purge_warned_at if case.purge_warned_at and case.purge_warned_at >= last else None
    if warned is None:
        return "warn" if now >= due - timedelta(days=WARNING_DAYS) else None
    if now >= due and now >= warned + timedelta(days=WARNING_DAYS):
        return "purge"
    return None


def _candidates(session: Session, now: datetime) -> list[tuple[School, Case]]:
    found = []
    for school in session.scalars(select(School).order_by(School.id)).all():
        horizon = now - timedelta(days=max(school.retention_days - WARNING_DAYS, 0))
        cases = session.scalars(select(Case).where(Case.school_id == school.id, Case.status == CaseStatus.CLOSED,
                                                   Case.closed_at <= horizon, Case.updated_at <= horizon)
                                .order_by(Case.id)).all()
        found.extend((school, case) for case in cases)
    return found


def _warning_recipients(session: Session, case: Case) -> list[User]:
    """The lead counselor; without one (or when the lead is excluded from the case), the school admins."""
    excluded = {ex.user_id for ex in case.exclusions}
    lead = lead_counselor(session, case.school_id)
    if lead is not None and lead.id not in excluded:
        return [lead]
    admins = session.scalars(select(User).where(User.school_id == case.school_id, User.role == Role.SCHOOL_ADMIN,
                                                User.active.is_(True))).all()
    return [a for a in admins if a.id not in excluded]


def _warn(session: Session, case: Case, now: datetime, address: str) -> None:
    notify.notify(session, _warning_recipients(session, case), case, "purge_warning")
    # A plain UPDATE that keeps updated_at as it is: the notice itself must not restart the retention clock.
    session.execute(update(Case.__table__).where(Case.__table__.c.id == case.id)
                    .values(purge_warned_at=now, updated_at=Case.__table__.c.updated_at))
    session.expire(case)
    audit.record(session, "purge_warned", case_id=case.id, school_id=case.school_id, target=case.reference,
                 address=address)


def purge_case(session: Session, case: Case, now: datetime, address: str = "tick") -> CaseTombstone:
    """Delete a case with its report, log, takedown items, conversation, receipt code, duties, assignees and
    notices; leave a tombstone and an audit row."""
    case_id, school_id, reference = case.id, case.school_id, case.reference
    tombstone = CaseTombstone(school_id=school_id, reference=reference, kind=case.kind, categories=case.categories,
                              outcome=case.outcome, opened_at=case.created_at, closed_at=case.closed_at,
                              purged_at=now)
    session.add(tombstone)
    session.flush()
    session.expunge(case)
    entry_ids = select(ResponseEntry.id).where(ResponseEntry.case_id == case_id).scalar_subquery()
    entries, duties = ResponseEntry.__table__, DutyItem.__table__
    # Corrections and satisfied duties point at log entries without ON DELETE: unhook them first.
    session.execute(update(entries).where(entries.c.corrects_id.in_(entry_ids)).values(corrects_id=None))
    session.execute(update(duties).where(duties.c.done_entry_id.in_(entry_ids)).values(done_entry_id=None))
    for model in (DutyItem, ResponseEntry, TakedownItem, CaseMessage, ReceiptCode, ReporterSession, CaseAssignee,
                  CaseExclusion, Notification):
        session.execute(delete(model.__table__).where(model.__table__.c.case_id == case_id))
    session.execute(delete(Case.__table__).where(Case.__table__.c.id == case_id))
    audit.record(session, "case_purged", case_id=case_id, school_id=school_id, target=reference, address=address)
    return tombstone


def _departed_students(session: Session, config, now: datetime) -> list[User]:
    cutoff = now - timedelta(days=int(config.get("STUDENT_DATA_RETENTION_DAYS", 365)))
    has_progress = exists().where(LessonProgress.user_id == User.id)
    return list(session.scalars(select(User).where(
        User.role == Role.STUDENT, User.active.is_(False), User.deactivated_at.isnot(None),
        User.deactivated_at <= cutoff, has_progress).order_by(User.id)))


def run(session: Session, config, now: datetime, *, dry_run: bool = False, address: str = "tick") -> RetentionReport:
    """Warn about, and purge, closed cases past their school's retention period; purge departed students' lessons."""
    report = RetentionReport()
    if not dry_run:
        audit.hold_head(session)  # before the first case's notices: a case view takes the head first, then those
    for school, case in _candidates(session, now):
        action = decision(case, school.retention_days, now)
        if action == "warn":
            report.warned += 1
            if not dry_run:
                _warn(session, case, now, address)
        elif action == "purge":
            report.purged += 1
            if not dry_run:
                purge_case(session, case, now, address)
    for student in _departed_students(session, config, now):
        rows = select(LessonProgress.id).where(LessonProgress.user_id == student.id)
        count = len(session.scalars(rows).all())
        report.students += 1
        report.lesson_rows += count
        if not dry_run:
            session.execute(delete(LessonProgress).where(LessonProgress.user_id == student.id))
            audit.record(session, "student_data_purged", school_id=student.school_id,
                         target=f"user:{student.id}:lesson_progress:{count}", address=address)
    return report


def purge(session: Session, app: Flask, now: datetime) -> int:
    """Apply the retention rules once; returns how many things it did (warnings, cases, lesson rows)."""
    return run(session, app.config, now).total


def checkpoint(engine: Engine) -> None:
    """Fold SQLite's write-ahead log into the database file so purged pages do not linger in the WAL."""
    if engine.dialect.name != "sqlite":
        return
    raw = engine.raw_connection()
    try:
        raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()


def daily_purge(session: Session, app: Flask, now: datetime) -> int:
    """The background check: apply the retention rules once a (UTC) day per deployment, however many servers and
    `portal tick` processes run (a lease in the database until the next midnight)."""
    today = now.date().isoformat()
    if app.extensions.get("portal.retention_day") == today:
        return 0
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=now.tzinfo)
    if not background.claim(app, midnight - now, now, name="retention"):
        return 0  # another process of this deployment has done today's (or the database is down: try again)
    app.extensions["portal.retention_day"] = today
    done = purge(session, app, now)
    session.commit()
    if done:
        checkpoint(session.get_bind())
    return done


def init_app(app: Flask) -> None:
    """Add the daily purge to the background checks (`portal serve` and `portal tick` run them)."""
    if daily_purge not in CHECKS:
        CHECKS.append(daily_purge)
