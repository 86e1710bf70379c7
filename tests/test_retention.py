"""Retention: closed cases are warned about and then purged to a tombstone; departed students' lesson data goes too."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update

from portal.extensions import db
from portal.models import (
    AuditEvent,
    Case,
    CaseAssignee,
    CaseStatus,
    CaseTombstone,
    DutyItem,
    LessonProgress,
    Notification,
    ResponseEntry,
    School,
    User,
)
from portal.models.base import utcnow
from portal.services import accounts, audit, background, cases, retention

CANARY = "RETENTION-CANARY-5d1e"
RETENTION_DAYS = 100


@pytest.fixture
def people(app, make_user):
    ids = {
        "lead": make_user(role="counselor", lead=True),
        "counselor": make_user(role="counselor"),
        "teacher": make_user(role="teacher"),
        "admin": make_user(role="school_admin"),
    }
    with app.app_context():
        db.session.execute(update(School).values(retention_days=RETENTION_DAYS))
        db.session.commit()
    return ids


def closed_case(app, people, token: str, *, close=True) -> int:
    """A case with a log (a correction and a police report that satisfies a duty), closed now."""
    with app.app_context():
        get = db.session.get
        teacher, lead = get(User, people["teacher"]), get(User, people["lead"])
        case, _ = cases.submit_report(db.session, teacher, cases.ReportData(
            ["creation", "distribution"], "student", victim_names=f"{CANARY}-name", description=f"{CANARY}-text"),
            token)
        now = utcnow()
        cases.acknowledge(db.session, lead, case, now=now)
        first = cases.add_entry(db.session, lead, case, "note", now, f"{CANARY}-note", now=now)
        cases.add_entry(db.session, lead, case, "note", now, f"{CANARY}-correction", corrects_id=first.id, now=now)
        cases.add_entry(db.session, lead, case, "police_report", now, None, agency=f"{CANARY}-agency", now=now)
        if close:
            cases.close(db.session, lead, case, "referred_to_police", now=now)
        db.session.commit()
        return case.id


def run(app, now, **kwargs):
    with app.app_context():
        report = retention.run(db.session, app.config, now, **kwargs)
        db.session.commit()
        return report


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def purge_warnings(app) -> list[int]:
    with app.app_context():
        return list(db.session.scalars(select(Notification.user_id).where(Notification.kind == "purge_warning")))


def ciphertexts(app, case_id) -> list[str]:
    with app.app_context():
        values = list(db.session.execute(text("SELECT description FROM cases WHERE id = :id"), {"id": case_id})
                      .scalars())
        values += db.session.execute(text("SELECT text FROM response_entries WHERE case_id = :id"),
                                     {"id": case_id}).scalars().all()
        return [v for v in values if v]


def is_sqlite(app) -> bool:
    return app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")


def raw_database(app) -> bytes:
    """The SQLite database file and its write-ahead log, as bytes on disk."""
    if not is_sqlite(app):
        return b""
    with app.app_context():
        path = Path(db.engine.url.database)
    wal = Path(str(path) + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def test_closed_case_is_warned_then_purged_to_a_tombstone(app, people):
    case_id = closed_case(app, people, "ret-0000000000000001")
    with app.app_context():
        case = db.session.get(Case, case_id)
        reference, opened, closed, updated = case.reference, case.created_at, case.closed_at, case.updated_at
    sealed = ciphertexts(app, case_id)
    assert len(sealed) == 3 and not any(CANARY in v for v in sealed)
    due = max(closed, updated) + timedelta(days=RETENTION_DAYS)

    assert run(app, due - timedelta(days=31)).total == 0
    assert purge_warnings(app) == []
    warned = run(app, due - timedelta(days=30) + timedelta(hours=1))
    assert (warned.warned, warned.purged) == (1, 0)
    assert purge_warnings(app) == [people["lead"]]  # the lead only, once
    with app.app_context():
        case = db.session.get(Case, case_id)
        assert case.updated_at == updated  # the notice does not restart the retention clock
        from portal.services import notify

        with app.test_request_context(headers={"Accept-Language": "en"}):
            note = db.session.scalar(select(Notification).where(Notification.kind == "purge_warning"))
            assert notify.describe(note) == f"Closed case {reference} will be deleted in 30 days under the " \
                                            "retention period"
    assert run(app, due - timedelta(days=29)).total == 0
    assert purge_warnings(app) == [people["lead"]]

    assert all(v.split(":")[-1].encode() in raw_database(app) for v in sealed) or not is_sqlite(app)
    purged = run(app, due + timedelta(hours=1))
    assert purged.purged == 1
    assert count(app, Case) == 0
    for model in (ResponseEntry, DutyItem, CaseAssignee, Notification):
        assert count(app, model) == 0, model
    with app.app_context():
        stone = db.session.scalar(select(CaseTombstone))
        assert (stone.reference, stone.kind, stone.categories, stone.outcome) == (
            reference, "incident", "creation,distribution", "referred_to_police")
        assert stone.opened_at == opened and stone.closed_at == closed
        assert stone.purged_at == due + timedelta(hours=1)
        rows = db.session.execute(select(AuditEvent.action, AuditEvent.target).where(
            AuditEvent.case_id == case_id, AuditEvent.action.in_(["purge_warned", "case_purged"]))).all()
        assert [tuple(r) for r in rows] == [("purge_warned", reference), ("case_purged", reference)]
        assert audit.verify(db.session)[1] is None  # the audit rows stay, and the chain with them
    assert run(app, due + timedelta(days=400)).total == 0

    if is_sqlite(app):
        # The encrypted values are overwritten (secure_delete) and not left in the write-ahead log either.
        with app.app_context():
            db.session.remove()
            retention.checkpoint(db.engine)
        raw = raw_database(app)
        for value in sealed:
            assert value.split(":")[-1].encode() not in raw


def test_reopened_case_is_never_purged(app, people):
    case_id = closed_case(app, people, "ret-0000000000000002")
    with app.app_context():
        case = db.session.get(Case, case_id)
        cases.reopen(db.session, db.session.get(User, people["lead"]), case)
        db.session.commit()
    assert run(app, utcnow() + timedelta(days=RETENTION_DAYS * 20)).total == 0
    assert count(app, Case) == 1 and count(app, CaseTombstone) == 0


def test_recently_updated_case_is_kept(app, people):
    case_id = closed_case(app, people, "ret-0000000000000003")
    now = utcnow()
    with app.app_context():
        # Closed long ago, but changed recently: its clock starts from the change.
        db.session.execute(update(Case.__table__).where(Case.__table__.c.id == case_id).values(
            closed_at=now - timedelta(days=RETENTION_DAYS * 3), updated_at=now - timedelta(days=5)))
        db.session.commit()
    assert run(app, now).total == 0
    assert run(app, now + timedelta(days=RETENTION_DAYS - 5 - 30)).warned == 1
    assert run(app, now + timedelta(days=RETENTION_DAYS - 5 - 1)).purged == 0
    assert run(app, now + timedelta(days=RETENTION_DAYS - 5 + 1)).purged == 1


def test_an_overdue_case_is_purged_only_30_days_after_its_warning(app, people):
    """A school that shortens its retention period does not lose cases without notice."""
    case_id = closed_case(app, people, "ret-0000000000000004")
    now = utcnow() + timedelta(days=RETENTION_DAYS * 5)
    first = run(app, now)
    assert (first.warned, first.purged) == (1, 0)
    assert run(app, now + timedelta(days=29)).purged == 0
    assert run(app, now + timedelta(days=30)).purged == 1
    assert count(app, Case, Case.id == case_id) == 0


def test_open_cases_are_never_touched(app, people):
    closed_case(app, people, "ret-0000000000000005", close=False)
    assert run(app, utcnow() + timedelta(days=RETENTION_DAYS * 20)).total == 0
    assert count(app, Case) == 1


def test_warning_from_before_a_reopening_does_not_count():
    now = utcnow()
    case = Case(status=CaseStatus.CLOSED, closed_at=now - timedelta(days=200), updated_at=now - timedelta(days=200),
                purge_warned_at=now - timedelta(days=250))
    assert retention.decision(case, 100, now) == "warn"
    case.purge_warned_at = now - timedelta(days=31)
    assert retention.decision(case, 100, now) == "purge"
    case.status = CaseStatus.IN_PROGRESS
    assert retention.decision(case, 100, now) is None


def test_without_a_lead_the_school_admins_are_warned(app, people):
    closed_case(app, people, "ret-0000000000000006")
    with app.app_context():
        db.session.execute(update(User).values(is_lead=False))
        db.session.commit()
    run(app, utcnow() + timedelta(days=RETENTION_DAYS))
    assert purge_warnings(app) == [people["admin"]]


def test_dry_run_changes_nothing(app, people):
    closed_case(app, people, "ret-0000000000000007")
    later = utcnow() + timedelta(days=RETENTION_DAYS * 5)
    report = run(app, later, dry_run=True)
    assert report.warned == 1
    assert purge_warnings(app) == [] and count(app, AuditEvent, AuditEvent.action == "purge_warned") == 0


def add_progress(app, user_id, slugs):
    with app.app_context():
        for slug in slugs:
            db.session.add(LessonProgress(user_id=user_id, lesson_slug=slug, attempts=1, best_score=80))
        db.session.commit()


def test_lesson_data_of_departed_students_is_purged_after_its_period(app, make_user):
    assert app.config["STUDENT_DATA_RETENTION_DAYS"] == 365
    left_long_ago, left_recently, still_here = (make_user(role="student") for _ in range(3))
    teacher_gone = make_user(role="teacher")
    now = utcnow()
    for user_id in (left_long_ago, left_recently, still_here, teacher_gone):
        add_progress(app, user_id, ["a1-pictures-can-change", "a2-ask-before-you-share"])
    with app.app_context():
        get = db.session.get
        accounts.set_active(get(User, left_long_ago), False, now=now - timedelta(days=366))
        accounts.set_active(get(User, left_recently), False, now=now - timedelta(days=300))
        accounts.set_active(get(User, teacher_gone), False, now=now - timedelta(days=900))
        db.session.commit()
    report = run(app, now)
    assert (report.students, report.lesson_rows) == (1, 2)
    assert count(app, LessonProgress, LessonProgress.user_id == left_long_ago) == 0
    for user_id in (left_recently, still_here, teacher_gone):
        assert count(app, LessonProgress, LessonProgress.user_id == user_id) == 2
    assert count(app, User, User.id == left_long_ago) == 1  # the account itself stays, deactivated
    assert count(app, AuditEvent, AuditEvent.action == "student_data_purged") == 1
    assert run(app, now + timedelta(days=65)).lesson_rows == 2  # the second one's period ends too


def test_background_check_runs_once_a_day(app, monkeypatch):
    calls = []
    monkeypatch.setattr(retention, "purge", lambda session, app_, now: calls.append(now) or 0)
    day = utcnow().replace(hour=1)
    for hours in (0, 5, 20):
        results = background.run_checks(app, day + timedelta(hours=hours))
        assert results["daily_purge"] == 0
    assert len(calls) == 1
    # Another process of the deployment (`portal tick` from cron starts a new one each minute) finds the day's
    # lease in the database and does not purge again.
    app.extensions.pop("portal.retention_day")
    background.run_checks(app, day + timedelta(hours=21))
    assert len(calls) == 1
    background.run_checks(app, day + timedelta(days=1))
    assert len(calls) == 2


def test_portal_purge_command(app, people):
    case_id = closed_case(app, people, "ret-0000000000000008")
    long_ago = utcnow() - timedelta(days=RETENTION_DAYS * 5)
    with app.app_context():
        db.session.execute(update(Case.__table__).where(Case.__table__.c.id == case_id).values(
            closed_at=long_ago, updated_at=long_ago, purge_warned_at=utcnow() - timedelta(days=31)))
        db.session.commit()
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["purge", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "Dry run" in dry.output and "purged (a tombstone is kept): 1" in dry.output
    assert count(app, Case) == 1
    real = runner.invoke(args=["purge"])
    assert real.exit_code == 0, real.output
    assert "purged (a tombstone is kept): 1" in real.output
    assert count(app, Case) == 0 and count(app, CaseTombstone) == 1


def test_key_rotation_does_not_restart_the_retention_clock(app, people):
    from portal.services import keys

    case_id = closed_case(app, people, "ret-0000000000000009")
    long_ago = utcnow() - timedelta(days=RETENTION_DAYS * 5)
    with app.app_context():
        db.session.execute(update(Case.__table__).where(Case.__table__.c.id == case_id).values(
            closed_at=long_ago, updated_at=long_ago))
        db.session.commit()
        keys.rotate(app, db.session)
        db.session.commit()
        assert db.session.get(Case, case_id).updated_at == long_ago
