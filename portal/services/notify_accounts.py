"""E-mail about accounts: the one-time set-password link, and the warning that a second factor was reset."""

from __future__ import annotations

from collections.abc import Callable

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from portal.models import User
from portal.services import mail


def _queue_to(session: Session, user: User, write: Callable[[], tuple[str, list[str]]]) -> None:
    """Queue a mail to a user with an address, written in their language: write() gives (subject, paragraphs)."""
    if not user.email:
        return
    with force_locale(user.locale or "ko"):
        subject, paragraphs = write()
        body = "\n\n".join([_("Hello %(name)s,", name=user.display_name), *paragraphs])
    mail.queue(session, user.email, subject, body, school_id=user.school_id)


def send_link(session: Session, user: User, link: str) -> None:
    """Queue a set-password link for a user who has an address (sent after commit); else the admin hands it over."""
    _queue_to(session, user, lambda: (
        _("Set your password for the School Deepfake Response Portal"),
        [_("Use this link within 72 hours to set your password. It works only once: %(link)s", link=link),
         _("If you did not expect this e-mail, you can ignore it.")]))


def warn_second_factor_reset(session: Session, user: User) -> None:
    """Tell a user by e-mail, outside the portal, that an admin reset their second factor: whoever takes over the
    account next would otherwise read its cases unnoticed."""
    _queue_to(session, user, lambda: (
        _("Your two-factor sign-in for the School Deepfake Response Portal was reset"),
        [_("A school admin reset your two-factor sign-in. At your next sign-in you will set it up again."),
         _("If you did not ask for this, tell your lead counselor and your education office at once: someone "
           "may be trying to reach the cases you handle.")]))
