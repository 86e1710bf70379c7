"""E-mail about accounts: the one-time set-password link, and nothing else."""

from __future__ import annotations

import logging

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _

from portal.models import User
from portal.services.notify import deliver

log = logging.getLogger("portal.notify")


def send_link(user: User, link: str) -> None:
    """Mail a set-password link to a user who has an address; without one, the admin hands it over."""
    if not user.email:
        return
    with force_locale(user.locale or "ko"):
        subject = _("Set your password for the School Deepfake Response Portal")
        body = "\n\n".join([
            _("Hello %(name)s,", name=user.display_name),
            _("Use this link within 72 hours to set your password. It works only once: %(link)s", link=link),
            _("If you did not expect this e-mail, you can ignore it."),
        ])
    deliver(user.email, subject, body, current_app.config)
