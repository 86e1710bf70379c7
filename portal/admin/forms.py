"""School admin forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
)
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional

ADMIN_ROLES = [("student", _l("Student")), ("teacher", _l("Teacher")), ("counselor", _l("Counselor")),
               ("school_admin", _l("School admin"))]


class NewUserForm(FlaskForm):
    """Add one person; they set their own password through a one-time link."""

    display_name = StringField(_l("Name"), validators=[DataRequired(_l("Enter the person's name.")), Length(max=120)])
    username = StringField(_l("Username"), validators=[DataRequired(_l("Enter a username.")), Length(max=64)],
                           description=_l("Letters, digits, '-', '_' and '.'. For example hanbit-kim.j"))
    role = SelectField(_l("Role"), choices=ADMIN_ROLES)
    email = EmailField(_l("E-mail (optional)"), validators=[Optional(), Email(_l("Enter a valid e-mail address.")),
                                                           Length(max=254)],
                       description=_l("With an e-mail address the set-password link is also sent by e-mail."))
    grade = IntegerField(_l("Grade (students)"), validators=[Optional(), NumberRange(1, 12, _l("Enter 1 to 12."))])
    submit = SubmitField(_l("Add user"))


class RoleForm(FlaskForm):
    """Change a role."""

    role = SelectField(_l("New role"), choices=ADMIN_ROLES)
    submit = SubmitField(_l("Change role"))


class ClassForm(FlaskForm):
    """Create or rename a class and choose its teacher."""

    name = StringField(_l("Class name"), validators=[DataRequired(_l("Enter the class name.")), Length(max=80)],
                       description=_l("For example 1-3"))
    grade = IntegerField(_l("Grade"), validators=[Optional(), NumberRange(1, 12, _l("Enter 1 to 12."))])
    teacher_id = SelectField(_l("Teacher"), coerce=int, choices=[])
    archived = BooleanField(_l("Archived (hidden from teachers' class lists)"))
    submit = SubmitField(_l("Save class"))


class MoveStudentsForm(FlaskForm):
    """Move students into this class."""

    students = SelectMultipleField(_l("Students to move into this class"), coerce=int, choices=[])
    submit = SubmitField(_l("Move students"))


class RosterUploadForm(FlaskForm):
    """Upload a roster CSV."""

    roster = FileField(_l("Roster file (CSV)"), validators=[FileRequired(_l("Choose a CSV file.")),
                                                          FileAllowed(["csv", "txt"], _l("Only CSV files."))])
    submit = SubmitField(_l("Preview the import"))


class RosterApplyForm(FlaskForm):
    """Apply a previewed roster: the file travels back in the page, so nothing is kept on the server in between."""

    payload = HiddenField()
    submit = SubmitField(_l("Import now"))


class SettingsForm(FlaskForm):
    """Case routing, deadlines, retention, time zone and jurisdiction."""

    routing = RadioField(_l("Who receives a new case"), choices=[
        ("all", _l("The lead counselor and every counselor")), ("lead", _l("Only the lead counselor"))])
    ack_urgent_hours = IntegerField(_l("Hours to acknowledge an urgent case"),
                                    validators=[DataRequired(), NumberRange(1, 24, _l("Enter 1 to 24 hours."))])
    ack_normal_hours = IntegerField(_l("Hours to acknowledge any other case"),
                                    validators=[DataRequired(), NumberRange(1, 168, _l("Enter 1 to 168 hours."))])
    duty_grace_minutes = IntegerField(
        _l("Minutes before a duty due immediately is marked overdue and escalated"),
        validators=[DataRequired(_l("Enter 1 to 240 minutes.")), NumberRange(1, 240, _l("Enter 1 to 240 minutes."))],
        description=_l("A duty due immediately (in Korea, the police report: Child and Youth Sex Protection Act "
                       "Art. 34(2)) shows \"Due now\" from the first minute. This only delays the \"overdue\" badge "
                       "and the escalation to the lead and the school admin. Default: 60."))
    retention_days = IntegerField(_l("Days to keep a closed case before it is deleted"),
                                  validators=[DataRequired(), NumberRange(30, 3650, _l("Enter 30 to 3650 days."))],
                                  description=_l("After this, only a tombstone remains: reference, dates, category "
                                                 "and outcome."))
    anonymous_hourly_limit = IntegerField(
        _l("New reports through the school's page per hour"),
        validators=[DataRequired(_l("Enter 1 to 500.")), NumberRange(1, 500, _l("Enter 1 to 500."))],
        description=_l("A limit against spam. When it is reached, the page asks people to call the police if "
                       "someone is in danger, or to try again later. Default: 30."))
    timezone = SelectField(_l("Time zone"), choices=[("Asia/Seoul", "Asia/Seoul"), ("UTC", "UTC"),
                                                     ("America/Los_Angeles", "America/Los_Angeles"),
                                                     ("Europe/London", "Europe/London")])
    # Choices are the packs under content/duties/ (set by the view): the law, duties and help lines follow it.
    jurisdiction = SelectField(_l("Legal jurisdiction"), description=_l(
        "The law, the case checklist and the help lines your school's pages show follow this. Cases already open "
        "keep the checklist they started with."))
    submit = SubmitField(_l("Save settings"))


class SchoolForm(FlaskForm):
    """A district admin adds or edits a school."""

    code = StringField(_l("School code"), validators=[DataRequired(_l("Enter a code.")), Length(max=24)],
                       description=_l("Short, lowercase, used in usernames and case references, e.g. hanbit"))
    name_ko = StringField(_l("Name in Korean"), validators=[DataRequired(_l("Enter the Korean name.")),
                                                           Length(max=120)])
    name_en = StringField(_l("Name in English"), validators=[DataRequired(_l("Enter the English name.")),
                                                            Length(max=120)])
    submit = SubmitField(_l("Save school"))


class SchoolAdminForm(FlaskForm):
    """A district admin adds a school admin."""

    display_name = StringField(_l("Name"), validators=[DataRequired(_l("Enter the person's name.")), Length(max=120)])
    username = StringField(_l("Username"), validators=[DataRequired(_l("Enter a username.")), Length(max=64)])
    email = EmailField(_l("E-mail (optional)"), validators=[Optional(), Email(_l("Enter a valid e-mail address."))])
    submit = SubmitField(_l("Add school admin"))
