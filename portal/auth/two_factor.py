"""The second step of signing in: a code from the authenticator app, or setting the app up the first time."""

from __future__ import annotations

import secrets
import time

from flask import current_app, flash, g, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.auth import bp
from portal.auth.forms import EnrolForm, TwoFactorForm
from portal.auth.sessions import start_session
from portal.extensions import client_address, db, failures_only, limiter
from portal.models import User
from portal.services import audit
from portal.services import two_factor as service
from portal.urls import safe_next

PENDING = "two_factor_pending"
# Between the password and the code: long enough to open the app, short enough that a forgotten tab expires.
PENDING_SECONDS = 300


def next_step(user: User) -> str | None:
    """What this user must do after a correct password: "verify", "enrol", or None to sign in at once."""
    return service.step_for(user, current_app.config)


def begin(user: User, step: str, next_url: str | None) -> str:
    """After a correct password: remember who is half signed in (not signed in yet) and where to go next."""
    lang = session.get("lang")
    session.clear()  # nothing from before sign-in carries over (session fixation)
    if lang:
        session["lang"] = lang
    session[PENDING] = {
        "uid": user.id, "ver": user.session_version, "at": int(time.time()), "next": next_url or "",
        "nonce": secrets.token_hex(16) if step == "enrol" else "",
    }
    return url_for("auth.two_factor" if step == "verify" else "auth.enrol")


def _pending() -> tuple[User, dict] | None:
    """The half-signed-in user, while the marker is fresh and their sessions have not been ended since."""
    data = session.get(PENDING)
    if not isinstance(data, dict):
        return None
    user = db.session.get(User, data.get("uid") or 0)
    fresh = int(time.time()) - int(data.get("at", 0)) <= PENDING_SECONDS
    if not fresh or user is None or not user.active or user.session_version != data.get("ver"):
        session.pop(PENDING, None)
        return None
    return user, data


def _account_key() -> str:
    data = session.get(PENDING)
    return "two-factor-account:" + str(data.get("uid") if isinstance(data, dict) else "-")


def _code_failed(_response) -> bool:
    # Only wrong codes count towards the per-account limit, as only wrong passwords do at /login.
    return bool(g.get("two_factor_failed"))


def _refuse(user: User, form) -> None:
    db.session.rollback()
    service.record_failure(db.session, user, client_address())
    db.session.commit()
    g.two_factor_failed = True
    form.code.errors.append(_("That code is not correct or was already used. Wait for the next code and try again."))


def _start_again():
    flash(_("Please sign in again."), "info")
    return redirect(url_for("auth.login"))


def _code_limits(view):
    view = failures_only(_code_failed)(view)
    view = limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN_PER_ACCOUNT"], key_func=_account_key,
                         methods=["POST"])(view)
    return limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN_PER_ADDRESS"], methods=["POST"])(view)


@bp.route("/login/two-factor", methods=["GET", "POST"])
@_code_limits
def two_factor():
    """Ask for the code from the authenticator app (or a recovery code) after a correct password."""
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    pending = _pending()
    if pending is None:
        return _start_again()
    user, data = pending
    step = service.step_for(user, current_app.config)
    if step != "verify":
        return redirect(url_for("auth.enrol")) if step == "enrol" else _start_again()
    form = TwoFactorForm()
    if form.validate_on_submit():
        try:
            kind = service.verify(db.session, user, form.code.data, address=client_address())
        except service.TwoFactorError:
            _refuse(user, form)
            return render_template("auth/two_factor.html", form=form)
        left = service.remaining_recovery_codes(db.session, user) if kind == "recovery_code" else None
        db.session.commit()
        start_session(user)
        if left is not None:
            flash(_("You signed in with a recovery code. Recovery codes left: %(count)s. When they run out, "
                    "ask your school admin to reset two-factor sign-in.", count=left), "warning")
        return redirect(safe_next(data.get("next")) or url_for("dashboard.index"))
    return render_template("auth/two_factor.html", form=form)


@bp.route("/login/enrol", methods=["GET", "POST"])
@_code_limits
def enrol():
    """Set up the authenticator app on first sign-in: a QR code, then a code to confirm, then recovery codes."""
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    pending = _pending()
    if pending is None:
        return _start_again()
    user, data = pending
    step = service.step_for(user, current_app.config)
    if step == "verify":
        return redirect(url_for("auth.two_factor"))
    if step != "enrol" or not data.get("nonce"):
        return _start_again()
    secret = service.enrolment_secret(str(current_app.config["SECRET_KEY"]), user, data["nonce"])
    form = EnrolForm()
    if form.validate_on_submit():
        try:
            codes = service.enable(db.session, user, secret, form.code.data, address=client_address())
        except service.TwoFactorError:
            _refuse(user, form)
        else:
            audit.record(db.session, "login", actor=user, target="enrol", address=client_address())
            db.session.commit()
            next_url = safe_next(data.get("next")) or url_for("dashboard.index")
            start_session(user)
            # Shown once, in this response only: the portal keeps nothing but their hashes.
            return render_template("auth/recovery_codes.html", codes=codes, next_url=next_url)
    qr, qr_size = service.qr_code(service.provisioning_uri(user, secret))
    return render_template("auth/enrol.html", form=form, qr=qr, qr_size=qr_size, secret=service.grouped(secret))
