"""Lesson forms: the scenario choice and the quiz, built from the lesson's content."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, SubmitField
from wtforms.validators import InputRequired

from portal.services.content import LessonText


def _csrf_meta() -> dict:
    """Only a signed-in user's lesson forms record anything, so only theirs carry a CSRF token (lessons/routes.py)."""
    from flask_login import current_user

    return {"csrf": bool(current_user.is_authenticated)}


class ScenarioForm(FlaskForm):
    """Pick one response to the scenario."""

    choice = RadioField(coerce=int, validators=[InputRequired(_l("Choose what you would do."))])
    submit = SubmitField(_l("See what happens"))


def scenario_form(text: LessonText) -> ScenarioForm:
    """The scenario form with this lesson's question and choices."""
    form = ScenarioForm(meta=_csrf_meta())
    form.choice.label.text = text.scenario.question
    form.choice.choices = [(i, choice.text) for i, choice in enumerate(text.scenario.choices)]
    return form


class QuizForm(FlaskForm):
    """The quiz; one radio group per question is added by quiz_form()."""

    submit = SubmitField(_l("Check my answers"))

    def question_fields(self) -> list:
        """The question fields in order."""
        return [field for name, field in self._fields.items() if name.startswith("q")]

    def answers(self) -> list[int]:
        """The chosen answer index of every question."""
        return [field.data for field in self.question_fields()]


def quiz_form(text: LessonText) -> QuizForm:
    """A quiz form with one required radio group per question of this lesson."""

    class LessonQuizForm(QuizForm):
        pass

    for number, question in enumerate(text.quiz, start=1):
        setattr(LessonQuizForm, f"q{number}", RadioField(
            f"{number}. {question.question}", coerce=int,
            choices=[(i, choice.text) for i, choice in enumerate(question.choices)],
            validators=[InputRequired(_l("Choose an answer to this question."))],
        ))
    return LessonQuizForm(meta=_csrf_meta())
