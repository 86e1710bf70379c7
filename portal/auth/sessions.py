"""Starting a signed-in session, shared by the password and second-factor steps and the password change."""

from __future__ import annotations

import time

from flask import session
from flask_login import login_user

from portal.auth import devices


def start_session(user) -> None:
    """Sign the user in with a fresh session."""
    lang = session.get("lang")
    session.clear()  # nothing from before sign-in carries over (session fixation)
    if lang:
        session["lang"] = lang
    login_user(user)
    session["auth_at"] = session["seen"] = int(time.time())
    devices.remember(user.username)  # this browser may now sign in to the account despite others' lockouts
