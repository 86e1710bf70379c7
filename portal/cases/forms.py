"""Forms on the case file."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateTimeLocalField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from portal.labels import ENTRY_LABELS, OUTCOME_LABELS, PLATFORM_LABELS, TAKEDOWN_LABELS


class EntryForm(FlaskForm):
    """Add one entry to the response log."""

    kind = SelectField(_l("What was done"), choices=list(ENTRY_LABELS.items()))
    happened_at = DateTimeLocalField(_l("When it happened"), format="%Y-%m-%dT%H:%M",
                                     validators=[DataRequired(_l("Enter when it happened."))])
    text = TextAreaField(_l("Details"), validators=[Optional(), Length(max=10000)],
                         description=_l("Write what was done and agreed. Do not paste or describe the image."))
    agency = StringField(_l("Police agency (for a police report)"), validators=[Optional(), Length(max=200)])
    report_number = StringField(_l("Report number (for a police report)"), validators=[Optional(), Length(max=80)])
    link = StringField(_l("Link or account (for a takedown request)"), validators=[Optional(), Length(max=2000)])
    platform = SelectField(_l("Platform (for a takedown request)"),
                           choices=[("", "—"), *PLATFORM_LABELS.items()], validators=[Optional()])
    takedown_status = SelectField(_l("Takedown status"), choices=[("", "—"), *TAKEDOWN_LABELS.items()],
                                  validators=[Optional()])
    corrects = SelectField(_l("This corrects an earlier entry (optional)"), choices=[("", "—")],
                           validators=[Optional()])
    submit = SubmitField(_l("Add to the log"))


class CloseForm(FlaskForm):
    """Close the case with an outcome."""

    outcome = SelectField(_l("Outcome"), choices=list(OUTCOME_LABELS.items()))
    submit = SubmitField(_l("Close the case"))


class AssignForm(FlaskForm):
    """Add a counselor, or hand the case over."""

    counselor = SelectField(_l("Counselor"), coerce=int, choices=[])
    transfer = BooleanField(_l("Hand the case over to them (you will no longer be assigned)"))
    submit = SubmitField(_l("Add counselor"))
