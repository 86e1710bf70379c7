"""Change password and language."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.account.forms import PasswordChangeForm
from portal.auth.sessions import start_session
from portal.extensions import client_address, db
from portal.messages import message_for
from portal.security import guard_blueprint
from portal.services import accounts, audit

bp = Blueprint("account", __name__, url_prefix="/account")
guard_blueprint(bp)


@bp.route("/", methods=["GET", "POST"])
def index():
    """The account page; its form changes the password."""
    form = PasswordChangeForm()
    if form.validate_on_submit():
        if not accounts.check_password(current_user, form.current.data):
            form.current.errors.append(_("The current password is not correct."))
        else:
            try:
                accounts.set_password(current_user, form.new.data, current_app.config["PASSWORD_MIN_LENGTH"])
            except accounts.AccountError as error:
                form.new.errors.append(message_for(error))
            else:
                audit.record(db.session, "password_changed", actor=current_user, address=client_address())
                db.session.commit()
                # This browser stays signed in; every other session has ended.
                start_session(current_user._get_current_object())
                flash(_("Your password has been changed. You have been signed out everywhere else."), "success")
                return redirect(url_for("account.index"))
    return render_template("account/index.html", form=form)
