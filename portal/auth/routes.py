"""Sign-in and sign-out views."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, logout_user

from portal.auth import bp, devices
from portal.auth.forms import LoginForm
from portal.auth.sessions import start_session
from portal.auth.two_factor import begin, next_step
from portal.database import read_phase
from portal.extensions import client_address, db, failures_only, limiter
from portal.forms import EmptyForm
from portal.models import User
from portal.services import accounts, audit
from portal.urls import safe_next


def _account_key() -> str:
    return "login-account:" + request.form.get("username", "").strip().lower()[:64]


def _failed(response) -> bool:
    return response.status_code != 302  # only wrong passwords count, everywhere


# Lockouts count failures only. A browser that has signed in to the account before (devices.py) is exempt from the
# account's and the address's limits and has its own, so a student guessing at a counselor's password locks out
# the guesser, not the counselor.
@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN_PER_ADDRESS"], methods=["POST"],
               exempt_when=devices.trusted)
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN_PER_ACCOUNT"], key_func=_account_key, methods=["POST"],
               exempt_when=devices.trusted)
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN_PER_ACCOUNT"], key_func=devices.key, methods=["POST"],
               exempt_when=lambda: not devices.trusted())
@failures_only(_failed)
def login():
    """Show the sign-in form and check what was entered."""
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    form = LoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        with read_phase():  # argon2 runs without the write lock; the writes below are short
            user, new_hash = accounts.check_credentials(db.session, form.username.data, form.password.data)
            user_id = user.id if user else None
            db.session.rollback()
        user = db.session.get(User, user_id) if user_id else None
        if user is not None:
            accounts.record_sign_in(user, new_hash)
        if user is None:
            known = accounts.find_user(db.session, form.username.data)
            audit.record(db.session, "login_failed", target=known.username if known else None,
                         school_id=known.school_id if known else None, address=client_address())
            db.session.commit()
            form.password.errors.append(_("The username or password is not correct."))
            return render_template("auth/login.html", form=form), 200
        step = next_step(user)
        if step:
            # The password was right, but nobody is signed in until the second factor is too.
            audit.record(db.session, "login_password_ok", actor=user, address=client_address())
            db.session.commit()
            return redirect(begin(user, step, safe_next(form.next.data)))
        audit.record(db.session, "login", actor=user, address=client_address())
        db.session.commit()
        start_session(user)
        return redirect(safe_next(form.next.data) or url_for("dashboard.index"))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Sign out everywhere: the session version changes so no copy of the cookie still works."""
    form = EmptyForm()
    if form.validate_on_submit():
        current_user.end_sessions()
        audit.record(db.session, "logout", actor=current_user, address=client_address())
        db.session.commit()
        lang = session.get("lang")
        logout_user()
        session.clear()
        if lang:
            session["lang"] = lang
        flash(_("You have signed out."), "success")
    return redirect(url_for("public.home"))

