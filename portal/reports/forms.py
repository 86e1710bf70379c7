"""The incident report form and the student help form. There is no file field anywhere."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateTimeLocalField,
    HiddenField,
    IntegerField,
    RadioField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from portal.forms import MultiCheckboxField, PlausibleDate
from portal.labels import CATEGORY_LABELS, PLATFORM_LABELS, VICTIM_LABELS, YNU_LABELS


def _choices(labels: dict) -> list[tuple[str, object]]:
    return list(labels.items())


# The report's fields by name, short: the headings of the review page, and the names in the error summary, where
# the question itself ("Who is affected?") would read "Who is affected?: Choose who is affected.".
REPORT_SHORT_NAMES = {
    "categories": _l("What happened"), "victim_kind": _l("Who is affected"),
    # Translators: a short name of a field of the incident report: the number of people affected.
    "victim_count": _l("Number of people affected"),
    "victim_names": _l("Names or student numbers"), "suspects": _l("Suspected persons"), "platforms": _l("Where"),
    "links": _l("Links and account names"), "first_seen": _l("First seen"), "how_learned": _l("How you learned"),
    "urgent": _l("Urgent risk"), "victim_knows": _l("The person affected knows"),
    "guardians_told": _l("Guardians told"), "police_told": _l("Police told"),
    # Translators: a short name of a field of the incident report: when the police were told.
    "police_told_at": _l("Time the police were told"),
    # Translators: a short name of a field of the incident report.
    "police_report_number": _l("Police report number"),
    "description": _l("Description"), "excluded": _l("Must not see it"),
}


def _at_most(limit: int) -> Length:
    return Length(max=limit, message=_l("Shorten this to %(max)d characters or fewer.", max=limit))


class ReportForm(FlaskForm):
    """Everything a teacher is asked; names, links and the description are stored encrypted."""

    class Meta:
        mark_required = True  # a long form: "required" is written after each label that must be answered

    short_names = REPORT_SHORT_NAMES
    submission_token = HiddenField()
    categories = MultiCheckboxField(_l("What happened? Choose all that apply."), choices=_choices(CATEGORY_LABELS),
                                    validators=[DataRequired(_l("Choose at least one thing that happened."))])
    victim_kind = RadioField(_l("Who is affected?"), choices=_choices(VICTIM_LABELS),
                             validators=[InputRequired(_l("Choose who is affected."))])
    victim_count = IntegerField(_l("How many people are affected, if you know?"),
                                validators=[Optional(), NumberRange(1, 500, _l("Enter a number from 1 to 500."))])
    victim_names = TextAreaField(_l("Names or student numbers of those affected (optional)"),
                                 validators=[Optional(), _at_most(2000)],
                                 description=_l("Only the counselors handling the case will see this."))
    suspects = TextAreaField(_l("Who is suspected of making or sharing it, if known (optional)"),
                             validators=[Optional(), _at_most(2000)])
    platforms = MultiCheckboxField(_l("Where was it seen or shared?"), choices=_choices(PLATFORM_LABELS),
                                   validators=[Optional()])
    links = TextAreaField(_l("Links, channel names or account names, as text"),
                          validators=[Optional(), _at_most(4000)],
                          description=_l("Copy the address or the name as text. Do not save, screenshot or forward "
                                         "the image itself."))
    first_seen = DateTimeLocalField(_l("When was it first seen? (approximately)"), format="%Y-%m-%dT%H:%M",
                                    validators=[Optional(), PlausibleDate()])
    how_learned = TextAreaField(_l("How did you learn about it?"), validators=[Optional(), _at_most(2000)])
    urgent = RadioField(_l("Is anyone's safety at urgent risk right now?"),
                        choices=[("yes", _l("Yes")), ("no", _l("No"))],
                        validators=[InputRequired(_l("Say whether anyone is at urgent risk."))])
    victim_knows = RadioField(_l("Does the person affected know?"), choices=_choices(YNU_LABELS), default="unknown")
    guardians_told = RadioField(_l("Have the guardians been told?"), choices=_choices(YNU_LABELS), default="unknown")
    police_told = RadioField(_l("Have the police been told?"),
                             choices=[("yes", _l("Yes")), ("no", _l("Not yet"))],
                             validators=[InputRequired(_l("Say whether the police have been told."))])
    police_told_at = DateTimeLocalField(_l("When were the police told?"), format="%Y-%m-%dT%H:%M",
                                        validators=[Optional(), PlausibleDate()])
    police_report_number = StringField(_l("Police report number, if you have it"),
                                       validators=[Optional(), _at_most(80)])
    description = TextAreaField(_l("What happened? Describe it in your own words."),
                                validators=[DataRequired(_l("Describe what happened.")), _at_most(10000)],
                                description=_l("Describe the situation, not the image. Write what you know; "
                                               "it is fine to leave things out."))
    excluded = MultiCheckboxField(_l("Staff who must not see this report (conflict of interest)"), coerce=int,
                                  validators=[Optional()])

    def validate_police_told_at(self, field):
        if self.police_told.data == "no" and field.data:
            raise ValidationError(_l("Leave the time empty if the police have not been told yet."))


class HelpRequestForm(FlaskForm):
    """A student asks a counselor for help."""

    submission_token = HiddenField()
    message = TextAreaField(_l("What would you like help with?"),
                            validators=[DataRequired(_l("Write a few words so the counselor knows how to help.")),
                                        Length(max=4000)],
                            description=_l("Only your school's counselors will read this. You do not have to "
                                           "describe any picture."))
    urgent = RadioField(_l("Are you or someone else in danger right now?"),
                        choices=[("yes", _l("Yes")), ("no", _l("No"))], default="no")
    submit = SubmitField(_l("Send to a counselor"))


class ReporterMessageForm(FlaskForm):
    """The person who reported writes to the counselors: an answer, or something learned later."""

    text = TextAreaField(_l("Write to the counselors"),
                         validators=[DataRequired(_l("Write your message first.")), Length(max=4000)])
    submit = SubmitField(_l("Send"))
