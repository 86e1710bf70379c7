"""One-time set-password links, and "forgot password" for staff with an e-mail address."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length

from portal.auth import bp
from portal.extensions import client_address, db, failures_only, limiter
from portal.messages import message_for
from portal.models import STAFF_ROLES
from portal.services import accounts, audit, notify_accounts
from portal.urls import public_url


class SetPasswordForm(FlaskForm):
    """Choose a password through a one-time link."""

    new = PasswordField(_l("New password"), validators=[DataRequired(_l("Enter a new password.")), Length(max=256)],
                        description=_l("At least 10 characters. Avoid common passwords and your username."),
                        render_kw={"autocomplete": "new-password"})
    confirm = PasswordField(_l("New password again"),
                            validators=[DataRequired(_l("Enter the new password again.")),
                                        EqualTo("new", _l("The two new passwords are not the same."))],
                            render_kw={"autocomplete": "new-password"})
    submit = SubmitField(_l("Set password"))


class ForgotForm(FlaskForm):
    """Ask for a reset link."""

    username = StringField(_l("Username"), validators=[DataRequired(_l("Enter your username.")), Length(max=64)],
                           render_kw={"autocomplete": "username"})
    submit = SubmitField(_l("Send me a link"))


@bp.route("/set-password/<token>", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN_PER_ADDRESS"], methods=["POST"])
@failures_only(lambda response: response.status_code != 302)  # a class setting passwords at once is not refused
def set_password(token: str):
    """Set a password with a link that works once and for 72 hours."""
    user = accounts.link_user(db.session, token)
    if user is None:
        return render_template("auth/link_expired.html"), 404
    form = SetPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.redeem_link(db.session, token, form.new.data, current_app.config["PASSWORD_MIN_LENGTH"])
        except accounts.AccountError as error:
            form.new.errors.append(message_for(error))
        else:
            audit.record(db.session, "password_set_by_link", actor=None, school_id=user.school_id,
                         target=user.username, address=client_address())
            db.session.commit()
            flash(_("Your password is set. You can sign in now."), "success")
            return redirect(url_for("auth.login"))
    return render_template("auth/set_password.html", form=form, user=user), 200 if request.method == "GET" else 422


@bp.route("/forgot-password", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN_PER_ADDRESS"], methods=["POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN_PER_ACCOUNT"], methods=["POST"],
               key_func=lambda: "forgot:" + request.form.get("username", "").strip().lower()[:64])
def forgot_password():
    """Send a reset link to staff who have an e-mail address; the answer never reveals whether an account exists."""
    form = ForgotForm()
    if form.validate_on_submit():
        user = accounts.find_user(db.session, form.username.data)
        if user is not None and user.active and user.email and user.role in STAFF_ROLES:
            raw = accounts.issue_link(db.session, user, None, purpose="reset")
            audit.record(db.session, "password_link_requested", school_id=user.school_id, target=user.username,
                         address=client_address())
            notify_accounts.send_link(db.session, user, public_url("auth.set_password", token=raw))
        else:
            # The same kind of work as above (a write and a commit, mail only queued), so the answer's timing does
            # not tell whether a staff account with an address exists. The name typed is not stored.
            audit.record(db.session, "password_link_refused", address=client_address())
            accounts.equalize_link_work()
        db.session.commit()
        flash(_("If this account belongs to staff with an e-mail address, a link is on its way. "
                "Students and staff without e-mail: ask your school admin."), "info")
        return redirect(url_for("auth.login"))
    return render_template("auth/forgot.html", form=form)
