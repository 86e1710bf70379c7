"""Account forms."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length


class PasswordChangeForm(FlaskForm):
    """Change one's own password."""

    current = PasswordField(_l("Current password"), validators=[DataRequired(_l("Enter your current password."))],
                            render_kw={"autocomplete": "current-password"})
    new = PasswordField(_l("New password"), validators=[DataRequired(_l("Enter a new password.")), Length(max=256)],
                        description=_l("At least 10 characters. Avoid common passwords and your username."),
                        render_kw={"autocomplete": "new-password"})
    confirm = PasswordField(_l("New password again"),
                            validators=[DataRequired(_l("Enter the new password again.")),
                                        EqualTo("new", _l("The two new passwords are not the same."))],
                            render_kw={"autocomplete": "new-password"})
    submit = SubmitField(_l("Change password"))
