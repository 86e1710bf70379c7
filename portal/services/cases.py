"""Incident reports and the case work that follows: routing, access, the response log, duties, escalation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import Text, and_, bindparam, cast, exists, func, inspect, literal, or_, select, true, tuple_
from sqlalchemy import case as sql_case
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import (
    Session,
    contains_eager,
    joinedload,
    load_only,
    make_transient_to_detached,
    selectinload,
    undefer_group,
)
from sqlalchemy.orm.attributes import set_committed_value

from portal.database import Write, inserting, run_each, with_writes
from portal.models import (
    Case,
    CaseAssignee,
    CaseCounter,
    CaseExclusion,
    CaseMessage,
    CaseStatus,
    DutyItem,
    Notification,
    ResponseEntry,
    Role,
    School,
    TakedownItem,
    User,
)
from portal.models.base import UTCDateTime, utcnow
from portal.models.cases import (
    CLASSIFICATIONS,
    CLASSIFIED_KINDS,
    ENTRY_FIELDS,
    ENTRY_KINDS,
    ENTRY_REQUIRED,
    OPEN_STATUSES,
    OUTCOMES,
    TAKEDOWN_STATUSES,
    new_public_id,
)
from portal.services import audit, channel, district_signal, duties, figures, mail, notify
from portal.services.background import CHECKS
from portal.services.errors import ServiceError


class CaseError(ServiceError):
    """A case action that cannot be carried out; `code` names the reason for a translated message."""


class CaseNotFound(Exception):
    """The case does not exist or this user may not know it exists."""


@dataclass
class ReportData:
    """What a reporter typed, already validated by the form."""

    categories: list[str]
    victim_kind: str
    victim_count: int | None = None
    victim_names: str | None = None
    suspects: str | None = None
    platforms: list[str] = field(default_factory=list)
    links: str | None = None
    first_seen: datetime | None = None
    how_learned: str | None = None
    urgent: bool = False
    victim_knows: str = "unknown"
    guardians_told: str = "unknown"
    police_told: bool = False
    police_told_at: datetime | None = None
    police_report_number: str | None = None
    description: str | None = None
    excluded_ids: list[int] = field(default_factory=list)
    kind: str = "incident"
    reporter_relation: str | None = None  # anonymous reports: who the sender says they are
    reporter_identity: str | None = None  # anonymous reports: a name and class, if they chose to give them


# --- who may see a case -------------------------------------------------------------------------------


def may_view(user: User, case: Case) -> bool:
    """Need to know: the case's assignees, never anyone excluded. The lead is an assignee of every case routed
    while they were lead; a new lead reaches older cases only through a logged, notified handover."""
    if not user.is_authenticated or user.school_id != case.school_id or not user.active:
        return False
    if any(ex.user_id == user.id for ex in case.exclusions):
        return False
    return any(a.user_id == user.id for a in case.assignees)


def _visible_to(user_id, school_id):
    """may_view in SQL, for a user's id and school given as values or as bind parameters."""
    not_excluded = ~exists().where(and_(CaseExclusion.case_id == Case.id, CaseExclusion.user_id == user_id))
    assigned = exists().where(and_(CaseAssignee.case_id == Case.id, CaseAssignee.user_id == user_id))
    return and_(Case.school_id == school_id, not_excluded, assigned)


def is_reporter(user: User, case: Case) -> bool:
    """The person who sent the report or request (for the receipt; never the case file)."""
    return user.is_authenticated and case.reporter_id == user.id


def may_see_access_log(user: User, case: Case) -> bool:
    """The lead and the school admin may see who viewed a case (not its content)."""
    if user.school_id != case.school_id or any(ex.user_id == user.id for ex in case.exclusions):
        return False
    return (user.role == Role.COUNSELOR and user.is_lead) or user.role == Role.SCHOOL_ADMIN


# Who may see a case comes with it, in the same statement: every check reads both lists. Made once: every case
# page starts here.
_CASE = select(Case).where(Case.public_id == bindparam("public_id")).options(joinedload(Case.exclusions),
                                                                              joinedload(Case.assignees))


def load_case(session: Session, user: User, public_id: str, action: str | None, address: str | None,
              check=may_view) -> Case:
    """Load a case the user may see, auditing the access as `action`; anything else is recorded and reported as
    not found. With action None only a denial is recorded: the service that acts on the case records what it did."""
    case, allowed = look_up(session, user, public_id, check)
    if not allowed:
        record_denial(session, user, case, address)
        session.flush()
        raise CaseNotFound(public_id)  # the caller commits, so that the denial is kept
    if action:
        audit.record(session, action, actor=user, case_id=case.id, school_id=case.school_id, address=address)
    return case


def look_up(session: Session, user: User, public_id: str, check=may_view) -> tuple[Case | None, bool]:
    """The case of this public id (None if there is none) and whether the user may see it, reading only: a view
    that records the look later (the case file) records a denial with record_denial and answers not found."""
    case = session.scalars(_CASE, {"public_id": public_id}).unique().one_or_none()
    return case, case is not None and check(user, case)


def still_viewable(session: Session, user: User, case: Case) -> bool:
    """Everything that let the user see the case, again, in one statement on the rows as they are now (the write
    transaction of a view that checked as a reader): their session still valid (the version it signed in with, the
    account active, the school open), a role that works on cases, and may_view (the case's school, among its
    assignees, not excluded). False for a case that is gone (purged)."""
    return session.execute(_STILL_VIEWABLE, {"case_id": case.id, "user_id": user.id, "school_id": user.school_id,
                                             "version": user.session_version}).first() is not None


_STILL_VIEWABLE = select(Case.id).where(
    Case.id == bindparam("case_id"),
    exists().where(User.id == bindparam("user_id"), User.session_version == bindparam("version"),
                   User.active.is_(True), User.role.in_((Role.COUNSELOR, Role.SCHOOL_ADMIN)),
                   User.school_id == Case.school_id),
    exists().where(School.id == Case.school_id, School.is_active.is_(True)),
    _visible_to(bindparam("user_id"), bindparam("school_id")))


def record_denial(session: Session, user: User, case: Case | None, address: str | None) -> None:
    """The audit row of an attempt to reach a case that does not exist or that the user may not know exists."""
    audit.record(session, "case_denied", actor=user, case_id=case.id if case else None, school_id=user.school_id,
                 address=address)


def record_view(session: Session, user: User, case: Case, address: str | None) -> None:
    """The audit row of a look at a case file (load_case has checked it), and the viewer's notices of the case
    marked read with it, while the chain's head is held: in one statement on PostgreSQL. The head is taken before
    any other lock: a transaction that holds it may go on to lock notices (the daily purge deletes a purged case's),
    and a view that marked its notices first and then waited for the head would deadlock with it."""
    audit.record(session, "case_viewed", actor=user, case_id=case.id, school_id=case.school_id, address=address,
                 also=[(_MARK_READ, {"read_user": user.id, "read_case": case.id, "read_at": utcnow()})])


_MARK_READ = Notification.__table__.update().where(
    Notification.user_id == bindparam("read_user"), Notification.case_id == bindparam("read_case"),
    Notification.read_at.is_(None)).values(read_at=bindparam("read_at"))


def visible_cases_clause(user: User):
    """A WHERE clause selecting the cases this user may see."""
    return _visible_to(user.id, user.school_id)


def load_file(session: Session, case: Case) -> Case:
    """The case again, with its text (deferred until the access check has passed) and everything its file shows,
    one statement for each kind of thing (its log, its counselors, …) rather than one for each author. Callers
    that rolled back or committed a refused form come here with the case expired, so it is read again."""
    case_id = inspect(case).identity[0]
    case = session.scalars(_FILE_CASE, {"case_id": case_id}).one()
    # Each collection by a statement of its own, made once: selectinload would make and key a new statement for
    # each of them on every view (a quarter of a case file's time went there).
    for name, statement in _FILE_COLLECTIONS:
        set_committed_value(case, name, list(session.scalars(statement, {"case_id": case_id})))
    return case


def _of_case(model, *options):
    return select(model).where(model.case_id == bindparam("case_id")).options(*options)


def _named(relationship):
    """A joined load of the people a file names: only what it shows of them (their name, role and whether they
    lead), not all 19 columns of each, which the database sends, psycopg describes and the ORM sets for every
    author of every row (2 % of a case file's instructions). A user whose columns the session already holds (the
    viewer) keeps them; one it had expired (the viewer after a refused form's rollback) gets these, and is read
    again if something needs more of it."""
    return joinedload(relationship).load_only(User.display_name, User.role, User.is_lead)


_FILE_CASE = select(Case).where(Case.id == bindparam("case_id")).options(
    undefer_group("text"), joinedload(Case.school), _named(Case.reporter))
_FILE_COLLECTIONS = (
    ("assignees", _of_case(CaseAssignee, _named(CaseAssignee.user))
     .order_by(CaseAssignee.added_at, CaseAssignee.user_id)),
    ("duties", _of_case(DutyItem).order_by(DutyItem.id)),
    ("entries", _of_case(ResponseEntry, _named(ResponseEntry.author)).order_by(ResponseEntry.id)),
    ("messages", _of_case(CaseMessage, _named(CaseMessage.author)).order_by(CaseMessage.id)),
    ("takedown_items", _of_case(TakedownItem, _named(TakedownItem.requested_by)).order_by(TakedownItem.id)),
)


# --- opening a case -----------------------------------------------------------------------------------


def number_case(session: Session, case: Case, also: Sequence[Write] = ()) -> None:
    """Give a new case its reference, the next of its school's year (e.g. HANBIT-2026-0007), unique under
    concurrent submissions and with no gaps.

    One counter row per school and year, created or bumped by a single INSERT … ON CONFLICT DO UPDATE … RETURNING:
    the row lock it takes makes a concurrent report wait until this transaction ends, and PostgreSQL then re-reads
    the committed number, so no two transactions get the same one (SQLite has one writer at a time anyway). Not a
    sequence: a sequence skips the numbers of rolled-back reports. Not a read-then-write: that one could read a
    number from the session's identity map instead of the locked row. Taken as late as a report can (only its mail,
    which names the reference, and its audit row come after), since the school's next report waits for it.

    On PostgreSQL the counter and the case's new reference are one statement, with the writes of `also`
    (database.Write) as its CTEs: every round trip between taking the counter and the commit is one that the
    school's other reports wait through (the counter's lock was held ~90 % of a busy run's time; one round trip
    fewer, 5-7 % more reports a second). A new case's running counts go there: the rows they lock (a month's
    opened, category and platform counts) are locked only by new cases of the school, which all take the counter
    first (and PostgreSQL runs a CTE the statement does not read after the statement itself); SQLite runs them
    after the counter.
    """
    year = case.created_at.year
    prefix = f"{case.school.code.upper()}-{year}-"
    counter = {"counter_school": case.school_id, "counter_year": year}
    if session.get_bind().dialect.name == "postgresql":
        statement, params = with_writes(_NUMBER_AND_SET, also)
        reference = session.execute(statement, {**params, **counter, "case_id": case.id, "prefix": prefix,
                                                "updated": case.updated_at}).scalar_one()
    else:
        number = session.execute(_COUNT, counter).scalar_one()
        reference = f"{prefix}{number:04d}"
        session.execute(_SET_REFERENCE, {"case_id": case.id, "reference": reference, "updated": case.updated_at})
        run_each(session, also)
    set_committed_value(case, "reference", reference)


def _counting(upsert):
    """The counter's statement (bind counter_school and counter_year: the names of cases' own columns are the
    UPDATE's below), for one kind of database's INSERT."""
    return upsert(CaseCounter).values(
        school_id=bindparam("counter_school"), year=bindparam("counter_year"), last_number=1,
    ).on_conflict_do_update(index_elements=[CaseCounter.school_id, CaseCounter.year],
                            set_={"last_number": CaseCounter.last_number + 1}).returning(CaseCounter.last_number)


# updated_at as the case has it: the row is still being created (the column would take the time of this UPDATE).
_SET_REFERENCE = Case.__table__.update().where(Case.__table__.c.id == bindparam("case_id")) \
    .values(reference=bindparam("reference"), updated_at=bindparam("updated"))


def _numbered_in_sql():
    """PostgreSQL's counter and reference in one statement, the number written as Python's :04d writes it: at least
    four digits, never cut (lpad alone would cut 10000 to 1000)."""
    counted = _counting(pg_insert).cte("counted")
    digits = cast(select(counted.c.last_number).scalar_subquery(), Text)
    padded = func.lpad(digits, func.greatest(4, func.length(digits)), "0")
    return _SET_REFERENCE.values(reference=bindparam("prefix", type_=Text) + padded).add_cte(counted) \
        .returning(Case.__table__.c.reference)


_COUNT = _counting(sqlite_insert)
_NUMBER_AND_SET = _numbered_in_sql()


@dataclass
class Routing:
    """Who a new case at a school reaches (its recipients), and the lead counselor, who is told of it too."""

    recipients: list[User]
    lead: User | None


def school_staff(session: Session, school: School) -> list[User]:
    """The school's active counselors and school admins: everyone a case can be routed to, in one statement, which
    also reads the school's row again (its routing rule as it is now). The school's id is taken from its identity:
    reading `school.id` would first reload the row a report's end_reading expired, one statement more (on SQLite
    under the write lock)."""
    identity = inspect(school).identity
    return list(session.scalars(_SCHOOL_STAFF, {"school_id": identity[0] if identity else school.id}))


def active_staff(*roles: Role):
    """The statement of a school's active users in these roles (bind school_id), in id order: callers make it once,
    at import, since every report runs it."""
    return select(User).where(User.school_id == bindparam("school_id"), User.active.is_(True),
                              User.role.in_(roles)).order_by(User.id)


# What routing and the new case's notices and mails use of each, nothing else: every report reads them all; and
# their school, whose row routing reads too (a school without active staff is not read here, and refused anyway).
# populate_existing: a counselor who reports is in the identity map, kept as the request loaded them
# (database.end_reading), and so is the school; routing decides on their lead mark and address, and on the
# school's rule, as they are now.
_SCHOOL_STAFF = active_staff(Role.COUNSELOR, Role.SCHOOL_ADMIN).join(User.school).options(
    load_only(User.role, User.is_lead, User.active, User.email, User.locale),
    contains_eager(User.school)).execution_options(populate_existing=True)
_BY_TOKEN = select(Case).where(Case.submission_token == bindparam("token"))


def routing(staff: list[User], school: School, excluded: set[int]) -> Routing:
    """Route by the school's rule among `staff` (school_staff's list) without those excluded: its counselors (the
    lead alone when the school routes to the lead), else its school admins. Recipients may be empty."""
    counselors = [u for u in staff if u.role == Role.COUNSELOR]
    lead = next((c for c in counselors if c.is_lead), None)
    chosen = [c for c in counselors if c.id not in excluded]
    if chosen:
        if school.routing == "lead":
            recipients = [c for c in chosen if c.is_lead] or chosen
        else:
            recipients = sorted(chosen, key=lambda c: not c.is_lead)
    else:
        recipients = [u for u in staff if u.role == Role.SCHOOL_ADMIN and u.id not in excluded]
    return Routing(recipients, lead if lead is not None and lead.id not in excluded else None)


def check_routable(session: Session, school: School, excluded: set[int] | list[int],
                   staff: list[User] | None = None) -> Routing:
    """The people a new case at this school would reach; CaseError("nobody_to_receive") when there is nobody.

    A report must always reach someone responsible at the school. District admins never see case content, so
    they are no fallback: an exclusion that leaves nobody is refused and the reporter is told whom else to tell.
    `staff` is school_staff's list when the caller has read it already (or rows with their id, role and is_lead).
    """
    found = routing(school_staff(session, school) if staff is None else staff, school, set(excluded))
    if not found.recipients:
        raise CaseError("nobody_to_receive" if excluded else "school_unstaffed")
    return found


def submit_report(session: Session, reporter: User, data: ReportData, token: str,
                  address: str | None = None, now: datetime | None = None) -> tuple[Case, bool]:
    """Open a case from a signed-in user's report. The same token twice returns the first case: (case, created)."""
    return open_case(session, reporter.school, data, token, reporter=reporter, address=address, now=now)


def open_case(session: Session, school: School, data: ReportData, token: str, *, reporter: User | None = None,
              receipt: tuple[str, str] | None = None, address: str | None = None,
              now: datetime | None = None) -> tuple[Case, bool]:
    """Open a case at a school: route it, start its checklist, notify. Without a reporter it is an anonymous
    case: it takes a receipt (lookup, secret hash), stores no address and counts against the school's hourly
    limit. The same token twice returns the first case: (case, created)."""
    now = now or utcnow()
    excluded = set(data.excluded_ids)
    try:
        route = check_routable(session, school, excluded)
    except CaseError:
        existing = _sent_before(session, token, reporter)  # sent again after the staff changed: it stands
        if existing is None:
            raise
        return existing, False
    case = Case(
        # Until number_case gives it its reference: unique, and seen by nobody (it is numbered before the commit).
        public_id=(public_id := new_public_id()), reference=public_id,
        school_id=school.id, school=school, kind=data.kind,
        categories=",".join(data.categories), platforms=",".join(data.platforms), victim_kind=data.victim_kind,
        victim_count=data.victim_count, victim_names=data.victim_names or None, suspects=data.suspects or None,
        links=data.links or None, first_seen=data.first_seen, how_learned=data.how_learned or None,
        urgent=data.urgent, victim_knows=data.victim_knows, guardians_told=data.guardians_told,
        police_told=data.police_told, police_told_at=data.police_told_at,
        police_report_number=data.police_report_number or None, description=data.description or None,
        reporter_relation=data.reporter_relation, reporter_identity=data.reporter_identity or None,
        reporter_id=reporter.id if reporter else None, submission_token=token, created_at=now, updated_at=now,
        status=CaseStatus.NEW,  # now, not at the INSERT: its first deadline below includes acknowledging it
    )
    # The first deadline goes in with the case, its checklist right after in one statement: nothing is read back
    # from a table the case was just written to (fewer statements while SQLite's write lock is held).
    checklist = _checklist(case, now, police_told_at=(data.police_told_at or now) if data.police_told else None,
                           guardians_told=data.guardians_told == "yes")
    case.next_due_at = _earliest(_open_deadlines(case, school, [
        (item.duty_id, item.due_at) for item in checklist if item.done_at is None], now))
    # Who must not see it, who receives it and who is told, with its checklist: nothing reads them back in this
    # request, so on PostgreSQL they go in the case's own INSERT (database.inserting).
    to_notify = route.recipients + ([route.lead] if route.lead else [])
    rows = [(_ADD_DUTIES, [_row(item) for item in checklist]),
            (_EXCLUDE, [{"user_id": user_id} for user_id in sorted(excluded)]),
            (_ASSIGN, [{"user_id": user.id, "added_at": now} for user in route.recipients]),
            (notify.ADD_NOTICES, notify.notice_rows(to_notify, NEW_CASE_NOTICES[data.kind], now))]
    try:
        _insert_case(session, case, rows)
    except IntegrityError:
        # The same token was sent before (a second click, a page sent again): show the sender that case. Not looked
        # up first: that is rare, and every report would pay for the look-up.
        session.rollback()
        existing = _sent_before(session, token, reporter)
        if existing is None:
            raise
        return existing, False
    if receipt is not None:
        channel.store_receipt(session, case.id, *receipt)
    # From here on the school's next report waits for this one's commit (its counter): what is left is what needs
    # the reference, and what goes with the counter's and the audit row's statements. The running counts go with
    # the counter (on PostgreSQL in its statement: one round trip fewer while it is held).
    number_case(session, case, also=[figures.opened(session, case)])
    if reporter is None:
        check_channel_limit(session, school, now, written=True)  # while the counter holds the school's other reports
    mails = notify.case_mail_rows(session, to_notify, case, NEW_CASE_NOTICES[data.kind])
    # Last: the audit chain's head is one row for the whole deployment, which every audited action of every school
    # waits for, held from here to the commit: for a signed-in report only the row; the anonymous page also starts
    # the sender's conversation before it commits. An anonymous case keeps no address, not even in its audit rows.
    # The mails go with the statement that takes the head: on PostgreSQL one round trip fewer under the counter,
    # and none more under the head (their rows are new, made and encrypted before the statement is sent).
    audit.record(session, "case_created", actor=reporter, case_id=case.id, school_id=school.id,
                 target=None if reporter else "anonymous", address=address if reporter else None,
                 new_rows=[(mail.QUEUE, mails)])
    return case, True


def _insert_case(session: Session, case: Case, rows: Sequence[Write] = ()) -> None:
    """Add a new case with one INSERT, and `rows` of other tables that refer to it (database.inserting: each row
    without its case_id), and make it persistent as if it had just been loaded, with nothing left to read back: the
    unit of work's flush of this one object cost a sixth of a report. Columns are taken as `case` has them, and a
    column it was not given takes its default, as the ORM would give it (a relationship set on it does not set its
    foreign key)."""
    values = {key: getattr(case, key) for key in _CASE_COLUMNS}
    for key, default in _CASE_DEFAULTS.items():
        if values[key] is None:
            values[key] = default.arg(None) if default.is_callable else default.arg
    case.id = inserting(session, Case.__table__, values, rows, "case_id")
    for key, value in values.items():
        set_committed_value(case, key, value)  # every column loaded: none is expired, so none is read back
    make_transient_to_detached(case)
    session.add(case)


_CASE_COLUMNS = tuple(column.key for column in Case.__table__.columns if column.key != "id")
# Python-side defaults only (tests/test_scale.py): one made in SQL would have to be read back, which
# _insert_case does not do.
_CASE_DEFAULTS = {column.key: column.default for column in Case.__table__.columns
                  if column.key != "id" and column.default is not None}


NEW_CASE_NOTICES = {"incident": "new_case", "student_request": "student_request", "anonymous": "anonymous_report"}


def _sent_before(session: Session, token: str, reporter: User | None) -> Case | None:
    """The case a submission token already opened, if any. A resubmitted token must come from whoever sent it
    first (a signed-in user, or anonymously)."""
    existing = session.scalar(_BY_TOKEN, {"token": token})
    if existing is not None and (reporter.id if reporter else None) != existing.reporter_id:
        raise CaseError("bad_token")
    return existing


def check_channel_limit(session: Session, school: School, now: datetime, *, written: bool = False) -> None:
    """Refuse a new anonymous case when with it the school would have had more than its hourly number of them (spam
    and abuse). `written`: the case is in this transaction already, so it is among those counted (the caller rolls
    it back on a refusal); else it is still to come."""
    recent = session.scalar(_RECENT_ANONYMOUS, {"school_id": school.id, "since": now - timedelta(hours=1)})
    if recent + (0 if written else 1) > school.anonymous_hourly_limit:
        raise CaseError("channel_busy")


_RECENT_ANONYMOUS = select(func.count()).select_from(Case).where(
    Case.school_id == bindparam("school_id"), Case.kind == "anonymous", Case.created_at > bindparam("since"))


def applicable_rules(case: Case) -> list[duties.DutyRule]:
    """The checklist a case carries. A student's request or an anonymous report carries none until it is
    classified as a sex crime against a minor; the police duty (34②) applies only when the victim is, or may be, a
    minor."""
    if case.kind in CLASSIFIED_KINDS and case.classification != "minor_sex_crime":
        return []
    minor = victim_may_be_minor(case)
    return [rule for rule in duties.rules(case.school.jurisdiction)
            if rule.applies_to == "all" or (rule.applies_to == "minor_victim" and minor)]


def victim_may_be_minor(case: Case) -> bool:
    """The person affected is, or may be, under 18: a student, someone not known yet, or a case a counselor
    classified as a sex crime against a minor."""
    return case.classification == "minor_sex_crime" or case.victim_kind in ("student", "unknown")


def _checklist(case: Case, start: datetime, *, police_told_at: datetime | None = None,
               guardians_told: bool = False) -> list[DutyItem]:
    """The case's checklist items, due from `start`; what the reporter already did counts as done."""
    items = []
    for rule in applicable_rules(case):
        item = DutyItem(duty_id=rule.id, satisfied_by=rule.satisfied_by, due_at=rule.due(start, case.urgent))
        if rule.satisfied_by == "police_report" and police_told_at is not None:
            item.done_at = police_told_at  # the reporter already told the police
        if rule.satisfied_by == "guardian_contact" and guardians_told:
            item.done_at = start
        items.append(item)
    return items


# Core INSERTs of the tables a new case fills: the ORM's bulk path for a list of rows cost more than sending them
# (and adding objects, a flush of their own).
_ADD_DUTIES = DutyItem.__table__.insert()
_EXCLUDE = CaseExclusion.__table__.insert()
_ASSIGN = CaseAssignee.__table__.insert()


def _row(item: DutyItem, **values) -> dict:
    """A checklist item as the columns of its INSERT."""
    return {"duty_id": item.duty_id, "satisfied_by": item.satisfied_by, "due_at": item.due_at,
            "done_at": item.done_at, **values}


def awaits_classification(case: Case) -> bool:
    """A student's request or an anonymous report whose counselor has not yet recorded what it concerns."""
    return case.kind in CLASSIFIED_KINDS and case.classification is None


def classify(session: Session, user: User, case: Case, classification: str, address: str | None = None,
             now: datetime | None = None) -> None:
    """Record whether a student's request or an anonymous report concerns a sex crime against a minor. If it
    does, the checklist starts now, the police duty due immediately. Logged in the chronology; decided once."""
    now = now or utcnow()
    if classification not in CLASSIFICATIONS:
        raise CaseError("bad_classification")
    if not awaits_classification(case):
        raise CaseError("already_classified")
    case.classification = classification
    case.updated_at = now
    session.add(ResponseEntry(case_id=case.id, author_id=user.id, kind=f"classified_{classification}",
                              happened_at=now, logged_at=now))
    case.duties.extend(_checklist(case, now))
    refresh_next_due(case)
    audit.record(session, "case_classified", actor=user, case_id=case.id, school_id=case.school_id,
                 target=f"classification:{classification}", address=address)


# --- working a case -----------------------------------------------------------------------------------


def _log_status(session: Session, user: User, case: Case, action: str, address: str | None) -> None:
    audit.record(session, action, actor=user, case_id=case.id, school_id=case.school_id, address=address)


def acknowledge(session: Session, user: User, case: Case, address: str | None = None, now=None) -> None:
    """Mark a new case as seen and being handled."""
    if case.status != CaseStatus.NEW:
        raise CaseError("not_new")
    case.status = CaseStatus.ACKNOWLEDGED
    case.acknowledged_at = now or utcnow()
    figures.count_acknowledged(session, case)
    refresh_next_due(case)
    _log_status(session, user, case, "case_acknowledged", address)


def start_work(session: Session, user: User, case: Case, address: str | None = None) -> None:
    """Move an acknowledged case to in progress."""
    if case.status not in (CaseStatus.ACKNOWLEDGED,):
        raise CaseError("bad_transition")
    case.status = CaseStatus.IN_PROGRESS
    _log_status(session, user, case, "case_in_progress", address)


def open_legal_duties(case: Case) -> list[tuple[DutyItem, duties.DutyRule]]:
    """Legal duties of a case that are neither done nor marked not applicable, with their rules."""
    found = []
    for item in case.duties:
        rule = duties.rule(case.school.jurisdiction, item.duty_id)
        if item.done_at is None and item.not_applicable_at is None and rule is not None and rule.legal:
            found.append((item, rule))
    return found


def close(session: Session, user: User, case: Case, outcome: str, address: str | None = None, now=None,
          *, reasons: dict[str, str] | None = None) -> None:
    """Close a case with an outcome; every legal duty still open needs a reason, which is logged."""
    now = now or utcnow()
    if case.status == CaseStatus.CLOSED:
        raise CaseError("already_closed")
    if case.status == CaseStatus.NEW:
        raise CaseError("acknowledge_first")
    if outcome not in OUTCOMES:
        raise CaseError("bad_outcome")
    reasons = {key: (value or "").strip() for key, value in (reasons or {}).items()}
    still_open = open_legal_duties(case)
    if any(not reasons.get(item.duty_id) for item, _rule in still_open):
        raise CaseError("reasons_required")
    for item, _rule in still_open:
        _duty_entry(session, user, case, item, "duty_open_at_close", reasons[item.duty_id], now)
    case.status, case.outcome, case.closed_at = CaseStatus.CLOSED, outcome, now
    case.updated_at = now
    refresh_next_due(case)
    district_signal.seal_case(case)  # a closed case's channels no longer count at the district
    _log_status(session, user, case, "case_closed", address)


def mark_not_applicable(session: Session, user: User, case: Case, duty_id: str, reason: str | None,
                        address: str | None = None, now: datetime | None = None) -> None:
    """Mark an open checklist item "not applicable"; the reason becomes a log entry."""
    now = now or utcnow()
    item = next((d for d in case.duties if d.duty_id == duty_id), None)
    if item is None or item.done_at is not None or item.not_applicable_at is not None:
        raise CaseError("duty_not_open")
    if case.status == CaseStatus.CLOSED:
        raise CaseError("closed")
    if not (reason or "").strip():
        raise CaseError("reason_required")
    entry = _duty_entry(session, user, case, item, "duty_not_applicable", reason.strip(), now)
    item.not_applicable_at, item.not_applicable_entry_id = now, entry.id
    case.updated_at = now
    refresh_next_due(case)
    audit.record(session, "duty_not_applicable", actor=user, case_id=case.id, school_id=case.school_id,
                 target=f"duty:{duty_id}", address=address)


def _duty_entry(session: Session, user: User, case: Case, item: DutyItem, kind: str, reason: str,
                now: datetime) -> ResponseEntry:
    entry = ResponseEntry(case_id=case.id, author_id=user.id, kind=kind, happened_at=now, logged_at=now,
                          text=reason[:REASON_MAX], duty_id=item.duty_id)
    session.add(entry)
    session.flush()
    return entry


REASON_MAX = 2000


def reopen(session: Session, user: User, case: Case, address: str | None = None) -> None:
    """Reopen a closed case."""
    if case.status != CaseStatus.CLOSED:
        raise CaseError("not_closed")
    case.status, case.closed_at = CaseStatus.IN_PROGRESS, None
    case.updated_at = utcnow()
    refresh_next_due(case)
    district_signal.seal_case(case)
    _log_status(session, user, case, "case_reopened", address)


def add_entry(session: Session, user: User, case: Case, kind: str, happened_at: datetime, text: str | None,
              *, agency: str | None = None, report_number: str | None = None, link: str | None = None,
              platform: str | None = None, takedown_status: str | None = None, corrects_id: int | None = None,
              address: str | None = None, now: datetime | None = None) -> ResponseEntry:
    """Append an entry to the response log; it may satisfy a duty. Nothing is ever edited in place."""
    now = now or utcnow()
    if kind not in ENTRY_KINDS:
        raise CaseError("bad_kind")
    if happened_at > now + timedelta(minutes=5):
        raise CaseError("in_future")
    # Only the kind's own fields are kept: a police agency posted with a note is dropped, not stored.
    given = {"agency": agency, "report_number": report_number, "link": link, "platform": platform,
             "takedown_status": takedown_status}
    fields = {name: value or None for name, value in given.items() if name in ENTRY_FIELDS.get(kind, ())}
    if kind == "police_report" and not fields["agency"]:
        raise CaseError("agency_required")
    if kind == "takedown" and (not fields["link"] or fields["takedown_status"] not in TAKEDOWN_STATUSES):
        raise CaseError("takedown_fields")
    if kind not in ENTRY_REQUIRED and not (text and text.strip()):
        raise CaseError("text_required")
    if corrects_id is not None and not any(e.id == corrects_id for e in case.entries):
        raise CaseError("bad_correction")
    entry = append_entry(session, user, case, kind, happened_at, now, text=(text or "").strip() or None,
                         corrects_id=corrects_id, **fields)
    if kind == "police_report":
        case.police_told = True
    audit.record(session, "entry_added", actor=user, case_id=case.id, school_id=case.school_id,
                 target=f"entry:{entry.id}:{kind}" + (":addendum" if entry.after_close else ""), address=address)
    return entry


def append_entry(session: Session, user: User, case: Case, kind: str, happened_at: datetime, now: datetime,
                 **fields) -> ResponseEntry:
    """Write one entry the caller has checked and mark what it does to the case: a checklist item it satisfies,
    an acknowledged case now in progress, a late addendum to a closed one. The caller records the audit row."""
    entry = ResponseEntry(case_id=case.id, author_id=user.id, kind=kind, happened_at=happened_at, logged_at=now,
                          after_close=case.status == CaseStatus.CLOSED, **fields)
    session.add(entry)
    session.flush()
    for item in case.duties:
        if item.done_at is None and item.not_applicable_at is None and item.satisfied_by == kind:
            item.done_at, item.done_entry_id = happened_at, entry.id
    if case.status == CaseStatus.ACKNOWLEDGED:
        case.status = CaseStatus.IN_PROGRESS
    case.updated_at = now
    refresh_next_due(case)
    return entry


def add_assignee(session: Session, user: User, case: Case, other: User, *, transfer: bool = False,
                 address: str | None = None) -> None:
    """Add a counselor to the case, or hand it over (the acting user leaves it)."""
    if other.school_id != case.school_id or other.role != Role.COUNSELOR or not other.active:
        raise CaseError("bad_assignee")
    if any(ex.user_id == other.id for ex in case.exclusions):
        raise CaseError("excluded")
    if not any(a.user_id == other.id for a in case.assignees):
        case.assignees.append(CaseAssignee(user_id=other.id))
    if transfer:
        case.assignees[:] = [a for a in case.assignees if a.user_id != user.id]
    audit.record(session, "case_transferred" if transfer else "assignee_added", actor=user, case_id=case.id,
                 school_id=case.school_id, target=f"user:{other.id}", address=address)
    session.flush()
    notify.notify(session, [other], case, "assigned")


# --- deadlines: one computation for badges, the inbox, the dashboard and escalation ---------------------

STATE_ORDER = {"overdue": 0, "due_now": 1, "due": 2}


@dataclass(frozen=True)
class Deadline:
    """Where one open item stands: "due_now" (due immediately, within the school's grace period), "due", or
    "overdue"; `at` is when it was due; `rule` is its checklist rule (None for acknowledging a new case)."""

    state: str
    at: datetime
    rule: duties.DutyRule | None = None


def duty_deadline(case: Case, item: DutyItem, now: datetime) -> Deadline | None:
    """The state of one checklist item, or None when it is done."""
    if item.done_at is not None or item.not_applicable_at is not None:
        return None
    return _item_deadline(case.school, item.duty_id, item.due_at, now)


def _item_deadline(school: School, duty_id: str, due_at: datetime, now: datetime) -> Deadline:
    """The state of an open checklist item.

    A duty due immediately (the police report, 청소년성보호법 34②) is "due now" from the first minute, never
    softened; the school's grace period only delays its "overdue" badge and escalation. Guidance items keep
    their own deadlines without grace.
    """
    rule = duties.rule(school.jurisdiction, duty_id)
    immediate = rule is not None and rule.immediate
    late_at = due_at + (timedelta(minutes=school.duty_grace_minutes) if immediate else timedelta(0))
    state = "overdue" if now >= late_at else "due_now" if immediate else "due"
    return Deadline(state, due_at, rule)


def deadlines(case: Case, now: datetime) -> list[Deadline]:
    """Every open deadline of a case, acknowledging it included; none once it is closed."""
    open_items = [(item.duty_id, item.due_at) for item in case.duties
                  if item.done_at is None and item.not_applicable_at is None]
    return _open_deadlines(case, case.school, open_items, now)


def _open_deadlines(case, school: School, open_items: list[tuple[str, datetime]],
                    now: datetime) -> list[Deadline]:
    """The open deadlines of a case (or a row of its columns) from its open checklist items as (duty id, due)."""
    if case.status == CaseStatus.CLOSED:
        return []
    found = [_item_deadline(school, duty_id, due_at, now) for duty_id, due_at in open_items]
    if case.status == CaseStatus.NEW:
        at = _ack_due(school, case)
        found.append(Deadline("overdue" if now >= at else "due", at))
    return found


def next_deadline(case: Case, now: datetime) -> Deadline | None:
    """The most pressing open deadline: overdue first, then due now, then the earliest."""
    return _most_pressing(deadlines(case, now))


def _most_pressing(found: list[Deadline]) -> Deadline | None:
    return min(found, key=lambda d: (STATE_ORDER[d.state], d.at)) if found else None


def hand_over_to_lead(session: Session, actor: User, lead: User, address: str | None = None) -> int:
    """Add a new lead counselor to the school's open cases they are not excluded from. Each handover is a log
    entry and an audit row, and the case's counselors are told at once: nobody quietly widens who reads a case."""
    now = utcnow()
    handed = 0
    open_cases = session.scalars(select(Case).where(Case.school_id == lead.school_id,
                                                    Case.status != CaseStatus.CLOSED).order_by(Case.id)
                                 .options(selectinload(Case.exclusions),
                                          selectinload(Case.assignees).selectinload(CaseAssignee.user)))
    for case in open_cases:
        if any(ex.user_id == lead.id for ex in case.exclusions) or any(a.user_id == lead.id for a in case.assignees):
            continue
        counselors = [a.user for a in case.assignees if a.user.active]
        case.assignees.append(CaseAssignee(user_id=lead.id, added_at=now))
        session.add(ResponseEntry(case_id=case.id, author_id=actor.id, kind="lead_handover", happened_at=now,
                                  logged_at=now))
        audit.record(session, "lead_handover", actor=actor, case_id=case.id, school_id=case.school_id,
                     target=f"user:{lead.id}", address=address)
        session.flush()
        notify.notify(session, counselors, case, "lead_added")
        notify.notify(session, [lead], case, "assigned")
        handed += 1
    return handed


def refresh_next_due(case: Case) -> None:
    """Store the case's earliest open deadline (for the inbox's order); call after anything that changes one."""
    case.next_due_at = _earliest(deadlines(case, utcnow()))


def _earliest(found: list[Deadline]) -> datetime | None:
    return min((d.at for d in found), default=None)


def refresh_school_deadlines(session: Session, school: School) -> None:
    """After the school's acknowledgement deadlines change: refresh the cases they apply to, the new ones."""
    for case in session.scalars(select(Case).where(Case.school_id == school.id, Case.status == CaseStatus.NEW)
                                .options(selectinload(Case.duties))):
        refresh_next_due(case)


def overdue_duties(case: Case, now: datetime) -> list[DutyItem]:
    """Checklist items of an open case that are overdue (past their deadline and, if immediate, the grace)."""
    if case.status == CaseStatus.CLOSED:
        return []
    return [item for item in case.duties if (d := duty_deadline(case, item, now)) and d.state == "overdue"]


def ack_deadline(case: Case) -> datetime:
    """When a new case must be acknowledged."""
    return _ack_due(case.school, case)


def _ack_due(school: School, case) -> datetime:
    hours = school.ack_urgent_hours if case.urgent else school.ack_normal_hours
    return case.created_at + timedelta(hours=hours)


# --- the inbox and what needs attention, in SQL ---------------------------------------------------------
#
# Counted and filtered in the database, so that a school's thousands of past cases cost nothing: the clauses
# below state the same rules as duty_deadline() and ack_deadline() (a test compares them case by case).

ATTENTION = ("open", "urgent", "new", "due_now", "overdue", "waiting", "takedown", "takedown_late")
# A link not confirmed removed this many days after it was found (or reappeared) is shown as needing attention:
# the support center's deletion requests usually take effect within days, and a link still up after a week needs
# a follow-up with the center or the platform.
TAKEDOWN_REMINDER_DAYS = 7
PAGE_SIZE = 50


def _open_item():
    return and_(DutyItem.case_id == Case.id, DutyItem.done_at.is_(None), DutyItem.not_applicable_at.is_(None))


def _late_ack(school: School, now: datetime):
    """A new case past its acknowledgement deadline."""
    return and_(Case.status == CaseStatus.NEW, or_(
        and_(Case.urgent.is_(True), Case.created_at <= now - timedelta(hours=school.ack_urgent_hours)),
        and_(Case.urgent.is_(False), Case.created_at <= now - timedelta(hours=school.ack_normal_hours))))


def _late_item(school: School, now: datetime):
    """An open checklist item past its deadline; one due immediately only after the school's grace period."""
    immediate = duties.immediate_ids()
    return and_(_open_item(), or_(
        and_(DutyItem.duty_id.in_(immediate), DutyItem.due_at <= now - timedelta(minutes=school.duty_grace_minutes)),
        and_(DutyItem.duty_id.not_in(immediate), DutyItem.due_at <= now)))


def open_takedown_item():
    """A takedown item of the case not removed (and not merged into another item)."""
    return and_(TakedownItem.case_id == Case.id, TakedownItem.merged_into_id.is_(None),
                TakedownItem.status != "removed")


def late_takedown_item(now: datetime):
    """An open takedown item found, or seen again, TAKEDOWN_REMINDER_DAYS or more ago."""
    return and_(open_takedown_item(), func.coalesce(TakedownItem.reappeared_at, TakedownItem.found_at)
                <= now - timedelta(days=TAKEDOWN_REMINDER_DAYS))


def attention_clause(what: str, school: School, now: datetime, user: User | None = None):
    """A WHERE clause selecting the open cases of a school in one ATTENTION group (the landing page's figures,
    the inbox's filter, the dashboards' overdue count)."""
    if what == "urgent":
        return Case.urgent.is_(True)
    if what == "new":
        return Case.status == CaseStatus.NEW
    if what == "overdue":
        return or_(_late_ack(school, now), exists().where(_late_item(school, now)))
    if what == "due_now":
        grace_start = now - timedelta(minutes=school.duty_grace_minutes)
        return exists().where(_open_item(), DutyItem.duty_id.in_(duties.immediate_ids()),
                              DutyItem.due_at > grace_start)
    if what == "takedown":
        return exists().where(open_takedown_item())
    if what == "takedown_late":
        return exists().where(late_takedown_item(now))
    if what == "waiting":
        return Case.id.in_(_waiting_query(user))
    return true()  # "open"


def _waiting_query(user: User):
    """The ids of cases where the reporter wrote and this user has not opened the case since."""
    return select(Notification.case_id).where(
        Notification.user_id == user.id, Notification.read_at.is_(None), Notification.kind == "reporter_message")


def waiting_cases(session: Session, user: User) -> set[int]:
    """Cases where the reporter wrote and this user has not opened the case since."""
    return set(session.scalars(_waiting_query(user)))


def workload_query(user: User, now: datetime):
    """One query counting the open cases this user may see in each ATTENTION group."""
    return select(*[func.count().filter(attention_clause(what, user.school, now, user)).label(what)
                    for what in ATTENTION]).select_from(Case).where(visible_cases_clause(user),
                                                                     Case.status.in_(OPEN_STATUSES))


def workload(session: Session, user: User, now: datetime) -> dict[str, int]:
    """How many of the open cases this user may see are in each ATTENTION group."""
    return dict(session.execute(workload_query(user, now)).one()._mapping)


@dataclass(frozen=True)
class InboxRow:
    """What the inbox shows of a case. A page reads these columns and the open checklist items as plain rows:
    whole cases with their checklists, as objects, cost about 4 ms a page of 50."""

    id: int
    public_id: str
    reference: str
    kind: str
    urgent: bool
    status: str
    categories: str
    created_at: datetime
    deadline: Deadline | None = None  # the most pressing open one (next_deadline)

    anonymous = Case.anonymous  # the case's own reading of its columns
    category_list = Case.category_list


INBOX_COLUMNS = (Case.id, Case.public_id, Case.reference, Case.kind, Case.urgent, Case.status, Case.categories,
                 Case.created_at)


@dataclass
class InboxPage:
    """One page of the inbox; `after` names the last case when more follow (the next page starts after it)."""

    cases: list[InboxRow]
    after: str | None
    total: int | None  # how many match, where counting is cheap (open cases); None when closed ones are listed


NO_DEADLINE = datetime(9999, 12, 31, tzinfo=UTC)  # sorts a case without an open deadline after every other


def _open_order():
    """Open cases: urgent first, then the earliest open deadline (overdue ones are the earliest), newest first."""
    due = func.coalesce(Case.next_due_at, literal(NO_DEADLINE, UTCDateTime))
    urgent = sql_case((Case.urgent.is_(True), 1), else_=0)  # a number: SQL compares it with the anchor's
    return [(urgent, True), (due, False), (Case.created_at, True), (Case.id, True)]


def _after(keys, anchor: Case):
    """Rows that come after `anchor` in the order of `keys` ((expression, descending) pairs): the keyset."""
    values = _anchor_values(anchor)
    clauses = []
    for index, (key, descending) in enumerate(keys):
        equal = [k == v for (k, _d), v in zip(keys[:index], values[:index], strict=True)]
        clauses.append(and_(*equal, key < values[index] if descending else key > values[index]))
    return or_(*clauses)


def _anchor_values(case: Case) -> list:
    return [int(case.urgent), case.next_due_at or NO_DEADLINE, case.created_at, case.id]


def inbox_query(user: User, *, status: str | None = "open", category: str | None = None, mine: bool = False,
                attention: str | None = None, now: datetime | None = None, anchor: Case | None = None):
    """The query of one inbox segment: open cases (urgent, then by deadline) or closed ones (newest first)."""
    query = select(Case).where(visible_cases_clause(user))
    if category:
        query = query.where(Case.categories.contains(category))
    if mine:
        query = query.where(exists().where(and_(CaseAssignee.case_id == Case.id, CaseAssignee.user_id == user.id)))
    if status == CaseStatus.CLOSED:
        query = query.where(Case.status == CaseStatus.CLOSED)
        if anchor is not None and anchor.status == CaseStatus.CLOSED:
            # A row-value comparison: both databases walk the (school, status, created_at, id) index from here.
            query = query.where(tuple_(Case.created_at, Case.id) < (anchor.created_at, anchor.id))
        return query.order_by(Case.created_at.desc(), Case.id.desc())
    query = query.where(Case.status == status if status in OPEN_STATUSES else Case.status.in_(OPEN_STATUSES))
    if attention:
        query = query.where(attention_clause(attention, user.school, now or utcnow(), user))
    if anchor is not None and anchor.status != CaseStatus.CLOSED:
        query = query.where(_after(_open_order(), anchor))
    return query.order_by(*[key.desc() if descending else key for key, descending in _open_order()])


def inbox(session: Session, user: User, *, status: str | None = "open", category: str | None = None,
          mine: bool = False, attention: str | None = None, after: str | None = None,
          now: datetime | None = None) -> InboxPage:
    """A page of the cases this user may see: open ones first (urgent, then by deadline), then closed ones
    (newest first) when status is None ("all"). `after` is the public id of the previous page's last case."""
    now = now or utcnow()
    anchor = session.scalar(select(Case).where(Case.public_id == after, visible_cases_clause(user))) if after else None
    segments = [CaseStatus.CLOSED] if status == CaseStatus.CLOSED else [status or "open"]
    if status is None and not attention:
        segments.append(CaseStatus.CLOSED)
    if anchor is not None and anchor.status == CaseStatus.CLOSED and len(segments) == 2:
        segments = segments[1:]  # the open cases were on earlier pages
    found, queries = [], {}
    for segment in segments:
        queries[segment] = inbox_query(user, status=segment, category=category, mine=mine, attention=attention,
                                       now=now, anchor=anchor)
        found += session.execute(queries[segment].with_only_columns(*INBOX_COLUMNS)
                                 .limit(PAGE_SIZE + 1 - len(found))).all()
        if len(found) > PAGE_SIZE:
            break
    more = len(found) > PAGE_SIZE
    found = _with_deadlines(session, user.school, found[:PAGE_SIZE], now)
    total = None
    if status is not None and status != CaseStatus.CLOSED:  # open cases: few, so counting them is cheap
        # On a first page the page's own query, built once (building it again was 5 % of an inbox's instructions).
        counted = queries[status] if anchor is None and status in queries else inbox_query(
            user, status=status, category=category, mine=mine, attention=attention, now=now)
        total = session.scalar(select(func.count()).select_from(counted.order_by(None).subquery()))
    return InboxPage(found, found[-1].public_id if more else None, total)


def _with_deadlines(session: Session, school: School, rows: list, now: datetime) -> list[InboxRow]:
    """The page's rows, each with its most pressing deadline, from one query for their open checklist items."""
    open_items: dict[int, list[tuple[str, datetime]]] = {row.id: [] for row in rows}
    for case_id, duty_id, due_at in session.execute(
            select(DutyItem.case_id, DutyItem.duty_id, DutyItem.due_at).where(
                DutyItem.case_id.in_(open_items), DutyItem.done_at.is_(None), DutyItem.not_applicable_at.is_(None))
            .order_by(DutyItem.id)):
        open_items[case_id].append((duty_id, due_at))
    return [InboxRow(*row, deadline=_most_pressing(_open_deadlines(row, school, open_items[row.id], now)))
            for row in rows]


# --- escalation ---------------------------------------------------------------------------------------


def _escalation_targets(session: Session, case: Case) -> list[User]:
    """The lead and the school admins, less anyone excluded; the case's assignees when that leaves nobody."""
    excluded = {ex.user_id for ex in case.exclusions}
    people = session.scalars(select(User).where(
        User.school_id == case.school_id, User.active.is_(True),
        or_(and_(User.role == Role.COUNSELOR, User.is_lead.is_(True)), User.role == Role.SCHOOL_ADMIN))).all()
    targets = [p for p in people if p.id not in excluded]
    return targets or [a.user for a in case.assignees if a.user.active]


def escalation_query(school: School, now: datetime):
    """The school's open cases with something not yet escalated: a late acknowledgement or an overdue item. The
    work of each check follows what became late since the last one, not the number of cases."""
    late_item = exists().where(_late_item(school, now), DutyItem.escalated_at.is_(None))
    late_ack = and_(_late_ack(school, now), Case.ack_escalated_at.is_(None))
    return select(Case).where(Case.school_id == school.id, Case.status.in_(OPEN_STATUSES),
                              or_(late_ack, late_item)).order_by(Case.id)


def escalate(session: Session, app: Flask, now: datetime) -> int:
    """Notify the lead and the school admin, once per item, about late acknowledgements and overdue duties."""
    done = 0
    for school in session.scalars(select(School)).all():
        for case in session.scalars(escalation_query(school, now).options(selectinload(Case.duties))).all():
            if case.status == CaseStatus.NEW and case.ack_escalated_at is None and ack_deadline(case) <= now:
                notify.notify(session, _escalation_targets(session, case), case, "ack_overdue")
                case.ack_escalated_at = now
                audit.record(session, "escalated_ack", case_id=case.id, school_id=case.school_id, address="tick")
                done += 1
            for item in overdue_duties(case, now):
                if item.escalated_at is None:
                    notify.notify(session, _escalation_targets(session, case), case, "duty_overdue",
                                  open_since=case.created_at, now=now)
                    item.escalated_at = now
                    audit.record(session, "escalated_duty", case_id=case.id, school_id=case.school_id,
                                 target=f"duty:{item.duty_id}", address="tick")
                    done += 1
    return done


CHECKS.append(escalate)
