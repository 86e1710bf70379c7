"""Notices to staff about cases: a row in the portal and an e-mail. Neither carries names or case content."""

from __future__ import annotations

from datetime import datetime

from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from portal.models import Case, Notification, User
from portal.models.base import utcnow
from portal.services import mail
from portal.urls import public_url

KINDS = ("new_case", "assigned", "ack_overdue", "duty_overdue", "student_request", "status_changed", "purge_warning",
         "lead_added", "anonymous_report", "reporter_message")


# Each notice's wording, translated when shown (a page of notices translates each one once, not all of them).
SUBJECTS = {
    "new_case": _l("%(urgency)sNew case %(ref)s"),
    "student_request": _l("%(urgency)sA student asked for help: %(ref)s"),
    # Translators: a report sent through the school's public page, without an account.
    "anonymous_report": _l("%(urgency)sA report came through the school's page: %(ref)s"),
    # Translators: the person who reported the case wrote in its conversation. The mail never says what.
    "reporter_message": _l("%(urgency)sThe reporter wrote on case %(ref)s"),
    "assigned": _l("%(urgency)sYou were added to case %(ref)s"),
    "ack_overdue": _l("%(urgency)sCase %(ref)s has not been acknowledged in time"),
    # Translators: an escalation. It names no law: the case file says which item and on what basis.
    "duty_overdue": _l("%(urgency)sCase %(ref)s: a checklist item is still open past its deadline"),
    "status_changed": _l("The status of case %(ref)s changed"),
    # Translators: sent to the counselors of a case when a school admin makes someone else the lead.
    "lead_added": _l("%(urgency)sThe new lead counselor was added to case %(ref)s"),
    "purge_warning": _l("Closed case %(ref)s will be deleted in 30 days under the retention period"),
}


def _subject(kind: str, reference: str, urgent: bool) -> str:
    return str(SUBJECTS[kind]) % {"urgency": _("URGENT") + " " if urgent else "", "ref": reference}


def describe(notification: Notification) -> str:
    """The text of a notice, in the current language."""
    case = notification.case
    return _subject(notification.kind, case.reference if case else "", bool(case and case.urgent))


def notify(session: Session, users: list[User], case: Case, kind: str, *, open_since: datetime | None = None,
           now: datetime | None = None) -> None:
    """Add a notice for each user and, for those with an address, a mail to the outbox (sent after commit).

    With `open_since`, the mail says how long the item has been open (escalations).
    """
    hours = int((now - open_since).total_seconds() // 3600) if open_since and now else None
    add_notices(session, users, case, kind)
    queue_mails(session, users, case, kind, hours)


def _reached(users: list[User]) -> list[User]:
    """Each active user once, in order."""
    reached: dict[int, User] = {}
    for user in users:
        if user.active and user.id not in reached:
            reached[user.id] = user
    return list(reached.values())


def add_notices(session: Session, users: list[User], case: Case, kind: str) -> None:
    """A notice in the portal for each active user, in one INSERT (the ORM sends one each, to read back ids that
    nothing here needs). A notice holds no words (they are made when it is shown), so a new case's notices go in
    before the case has its reference."""
    notices = [{**row, "case_id": case.id} for row in notice_rows(users, kind, utcnow())]
    if notices:
        session.execute(ADD_NOTICES, notices)


def notice_rows(users: list[User], kind: str, now: datetime) -> list[dict]:
    """add_notices' rows without their case (a new case's go in with the case: database.inserting)."""
    return [{"user_id": user.id, "kind": kind, "created_at": now} for user in _reached(users)]


def queue_mails(session: Session, users: list[User], case: Case, kind: str, hours: int | None = None) -> None:
    """The notice's mail for each active user with an address (sent after commit)."""
    rows = case_mail_rows(session, users, case, kind, hours)
    if rows:
        session.execute(mail.QUEUE, rows)


ADD_NOTICES = Notification.__table__.insert()  # made once: every new case and escalation runs it


def case_mail_rows(session: Session, users: list[User], case: Case, kind: str, hours: int | None = None) -> list[dict]:
    """The outbox rows of the notice's mail for each active user with an address, for mail.QUEUE (queue_mails
    inserts them; a new case sends them with the statement that takes the audit chain's head)."""
    rows = (_case_mail(session, user, case, kind, hours) for user in _reached(users) if user.email)
    return [row for row in rows if row is not None]


def _case_mail(session: Session, user: User, case: Case, kind: str, hours: int | None) -> dict | None:
    """A mail with the reference, urgency and a link only, in the recipient's language."""
    with force_locale(user.locale or "ko"):
        subject = _subject(kind, case.reference, case.urgent)
        link = public_url("cases.file", public_id=case.public_id)
        lines = [subject]
        if hours is not None:
            lines.append(ngettext("The case was opened %(num)d hour ago.", "The case was opened %(num)d hours ago.",
                                  hours))
        body = "\n\n".join([
            *lines,
            _("Sign in to the portal to see it: %(link)s", link=link),
            _("For confidentiality this e-mail never contains names or what happened."),
        ])
    return mail.outbox_row(session, user.email, subject, body, school_id=case.school_id)


def reporter_reply(session: Session, case: Case) -> None:
    """Tell a signed-in staff reporter, by mail with the reference only, that a counselor wrote on their report.

    Students get no mail: a student's mailbox may be read at home, and the reply waits under "My requests".
    """
    reporter = case.reporter
    if reporter is None or not reporter.active or not reporter.email or reporter.role == "student":
        return
    with force_locale(reporter.locale or "ko"):
        # Translators: sent to the teacher who reported a case; it names no one and says nothing of the message.
        subject = _("A counselor wrote about your report %(ref)s", ref=case.reference)
        body = "\n\n".join([
            subject,
            _("Sign in to the portal to read it and answer: %(link)s",
              link=public_url("reports.messages", public_id=case.public_id)),
            _("For confidentiality this e-mail never contains names or what happened."),
        ])
    mail.queue(session, reporter.email, subject, body, school_id=case.school_id)
