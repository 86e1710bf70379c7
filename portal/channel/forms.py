"""Forms of the school's public page. None has a session-bound CSRF token (the page sets no cookie before someone
sends something): channel/routes.py protects them with a signed form token and a same-origin check instead."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from portal.forms import MultiCheckboxField
from portal.labels import ABOUT_LABELS, CHANNEL_CATEGORY_LABELS, PLATFORM_LABELS, RELATION_CHOICES
from portal.reports.forms import ReporterMessageForm


class _NoSessionForm(FlaskForm):
    class Meta:
        csrf = False  # see the module docstring


class TellForm(_NoSessionForm):
    """What a student, a friend or a parent tells the school. Everything but what happened is optional."""

    form_token = HiddenField()
    categories = MultiCheckboxField(_l("What is happening? Choose all that fit."),
                                    choices=list(CHANNEL_CATEGORY_LABELS.items()),
                                    validators=[DataRequired(_l("Choose at least one thing that is happening."))])
    description = TextAreaField(_l("Tell us what is happening, in your own words"),
                                validators=[DataRequired(_l("Write a few words about what is happening.")),
                                            Length(max=4000)],
                                description=_l("Write what you know. You do not have to describe the picture."))
    about = RadioField(_l("Who is it happening to?"), choices=list(ABOUT_LABELS.items()), default="unknown",
                       validators=[InputRequired(_l("Choose who it is happening to."))])
    platforms = MultiCheckboxField(_l("Where did you see it?"), choices=list(PLATFORM_LABELS.items()),
                                   validators=[Optional()])
    links = TextAreaField(_l("A link, a channel name or an account name, typed as text (optional)"),
                          validators=[Optional(), Length(max=2000)],
                          description=_l("Please do not save, screenshot or send the picture itself. Keeping or "
                                         "sending it can be a crime, even to help, and the school can act on a "
                                         "link or a name. That is why this form takes no files."))
    urgent = RadioField(_l("Is someone in danger right now?"), choices=[("yes", _l("Yes")), ("no", _l("No"))],
                        validators=[InputRequired(_l("Say whether someone is in danger right now."))])
    relation = RadioField(_l("Who are you? (optional)"), choices=RELATION_CHOICES, default="unsaid",
                          validators=[Optional()])
    identity = StringField(_l("Your name and class (optional)"), validators=[Optional(), Length(max=200)],
                           description=_l("Only if you want a counselor to be able to find you. Leave it empty to "
                                          "stay anonymous: you can still read the answers with your code."))
    submit = SubmitField(_l("Send to the counselors"))


class ReturnForm(_NoSessionForm):
    """Come back with the receipt code."""

    form_token = HiddenField()
    code = StringField(_l("Your code"), validators=[DataRequired(_l("Enter the code you were given."))],
                       description=_l("20 letters and digits, as on your slip. Spaces, dashes and small letters "
                                      "are fine."))
    submit = SubmitField(_l("Open the conversation"))


class MessageForm(ReporterMessageForm):
    """The anonymous reporter writes back to the counselors."""

    class Meta:
        csrf = False  # see the module docstring

    form_token = HiddenField()
