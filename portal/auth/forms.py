"""Sign-in form."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):
    """Username and password."""

    username = StringField(_l("Username"), validators=[DataRequired(_l("Enter your username.")), Length(max=64)],
                           render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"})
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Enter your password.")), Length(max=256)],
                             render_kw={"autocomplete": "current-password"})
    next = HiddenField()
    submit = SubmitField(_l("Sign in"))


class TwoFactorForm(FlaskForm):
    """A code from the authenticator app, or a recovery code."""

    code = StringField(_l("Code"), validators=[DataRequired(_l("Enter the code.")), Length(max=32)],
                       description=_l("The 6-digit code from your authenticator app, or one of your recovery codes."),
                       render_kw={"autocomplete": "one-time-code", "autocapitalize": "none", "spellcheck": "false"})
    submit = SubmitField(_l("Continue"))


class EnrolForm(FlaskForm):
    """The first code from the app, which proves it was set up."""

    code = StringField(_l("Code from the app"), validators=[DataRequired(_l("Enter the code.")), Length(max=16)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"})
    submit = SubmitField(_l("Turn on two-factor sign-in"))
