"""Notices to staff about cases: a row in the portal and an e-mail. Neither carries names or case content."""

from __future__ import annotations

import logging
import os
import secrets
import smtplib
from email.message import EmailMessage
from pathlib import Path

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from portal.models import Case, Notification, User
from portal.models.base import utcnow
from portal.urls import public_url

log = logging.getLogger("portal.notify")

KINDS = ("new_case", "assigned", "ack_overdue", "duty_overdue", "student_request", "status_changed", "purge_warning")


def _subject(kind: str, reference: str, urgent: bool) -> str:
    urgency = _("URGENT") + " " if urgent else ""
    subjects = {
        "new_case": _("%(urgency)sNew case %(ref)s", urgency=urgency, ref=reference),
        "student_request": _("%(urgency)sA student asked for help: %(ref)s", urgency=urgency, ref=reference),
        "assigned": _("%(urgency)sYou were added to case %(ref)s", urgency=urgency, ref=reference),
        "ack_overdue": _("%(urgency)sCase %(ref)s has not been acknowledged in time", urgency=urgency, ref=reference),
        "duty_overdue": _("%(urgency)sA legal duty on case %(ref)s is overdue", urgency=urgency, ref=reference),
        "status_changed": _("The status of case %(ref)s changed", ref=reference),
        "purge_warning": _("Closed case %(ref)s will be deleted in 30 days under the retention period",
                           ref=reference),
    }
    return subjects[kind]


def describe(notification: Notification) -> str:
    """The text of a notice, in the current language."""
    case = notification.case
    return _subject(notification.kind, case.reference if case else "", bool(case and case.urgent))


def notify(session: Session, users: list[User], case: Case, kind: str) -> None:
    """Add a notice for each user and queue an e-mail to those with an address."""
    seen = set()
    for user in users:
        if user.id in seen or not user.active:
            continue
        seen.add(user.id)
        session.add(Notification(user_id=user.id, case_id=case.id, kind=kind))
        if user.email:
            send_mail(user, case, kind)


def send_mail(user: User, case: Case, kind: str) -> None:
    """Send (or queue in instance/outbox) a mail with the reference, urgency and a link only."""
    config = current_app.config
    with force_locale(user.locale or "ko"):
        subject = _subject(kind, case.reference, case.urgent)
        link = public_url("cases.file", public_id=case.public_id)
        body = "\n\n".join([
            subject,
            _("Sign in to the portal to see it: %(link)s", link=link),
            _("For confidentiality this e-mail never contains names or what happened."),
        ])
    deliver(user.email, subject, body, config)


def deliver(to: str, subject: str, body: str, config) -> None:
    """Send a plain-text mail through SMTP, or write it to instance/outbox when no server is configured."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = config["MAIL_FROM"]
    message["To"] = to
    message.set_content(body)
    try:
        if config.get("MAIL_SERVER"):
            with smtplib.SMTP(config["MAIL_SERVER"], int(config["MAIL_PORT"]), timeout=10) as smtp:
                if config.get("MAIL_USE_STARTTLS"):
                    smtp.starttls()
                if config.get("MAIL_USERNAME"):
                    smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
                smtp.send_message(message)
            log.info("mail sent")
        else:
            outbox = Path(current_app.instance_path) / "outbox"
            outbox.mkdir(parents=True, exist_ok=True)
            name = f"{utcnow():%Y%m%dT%H%M%S}-{secrets.token_hex(4)}.eml"
            fd = os.open(outbox / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(message.as_bytes())
            log.info("mail queued")
    except (OSError, smtplib.SMTPException):
        # The notice in the portal is already saved; a mail failure must not lose anything.
        log.warning("mail could not be sent")
