"""E-mail about accounts: the one-time set-password link, and nothing else."""

from __future__ import annotations

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from portal.models import User
from portal.services import mail


def send_link(session: Session, user: User, link: str) -> None:
    """Queue a set-password link for a user who has an address (sent after commit); else the admin hands it over."""
    if not user.email:
        return
    with force_locale(user.locale or "ko"):
        subject = _("Set your password for the School Deepfake Response Portal")
        body = "\n\n".join([
            _("Hello %(name)s,", name=user.display_name),
            _("Use this link within 72 hours to set your password. It works only once: %(link)s", link=link),
            _("If you did not expect this e-mail, you can ignore it."),
        ])
    mail.queue(session, user.email, subject, body, school_id=user.school_id)


def warn_second_factor_reset(session: Session, user: User) -> None:
    """Tell a user by e-mail, outside the portal, that an admin reset their second factor: whoever takes over the
    account next would otherwise read its cases unnoticed."""
    if not user.email:
        return
    with force_locale(user.locale or "ko"):
        subject = _("Your two-factor sign-in for the School Deepfake Response Portal was reset")
        body = "\n\n".join([
            _("Hello %(name)s,", name=user.display_name),
            _("A school admin reset your two-factor sign-in. At your next sign-in you will set it up again."),
            _("If you did not ask for this, tell your lead counselor and your education office at once: someone "
              "may be trying to reach the cases you handle."),
        ])
    mail.queue(session, user.email, subject, body, school_id=user.school_id)
