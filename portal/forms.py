"""Forms shared by several blueprints."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, SubmitField


class EmptyForm(FlaskForm):
    """A form that is only a CSRF token and a button: for logout and other one-click actions."""

    submit = SubmitField(_l("Submit"))


class LanguageForm(FlaskForm):
    """The language switch on every page."""

    lang = SelectField(_l("Language"), choices=[("ko", "한국어"), ("en", "English")])
    next = HiddenField()
    submit = SubmitField(_l("Change language"))
