"""Class forms: assigning a lesson with a due date."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, SubmitField
from wtforms.validators import DataRequired

from portal.forms import PlausibleDate
from portal.services.content import LessonLibrary
from portal.services.lessons import band_name


class AssignForm(FlaskForm):
    """Give the class a lesson, due on a date."""

    lesson = SelectField(_l("Lesson"), validators=[DataRequired(_l("Choose a lesson."))])
    due_on = DateField(_l("Due date"), validators=[DataRequired(_l("Enter a due date.")), PlausibleDate()])
    submit = SubmitField(_l("Assign the lesson"))


def assign_form(library: LessonLibrary, language: str) -> AssignForm:
    """The assign form with the lessons grouped by band."""
    form = AssignForm()
    form.lesson.choices = {
        band_name(band): [(lesson.slug, f"{lesson.order}. {lesson.text(language).title}")
                          for lesson in library.band(band)]
        for band in library.bands
    }
    return form
