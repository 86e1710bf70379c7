"""A school's years of cases: the inbox's pages, what needs attention counted in SQL, the dashboards' running
counts. (The timings themselves are measured by bench/scale.py, not here.)"""

from __future__ import annotations

import contextlib
import re
import threading
from datetime import timedelta

import pytest
from casehelpers import HOLD_HEAD, file_report, wait_until_it_waits_for_a_lock
from conftest import TOKEN_RE
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import ProgrammingError

from portal.extensions import db
from portal.models import Case, CaseAssignee, CaseFigure, CaseStatus, School, User
from portal.models.base import utcnow
from portal.services import cases, figures, stats

REFERENCE = re.compile(r">(HANBIT-\d{4}-\d{4})</a>")
NEXT = re.compile(r'href="(/cases/\?[^"]*after=[^"]+)"')


@pytest.fixture
def people(make_user):
    return {"lead": make_user(role="counselor", lead=True), "teacher": make_user(role="teacher"),
            "admin": make_user(role="school_admin")}


def open_cases(app, teacher_id: int, count: int, *, start=None, step=timedelta(minutes=7), urgent_every=5,
               victim="staff", batch="scale") -> list[int]:
    """`count` cases from the teacher's reports, opened `step` apart from `start`; every fifth urgent."""
    start = start or utcnow() - timedelta(days=2)
    ids = []
    with app.app_context():
        teacher = db.session.get(User, teacher_id)
        for number in range(count):
            data = cases.ReportData(["creation", "distribution"][: 1 + number % 2], victim, platforms=["telegram"],
                                    urgent=number % urgent_every == 0)
            case, _ = cases.submit_report(db.session, teacher, data, f"tok-{batch}-{number:010d}",
                                          now=start + step * number)
            ids.append(case.id)
        db.session.commit()
    return ids


def close_directly(app, case_ids: list[int]) -> None:
    with app.app_context():
        db.session.execute(update(Case).where(Case.id.in_(case_ids)).values(status=CaseStatus.CLOSED,
                                                                            closed_at=utcnow(), next_due_at=None))
        db.session.commit()


def walk(client, path: str) -> tuple[list[str], int]:
    """Every reference on every page from `path`, following the "Next page" links; and how many pages."""
    seen, pages = [], 0
    while path:
        page = client.get(path)
        assert page.status_code == 200
        body = page.get_data(as_text=True)
        seen += REFERENCE.findall(body)
        pages += 1
        found = NEXT.search(body)
        path = found.group(1).replace("&amp;", "&") if found else None
    return seen, pages


def expected_order(app, lead_id: int, status: str) -> list[str]:
    with app.app_context():
        lead = db.session.get(User, lead_id)
        return [c.reference for c in db.session.scalars(cases.inbox_query(lead, status=status, now=utcnow()))]


def test_the_inbox_pages_through_every_case_once_in_order(app, people, login):
    ids = open_cases(app, people["teacher"], 130)
    close_directly(app, ids[:70])  # 60 open, 70 closed
    lead = app.test_client()
    login(lead, people["lead"])

    first = lead.get("/cases/").get_data(as_text=True)
    assert "해당하는 사안: 60건" in first and len(REFERENCE.findall(first)) == cases.PAGE_SIZE
    open_refs, pages = walk(lead, "/cases/")
    assert pages == 2 and open_refs == expected_order(app, people["lead"], "open")
    assert len(set(open_refs)) == 60
    second = lead.get(NEXT.search(first).group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert "해당하는 사안: 60건" in second  # the count is of all the open cases, on every page

    closed_refs, pages = walk(lead, "/cases/?status=closed")
    assert pages == 2 and closed_refs == expected_order(app, people["lead"], "closed")  # newest first

    # "All": the open cases first, then the closed ones, across the page boundary in between.
    all_refs, pages = walk(lead, "/cases/?status=all")
    assert all_refs == open_refs + closed_refs and pages == 3
    assert "해당하는 사안" not in lead.get("/cases/?status=all").get_data(as_text=True)  # only open ones are counted

    # The filters stay on the next page's link.
    urgent, _ = walk(lead, "/cases/?attention=urgent")
    with app.app_context():
        want = {c.reference for c in db.session.scalars(select(Case).where(Case.urgent.is_(True),
                                                                         Case.status != CaseStatus.CLOSED))}
    assert set(urgent) == want and len(urgent) == len(want) == 12
    assert "해당하는 사안: 12건" in lead.get("/cases/?attention=urgent").get_data(as_text=True)


def test_an_unknown_or_foreign_page_marker_starts_at_the_first_page(app, people, login, make_user):
    open_cases(app, people["teacher"], 3)
    other_lead = make_user(role="counselor", school="saesol", lead=True)
    other_teacher = make_user(role="teacher", school="saesol")
    with app.app_context():
        teacher = db.session.get(User, other_teacher)
        foreign, _ = cases.submit_report(db.session, teacher, cases.ReportData(["other"], "staff"), "tok-foreign-0001")
        db.session.commit()
        foreign_id = foreign.public_id
    assert other_lead
    lead = app.test_client()
    login(lead, people["lead"])
    first = REFERENCE.findall(lead.get("/cases/").get_data(as_text=True))
    for marker in ("nonsense", foreign_id, "x" * 500, "%00", ""):
        response = lead.get("/cases/", query_string={"after": marker})
        assert response.status_code == 200
        assert REFERENCE.findall(response.get_data(as_text=True)) == first


def test_attention_in_sql_agrees_with_each_cases_deadlines(app, people):
    """The inbox filter and the landing page count with SQL clauses; each case's badge uses deadlines(). Over a
    day and a half of one school's cases, both must put every case in the same groups."""
    start = utcnow() - timedelta(hours=30)
    ids = open_cases(app, people["teacher"], 24, start=start, step=timedelta(hours=1), urgent_every=3,
                     victim="student")  # a student victim: the police duty is due at once
    with app.app_context():
        lead = db.session.get(User, people["lead"])
        for case_id in ids[::4]:  # some acknowledged, some police reports made
            cases.acknowledge(db.session, lead, db.session.get(Case, case_id), now=start + timedelta(hours=30))
        for case_id in ids[1::5]:
            case = db.session.get(Case, case_id)
            cases.add_entry(db.session, lead, case, "police_report", utcnow(), None, agency="서울경찰청",
                            report_number="2026-1")
        db.session.commit()
        school = db.session.scalar(select(School).where(School.code == "hanbit"))
        for later in (timedelta(0), timedelta(minutes=30), timedelta(hours=3), timedelta(days=2)):
            now = utcnow() + later
            everyone = db.session.scalars(select(Case).where(Case.school_id == school.id)).all()
            for what in ("due_now", "overdue"):
                in_sql = set(db.session.scalars(select(Case.id).where(
                    Case.status != CaseStatus.CLOSED, cases.attention_clause(what, school, now, lead))))
                in_python = {c.id for c in everyone if any(d.state == what for d in cases.deadlines(c, now))}
                assert in_sql == in_python, (what, later)
            counts = cases.workload(db.session, lead, now)
            assert counts["overdue"] == len(in_python) and counts["open"] == 24


def test_the_dashboards_count_as_cases_open_and_are_acknowledged(app, people):
    now = utcnow()
    ids = open_cases(app, people["teacher"], 7, start=now - timedelta(hours=10), step=timedelta(minutes=1))
    with app.app_context():
        lead = db.session.get(User, people["lead"])
        # Acknowledged after 1.0, 2.0, 2.5, 3.0, 4.0 and 9.0 hours: the median is 2.5 hours.
        for case_id, hours in zip(ids, (1.0, 2.0, 2.5, 3.0, 4.0, 9.0), strict=False):
            case = db.session.get(Case, case_id)
            cases.acknowledge(db.session, lead, case, now=case.created_at + timedelta(hours=hours))
        db.session.commit()
        school = db.session.scalar(select(School).where(School.code == "hanbit"))
        shown = stats.school_figures(db.session, school, now)
        assert shown.by_month[figures.month_of(now - timedelta(hours=10))] == 7
        assert shown.by_category == {"creation": 7, "distribution": 3}  # every case; every second one also
        assert shown.by_platform == {"telegram": 7}
        assert shown.median_ack_hours == 2.5
        assert shown.open_total == 7

        counted = sorted(db.session.execute(select(CaseFigure.month, CaseFigure.figure, CaseFigure.count)).all())
        assert figures.rebuild(db.session) == 7  # recounting from the cases gives the same rows
        db.session.commit()
        assert sorted(db.session.execute(select(CaseFigure.month, CaseFigure.figure, CaseFigure.count)).all()) \
            == counted


def test_fewer_than_five_acknowledged_cases_show_no_median(app, people):
    ids = open_cases(app, people["teacher"], 4)
    with app.app_context():
        lead = db.session.get(User, people["lead"])
        for case_id in ids:
            cases.acknowledge(db.session, lead, db.session.get(Case, case_id))
        db.session.commit()
        school = db.session.scalar(select(School).where(School.code == "hanbit"))
        assert stats.school_figures(db.session, school).median_ack_hours is None


def _statements(app):
    """Record every statement the app's engine runs from now on."""
    from sqlalchemy import event

    seen = []
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute",
                     lambda conn, cursor, statement, *args: seen.append(statement))
    return seen


def _send_report_recording(app, login, teacher_id: int) -> list[str]:
    """Send a report from its form as the teacher; every statement of the sending request, and "COMMIT" for each
    commit, in order."""
    from sqlalchemy import event

    from portal.testing import SUBMISSION, report_fields

    teacher = app.test_client()
    login(teacher, teacher_id)
    with app.app_context():
        engine = db.engine
    page = teacher.get("/reports/new/form").get_data(as_text=True)
    token = SUBMISSION.search(page)
    fields = report_fields(TOKEN_RE.search(page).group(1), token.group(1) or token.group(2), "what happened")
    statements = _statements(app)
    event.listen(engine, "commit", lambda conn: statements.append("COMMIT"))
    answer = teacher.post("/reports/new/form", data=fields)
    assert answer.status_code == 302 and "/receipt" in answer.headers["Location"]
    return statements


def test_reading_takes_no_write_lock_and_recording_a_view_holds_it_only_to_record(app, people, login, database_url):
    """SQLite has one write lock. The inbox never takes it; a case file reads the user and the case as a reader,
    takes it to write its audit row and renders as a reader, so counselors reading cases do not queue behind each
    other's pages."""
    from portal.database import READ_ONLY_VIEWS

    assert READ_ONLY_VIEWS <= set(app.view_functions)
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL has no database-wide write lock")
    open_cases(app, people["teacher"], 3)
    lead = app.test_client()
    login(lead, people["lead"])
    with app.app_context():
        public_id = db.session.scalar(select(Case.public_id).limit(1))
    statements = _statements(app)
    assert lead.get("/cases/").status_code == 200
    begins = [s for s in statements if s.startswith("BEGIN")]
    assert begins and "BEGIN IMMEDIATE" not in begins
    statements.clear()
    assert lead.get(f"/cases/{public_id}").status_code == 200
    begins = [s for s in statements if s.startswith("BEGIN")]
    assert begins.count("BEGIN IMMEDIATE") == 1 and begins[1] == "BEGIN IMMEDIATE" and set(begins) == {
        "BEGIN", "BEGIN IMMEDIATE"}


def test_a_page_of_50_cases_costs_the_same_statements_as_a_page_of_5(app, people, login, make_user):
    """The inbox reads a page's cases, their open checklist items and the notices in a fixed number of
    statements, and a case file its log in one however many people wrote in it: no statement per row. The people
    the file names are read by name: nobody's password hash or second-factor secret but the viewer's own."""
    ids = open_cases(app, people["teacher"], 5)
    lead = app.test_client()
    login(lead, people["lead"])
    statements = _statements(app)

    def counted(path: str) -> int:
        statements.clear()
        assert lead.get(path).status_code == 200
        return len(statements)

    with app.app_context():
        public_id = db.session.get(Case, ids[0]).public_id
    few_cases, short_log = counted("/cases/"), counted(f"/cases/{public_id}")
    open_cases(app, people["teacher"], 45, start=utcnow() - timedelta(days=1), batch="more")
    authors = [make_user(role="counselor") for _ in range(4)]  # four more counselors write in the case's log
    with app.app_context():
        case = db.session.get(Case, ids[0])
        for number, author in enumerate(authors):
            cases.add_entry(db.session, db.session.get(User, author), case, "note", utcnow(), f"note {number}")
        db.session.commit()
    page = lead.get("/cases/").get_data(as_text=True)
    assert len(REFERENCE.findall(page)) == 50
    assert counted("/cases/") == few_cases
    assert counted(f"/cases/{public_id}") == short_log
    # The file names its counselors and authors, and reads nobody's password hash or second-factor secret but the
    # viewer's own (the sign-in check's statement).
    queries = [s for s in statements if s.startswith("SELECT")]
    assert [s for s in queries if "password_hash" in s or "totp_secret" in s] == queries[:1]


def test_a_report_reads_its_schools_staff_by_name_and_role_only(app, people, login, make_user):
    """The report form lists the school's staff (whom to leave the report out for) and a report is routed among its
    counselors: both read names, roles and what a notice needs, never a colleague's password hash or second-factor
    secret (decrypted as it is read), for every member of staff, on every load of the form."""
    secret = "JBSWY3DPEHPK3PXP"
    for _ in range(3):
        make_user(role="teacher", totp_secret=secret)
    make_user(role="counselor", email="counselor@hanbit.example", totp_secret=secret)
    teacher = app.test_client()
    login(teacher, people["teacher"])
    statements = _statements(app)
    assert teacher.get("/reports/new/form").status_code == 200
    assert file_report(teacher).status_code == 302
    staff_reads = [s for s in statements if s.startswith("SELECT") and "users.role IN" in s]
    assert len(staff_reads) >= 3  # the form, its review and sending (each lists the staff), and the routing
    assert not [s for s in staff_reads if "password_hash" in s or "totp_secret" in s]
    # Only the reporter's own row is read whole (the sign-in check of each request).
    whole_rows = [s for s in statements if s.startswith("SELECT") and "totp_secret" in s]
    assert whole_rows and all("WHERE users.id = " in s for s in whole_rows)


def test_a_case_written_by_its_single_insert_takes_the_defaults_of_the_columns_it_was_not_given(app, people):
    """A new case goes in with one Core INSERT of every column (cases._insert_case), not through the ORM's flush:
    a column it was not given still gets its model default, in the row and on the object, never a silent NULL. The
    defaults it can give are Python's; one made in SQL would need reading back, which no case column may have."""
    defaults = [column.default for column in Case.__table__.columns if column.default is not None]
    assert defaults and all(d.is_scalar or d.is_callable for d in defaults)
    assert not any(column.server_default is not None for column in Case.__table__.columns)
    with app.app_context():
        teacher = db.session.get(User, people["teacher"])
        case = Case(reference="BARE-1", school_id=teacher.school_id, submission_token="bare", reporter_id=teacher.id)
        cases._insert_case(db.session, case, [(cases._ASSIGN, [{"user_id": teacher.id, "added_at": utcnow()}])])
        db.session.commit()
        row = db.session.execute(select(Case.__table__).where(Case.__table__.c.reference == "BARE-1")).mappings().one()
        assert db.session.scalars(select(CaseAssignee.user_id).where(CaseAssignee.case_id == row["id"])).all() == [
            teacher.id]  # the rows that refer to it got its id
        assert (row["kind"], row["status"], row["victim_kind"], row["urgent"], row["categories"]) == (
            "incident", CaseStatus.NEW, "unknown", False, "")
        assert row["public_id"] and row["created_at"] is not None and row["updated_at"] is not None
        assert (case.kind, case.public_id) == ("incident", row["public_id"])


def test_sending_a_report_reads_the_reporters_account_once_and_its_school_as_it_is_then(app, people, login):
    """The request that sends a report reads the reporter's whole row once, at its sign-in check: the writes record
    their id and role without reading it again after the form's checks. The school's row (its routing rule) is
    read again once the checks are over, so that routing decides on the rule as it is when the case is written."""
    statements = _send_report_recording(app, login, people["teacher"])
    whole_rows = [s for s in statements if s.startswith("SELECT") and "totp_secret" in s]
    assert len(whole_rows) == 1
    writes = statements.index(next(s for s in statements if "INSERT INTO cases (" in s))
    staff_list = statements.index(next(s for s in statements if "users.role IN" in s))
    # The school comes with the staff routing reads, in the statement right before the writes.
    assert [s for s in statements[staff_list + 1:writes] if "users.role IN" in s and "JOIN schools" in s]
    assert not [s for s in statements[staff_list + 1:writes] if s.startswith("SELECT") and "JOIN" not in s]


def test_a_new_case_tells_all_its_counselors_in_one_statement(app, people, make_user):
    """Each counselor a report reaches gets a notice: one INSERT for all of them, however many there are."""
    from portal.models import Notification

    for _ in range(3):
        make_user(role="counselor")
    statements = _statements(app)
    [case_id] = open_cases(app, people["teacher"], 1)
    inserts = [s for s in statements if "INSERT INTO notifications (" in s]
    with app.app_context():
        told = db.session.scalars(select(Notification.user_id).where(Notification.case_id == case_id)).all()
        case = db.session.get(Case, case_id)
        reached = {a.user_id for a in case.assignees} | {people["lead"]}
    assert len(told) == len(set(told)) == len(reached) >= 4
    assert set(told) == reached and len(inserts) == 1


def test_a_case_view_takes_the_audit_chains_head_first_and_holds_it_for_its_row_and_notices(
        app, people, login, make_user, database_url):
    """Every audited action of a deployment waits for the chain's head (a row lock on PostgreSQL, the write lock
    on SQLite). A case file view takes it before it writes anything else (the daily purge holds the head while it
    deletes notices: the other order would deadlock with it), then writes its row and marks the viewer's notices
    of the case read, on PostgreSQL in one statement, and commits. On SQLite it takes the write lock only then,
    after reading the user and the case as a reader."""
    from sqlalchemy import event

    from portal.models import Notification

    other = make_user(role="counselor")
    [case_id, other_case] = open_cases(app, people["teacher"], 2)
    lead = app.test_client()
    login(lead, people["lead"])
    with app.app_context():
        public_id = db.session.get(Case, case_id).public_id
        engine = db.engine
        db.session.add(Notification(user_id=other, case_id=case_id, kind="new_case"))  # someone else's notice
        db.session.commit()
    statements = _statements(app)
    event.listen(engine, "commit", lambda conn: statements.append("COMMIT"))
    assert lead.get(f"/cases/{public_id}").status_code == 200
    head = next(i for i, s in enumerate(statements) if "FROM audit_head" in s)
    assert not any(s.startswith(("UPDATE", "INSERT", "DELETE", "WITH")) for s in statements[:head])
    held = statements[head + 1:statements.index("COMMIT", head)]
    if database_url.startswith("sqlite"):
        assert [s.split(" SET ")[0].split(" (")[0] for s in held] == [
            "INSERT INTO audit_events", "UPDATE audit_head", "UPDATE notifications"]
        # The write lock is taken for these and the access check made again: the user and the case were read
        # before, as a reader.
        assert statements[head - 2] == "BEGIN IMMEDIATE" and statements.count("BEGIN IMMEDIATE") == 1
        assert statements[head - 1].startswith("SELECT cases.id") and "case_exclusions" in statements[head - 1]
        assert any(s.startswith("SELECT") and "FROM cases" in s for s in statements[:head - 2])
    else:
        [statement] = held
        assert all(part in statement
                   for part in ("UPDATE audit_head", "UPDATE notifications", "INSERT INTO audit_events"))
    with app.app_context():
        unread = set(db.session.execute(select(Notification.user_id, Notification.case_id)
                                        .where(Notification.read_at.is_(None))).all())
    assert (people["lead"], case_id) not in unread  # the lead's notice of the case viewed is read
    assert {(people["lead"], other_case), (other, case_id)} <= unread  # nothing else is


def test_a_new_report_holds_the_audit_chains_head_only_for_its_row(app, people, login, make_user, database_url):
    """Every audited action of every school waits for the chain's head. A report takes it last: its case, checklist,
    recipients, notices and mails are written before (on PostgreSQL the mails in the statement that takes the head,
    made and encrypted before it is sent), and only its row (one statement on PostgreSQL) and the commit after."""
    from portal.models import Notification, OutboxMail

    make_user(role="counselor", email="counselor@school.test")  # mail for a counselor is written too
    statements = _send_report_recording(app, login, people["teacher"])
    head = next(i for i, s in enumerate(statements) if "FROM audit_head" in s)
    before, held = statements[:head], statements[head + 1:statements.index("COMMIT", head)]
    if database_url.startswith("sqlite"):
        assert [s.split(" SET ")[0].split(" (")[0] for s in held] == ["INSERT INTO audit_events", "UPDATE audit_head"]
        assert before[-1].startswith("INSERT INTO outbox_mails")
    else:
        assert len(held) == 1 and "INSERT INTO audit_events" in held[0] and "UPDATE audit_head" in held[0]
        assert "INSERT INTO outbox_mails" in statements[head] and statements[head].endswith("FOR UPDATE")
    assert any("INSERT INTO notifications (" in s for s in before)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Notification)) >= 2
        assert db.session.scalar(select(func.count()).select_from(OutboxMail)) == 1


def test_a_new_report_takes_its_schools_counter_after_everything_that_does_not_need_its_reference(
        app, people, login, make_user, database_url):
    """The school's next report waits for the counter from the moment this one takes it to its commit. Everything
    that does not name the reference (the case, its checklist, recipients and notices) is written before; after it
    come only the reference, the running counts, the mail (which names the reference) and the audit row. On
    PostgreSQL that is three round trips and the commit: the counter with the reference and the counts, the chain's
    head with the mail, the audit row. The reference is the next number, the mail names it and is due at once, and
    the month's counts of cases and of its category are one more."""
    from portal.models import OutboxMail

    make_user(role="counselor", email="counselor@school.test")
    [earlier] = open_cases(app, people["teacher"], 1)
    figures_now = select(CaseFigure.figure, func.sum(CaseFigure.count)).group_by(CaseFigure.figure)
    with app.app_context():
        counts = dict(db.session.execute(figures_now).all())
    statements = _send_report_recording(app, login, people["teacher"])
    counter = next(i for i, s in enumerate(statements) if "INSERT INTO case_counters" in s)
    before, held = statements[:counter], statements[counter + 1:statements.index("COMMIT", counter)]
    tables = ("cases", "duty_items", "case_assignees", "notifications")
    for table in tables:
        assert any(f"INSERT INTO {table} (" in s for s in before)
        assert not any(f"INSERT INTO {table} (" in s for s in held)
    if not database_url.startswith("sqlite"):  # the case and the rows that refer to it: one statement
        [written] = [s for s in before if any(f"INSERT INTO {table} (" in s for table in tables)]
        assert all(f"INSERT INTO {table} (" in written for table in tables)
    if database_url.startswith("sqlite"):
        assert [s.split(" (")[0].split(" SET ")[0] for s in held if "FROM audit_head" not in s] == [
            "UPDATE cases", "INSERT INTO case_figures", "INSERT INTO outbox_mails", "INSERT INTO audit_events",
            "UPDATE audit_head"]
    else:
        assert all(part in statements[counter] for part in ("UPDATE cases SET reference", "INSERT INTO case_figures"))
        assert len(held) == 2 and "FROM audit_head" in held[0] and "INSERT INTO audit_events" in held[1]
    with app.app_context():
        first = db.session.get(Case, earlier).reference
        newest = db.session.scalars(select(Case).order_by(Case.id.desc())).first()
        mail = db.session.scalars(select(OutboxMail).order_by(OutboxMail.id.desc())).first()
        counted = dict(db.session.execute(figures_now).all())
    assert newest.reference == first[:-4] + f"{int(first[-4:]) + 1:04d}" and newest.reference in mail.subject
    assert newest.updated_at == newest.created_at
    assert counted == {**counts, "opened": counts["opened"] + 1,
                       "category:distribution": counts.get("category:distribution", 0) + 1}
    assert mail.attempts == 0 and mail.sent_at is None and mail.next_attempt_at <= utcnow()


def test_a_case_and_the_rows_that_refer_to_it_go_in_together_or_not_at_all(app, people, database_url):
    """database.inserting: a row refused among a new case's checklist, recipients or notices (on PostgreSQL in the
    case's own statement) refuses the case too, and leaves nothing behind."""
    from sqlalchemy.exc import IntegrityError

    with app.app_context():
        teacher = db.session.get(User, people["teacher"])
        case = Case(reference="BARE-2", school_id=teacher.school_id, submission_token="bare-2", reporter_id=teacher.id)
        with pytest.raises(IntegrityError):
            cases._insert_case(db.session, case, [
                (cases._ASSIGN, [{"user_id": teacher.id, "added_at": utcnow()}]),
                (cases._EXCLUDE, [{"user_id": 999_999}])])  # nobody has that id
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(Case)) == 0
        assert db.session.scalar(select(func.count()).select_from(CaseAssignee)) == 0


def test_writes_sent_with_another_statement_land_whole_or_are_refused(app, database_url):
    """database.with_writes (PostgreSQL) and run_each (SQLite): a write with no rows is left out without putting
    the others' parameters out of step, rows whose columns differ are refused before anything is sent, and a value
    too long for its column is refused as a plain INSERT refuses it, never cut to fit."""
    from sqlalchemy.exc import DBAPIError

    from portal.database import run_each, with_writes
    from portal.models import OutboxMail
    from portal.services import mail

    def row(message_id, **more):
        now = utcnow()
        return {"message_id": message_id, "school_id": None, "recipient": "a@school.test", "subject": "s",
                "body": "b", "created_at": now, "attempts": 0, "next_attempt_at": now, **more}

    def send(*writes):
        if database_url.startswith("sqlite"):
            run_each(db.session, writes)
        else:
            statement, params = with_writes(select(func.count()).select_from(OutboxMail), writes)
            db.session.execute(statement, params)

    with app.app_context():
        send((mail.QUEUE, []), (mail.QUEUE, ()), (mail.QUEUE, [row("<one@x>"), row("<two@x>")]))
        db.session.commit()
        assert sorted(db.session.scalars(select(OutboxMail.message_id))) == ["<one@x>", "<two@x>"]
        if not database_url.startswith("sqlite"):  # SQLite takes each row as it is, and any length
            with pytest.raises(ValueError):
                send((mail.QUEUE, [row("<three@x>"), row("<four@x>", last_error="X")]))
            db.session.rollback()
            with pytest.raises(DBAPIError):
                send((mail.QUEUE, [row("<" + "x" * 400 + "@x>")]))  # the column holds 320
            db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(OutboxMail)) == 2


def test_arrays_of_rows_are_typed_without_the_columns_length_even_through_a_type_decorator():
    """PostgreSQL cuts a value cast to varchar(n)[] to n characters without a word: the arrays that carry rows
    (database.with_writes, database.inserting) are typed without the length, also for a column whose type wraps a
    string of some length (none of the portal's does today), so a value too long is refused by the column."""
    from sqlalchemy import String, TypeDecorator
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.dialects.postgresql import ARRAY

    from portal.database import _unbounded

    class Wrapped(TypeDecorator):
        impl = String(10)
        cache_ok = True

    wrapped = Wrapped()
    for column_type in (String(10), wrapped):
        assert str(ARRAY(_unbounded(column_type)).compile(dialect=postgresql.dialect())) == "VARCHAR[]"
    assert str(wrapped.compile(dialect=postgresql.dialect())) == "VARCHAR(10)"  # the column's own type is kept


def test_a_case_view_does_not_deadlock_with_a_purge_that_holds_the_chains_head(app, people, login, database_url):
    """The daily purge holds the chain's head while it deletes a purged case's notices. A counselor opening that
    case meanwhile waits for the head and then sees the page: neither side is aborted as a deadlock."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite has one writer at a time: no row locks to take in two orders")
    [case_id] = open_cases(app, people["teacher"], 1)
    lead = app.test_client()
    login(lead, people["lead"])
    with app.app_context():
        public_id = db.session.get(Case, case_id).public_id
        engine = db.engine
    seen = {}
    viewer = threading.Thread(target=lambda: seen.update(status=lead.get(f"/cases/{public_id}").status_code))
    with engine.connect() as purge, engine.connect() as watch:
        purge.execute(text(HOLD_HEAD))
        viewer.start()
        wait_until_it_waits_for_a_lock(watch, viewer)  # the view waits for the head
        purge.execute(text("DELETE FROM notifications WHERE case_id = :case_id"), {"case_id": case_id})
        purge.commit()
    viewer.join(20)
    assert seen == {"status": 200}


def test_the_purge_takes_the_audit_chains_head_before_it_deletes_anything(app, people, database_url):
    """The same order as a case view's: the daily purge takes the chain's head first, so that it never deletes a
    case's notices (a row lock on PostgreSQL) and then waits for the head while a view holds the head and waits
    for those notices."""
    from portal.services import retention

    open_cases(app, people["teacher"], 1)
    with app.app_context():
        db.session.execute(update(Case).values(status=CaseStatus.CLOSED, closed_at=utcnow() - timedelta(days=4000),
                                               updated_at=utcnow() - timedelta(days=4000),
                                               purge_warned_at=utcnow() - timedelta(days=3990)))
        db.session.commit()
    statements = _statements(app)
    with app.app_context():
        report = retention.run(db.session, app.config, utcnow())
        db.session.commit()
    assert report.purged == 1
    head = next(i for i, s in enumerate(statements) if "FROM audit_head" in s)
    assert not any(s.startswith(("UPDATE", "INSERT", "DELETE", "WITH")) for s in statements[:head])
    assert any(s.startswith("DELETE FROM notifications") for s in statements[head:])


def test_postgresql_plans_a_page_read_again_and_again_once(app, people, login, database_url):
    """psycopg prepares a statement once it has run five times on a connection, so that PostgreSQL no longer
    parses and plans it for every page. A page that only reads ends in a ROLLBACK, which must not make psycopg
    forget what it prepared (it did: nearly no statement of the portal was ever prepared). A statement that
    deallocates them still makes it forget them all: the next page is served as before, not with a name the
    server no longer knows."""
    if not database_url.startswith("postgresql"):
        pytest.skip("psycopg's prepared statements are PostgreSQL's")
    lead = _inbox_reader(app, people, login)
    for _ in range(12):
        assert lead.get("/cases/").status_code == 200
    with app.app_context():
        assert db.engine.pool.checkedin() == 1  # the one connection that served every page
        with db.engine.connect() as conn:
            prepared = conn.execute(text("SELECT statement, generic_plans + custom_plans "
                                         "FROM pg_prepared_statements")).all()
            assert any("FROM cases" in statement and runs >= 5 for statement, runs in prepared), prepared
            conn.exec_driver_sql("DEALLOCATE ALL")
    for _ in range(6):
        assert lead.get("/cases/").status_code == 200


def test_prepared_statements_the_server_no_longer_has_fail_one_page_not_every_page_after(app, people, login,
                                                                                        database_url):
    """psycopg sees that a statement deallocates what it prepared only the first time that statement runs on a
    connection (a table altered from another connection is the same: the server refuses the plan it kept). The
    page that meets it fails; the ROLLBACK after that error forgets the connection's prepared statements, as psycopg
    does after every error, and the pages after it are served."""
    if not database_url.startswith("postgresql"):
        pytest.skip("psycopg's prepared statements are PostgreSQL's")
    lead = _inbox_reader(app, people, login)
    with app.app_context(), db.engine.connect() as conn:
        for _ in range(2):  # the second finds nothing prepared: psycopg counts it and forgets nothing
            conn.exec_driver_sql("DEALLOCATE ALL")
    for _ in range(12):
        assert lead.get("/cases/").status_code == 200
    with app.app_context(), db.engine.connect() as conn:
        conn.exec_driver_sql("DEALLOCATE ALL")  # run before: psycopg does not look at its result again
    app.config["PROPAGATE_EXCEPTIONS"] = False
    with contextlib.suppress(ProgrammingError):  # raised when the error page cannot load the user either: a bare 500
        assert lead.get("/cases/").status_code == 500
    for _ in range(8):
        assert lead.get("/cases/").status_code == 200


def _inbox_reader(app, people, login):
    """The lead counselor of a school with three cases, signed in."""
    open_cases(app, people["teacher"], 3)
    lead = app.test_client()
    login(lead, people["lead"])
    return lead
