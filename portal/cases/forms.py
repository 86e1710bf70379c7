"""Forms on the case file."""

from __future__ import annotations

from functools import cache, lru_cache

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from portal import jurisdiction
from portal.forms import MultiCheckboxField, PlausibleDate
from portal.labels import (
    DETAIL_LABELS,
    ENTRY_LABELS,
    ITEM_KIND_LABELS,
    OUTCOME_LABELS,
    PLATFORM_LABELS,
    TAKEDOWN_LABELS,
)
from portal.models.cases import ENTRY_FIELDS, ENTRY_KINDS, ENTRY_REQUIRED, TAKEDOWN_STATUSES

_DETAILS_HINT = _l("Write what was done and agreed. Do not paste or describe the image.")


class EntryForm(FlaskForm):
    """Add one entry to the response log: what every kind has. `form_for_kind(kind)` adds that kind's own fields."""

    class Meta:
        mark_required = True

    # Translators: the name of the "this corrects an earlier entry" field, in the list of errors.
    short_names = {"corrects": _l("Entry corrected")}

    # Chosen before the form (the case file's list of kinds, `?log=<kind>`); the form carries it as a hidden field.
    kind = SelectField(_l("What was done"), choices=[(kind, ENTRY_LABELS[kind]) for kind in ENTRY_KINDS])
    happened_at = DateTimeLocalField(_l("When it happened"), format="%Y-%m-%dT%H:%M",
                                     validators=[DataRequired(_l("Enter when it happened.")), PlausibleDate()])
    text = TextAreaField(_l("Details"), validators=[Optional(), Length(max=10000)],
                         description=_DETAILS_HINT)
    corrects = SelectField(_l("This corrects an earlier entry (optional)"), choices=[("", "—")],
                           validators=[Optional()])
    submit = SubmitField(_l("Add to the log"))


def _first(required: bool, message=None) -> list:
    return [DataRequired(message)] if required else [Optional()]


# Each kind's own fields (models.cases.ENTRY_FIELDS), made required or optional for the kind (ENTRY_REQUIRED).
_KIND_FIELDS = {
    "agency": lambda required: StringField(
        _l("Police agency"), validators=[*_first(required, _l("Enter the police agency the report was made to.")),
                                         Length(max=200)],
        description=_l("For example: Mapo Police Station, or the 112 call centre.")),
    "report_number": lambda required: StringField(_l("Report number"),
                                                  validators=[*_first(required), Length(max=80)]),
    "link": lambda required: StringField(
        # Translators: the address or account name of the material a takedown is asked for, typed as text.
        _l("Link or account"), validators=[*_first(required, _l("Enter the link or the account name.")),
                                           Length(max=2000)],
        description=_l("Copy the address or the name as text. Do not save, screenshot or forward the image itself.")),
    "platform": lambda required: SelectField(_l("Platform"), choices=[("", "—"), *PLATFORM_LABELS.items()],
                                             validators=_first(required)),
    "takedown_status": lambda required: SelectField(
        _l("Takedown status"), choices=[("", "—"), *((s, TAKEDOWN_LABELS[s]) for s in TAKEDOWN_STATUSES)],
        validators=_first(required, _l("Choose the status of the takedown request."))),
}


def form_for_kind(kind: str | None, **kwargs) -> EntryForm:
    """The log form for one kind of entry: the common fields and that kind's own, and nothing of another kind's
    (a value posted for them is not even read). A kind without required fields of its own requires its text."""
    return _entry_form_class(kind if kind in ENTRY_KINDS else None)(kind=kind, **kwargs)


@cache  # one class for each kind of entry, made the first time it is asked for (a class costs ~50 µs to make)
def _entry_form_class(kind: str | None) -> type[EntryForm]:
    class KindEntryForm(EntryForm):
        pass

    required = ENTRY_REQUIRED.get(kind, ())
    for name in ENTRY_FIELDS.get(kind, ()):
        setattr(KindEntryForm, name, _KIND_FIELDS[name](name in required))
    if kind in ENTRY_KINDS and not required:
        KindEntryForm.text = TextAreaField(
            _l("Details"), validators=[DataRequired(_l("Write what was done.")), Length(max=10000)],
            description=_DETAILS_HINT)
    return KindEntryForm


class CloseForm(FlaskForm):
    """Close the case: an outcome chosen on purpose (none is preselected) and a confirmation."""

    # Names in the error summary (see _macros.error_summary): the confirmation's label is a whole sentence.
    # Translators: the name of the tick box that confirms closing a case, in the list of errors.
    short_names = {"confirm": _l("Confirmation")}

    outcome = RadioField(_l("Outcome"), choices=list(OUTCOME_LABELS.items()),
                         validators=[InputRequired(_l("Choose an outcome."))])
    confirm = BooleanField(_l("I have checked the checklist and the log, and the case can be closed."),
                           validators=[DataRequired(_l("Tick the box to confirm that the case can be closed."))])
    submit = SubmitField(_l("Close the case"))


def close_form(open_legal: list[tuple[str, str]], **kwargs) -> CloseForm:
    """A close form with one required reason for each legal duty still open: (duty id, its title)."""
    return _close_form_class(tuple(open_legal))(**kwargs)


@lru_cache(maxsize=256)  # by the duties still open and their titles in the page's language
def _close_form_class(open_legal: tuple[tuple[str, str], ...]) -> type[CloseForm]:
    class ClosingWithOpenDuties(CloseForm):
        # In the error summary each reason is named by its duty's title, not by the question that holds it.
        short_names = {**CloseForm.short_names, **{f"reason_{duty_id}": title for duty_id, title in open_legal}}

    for duty_id, title in open_legal:
        setattr(ClosingWithOpenDuties, f"reason_{duty_id}", TextAreaField(
            # Translators: %(duty)s is a legal duty's title, e.g. "Report to the police immediately".
            _l("Why is this legal duty not done: %(duty)s", duty=title),
            validators=[DataRequired(_l("Give the reason; it is kept in the log.")), Length(max=2000)]))
    return ClosingWithOpenDuties


class ClassifyForm(FlaskForm):
    """A counselor records what a student's request concerns; a sex crime against a minor starts the checklist."""

    # Translators: the name of the counselor's yes/no classification of a student's request, in the list of errors.
    short_names = {"classification": _l("Classification")}

    classification = RadioField(
        _l("Does this request concern a sex crime against a minor?"),
        choices=[("minor_sex_crime", _l("Yes: the case checklist starts now")),
                 ("other", _l("No: it concerns something else"))],
        validators=[InputRequired(_l("Choose yes or no."))])
    submit = SubmitField(_l("Record the classification"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # What the law of the school's jurisdiction asks once it is yes (content/duties/<jurisdiction>.yml).
        self.classification.description = jurisdiction.notice("classification")


class NotApplicableForm(FlaskForm):
    """Mark one checklist item as not applicable, with the reason."""

    reason = TextAreaField(_l("Why it does not apply"),
                           validators=[DataRequired(_l("Give the reason; it is kept in the log.")), Length(max=2000)])
    submit = SubmitField(_l("Mark as not applicable"))


class AssignForm(FlaskForm):
    """Add a counselor, or hand the case over."""

    counselor = SelectField(_l("Counselor"), coerce=int, choices=[])
    transfer = BooleanField(_l("Hand the case over to them (you will no longer be assigned)"))
    submit = SubmitField(_l("Add counselor"))


class ReplyForm(FlaskForm):
    """A counselor writes to the person who reported; they read it with their code or under "My reports"."""

    message = TextAreaField(_l("Message to the reporter"),
                            validators=[DataRequired(_l("Write the message first.")), Length(max=4000)],
                            description=_l("The reporter reads this, exactly as written. Internal notes belong in "
                                           "the response log, which the reporter never sees."))
    submit = SubmitField(_l("Send to the reporter"))


def _when(label):
    return DateTimeLocalField(label, format="%Y-%m-%dT%H:%M",
                              validators=[DataRequired(_l("Enter the date and time.")), PlausibleDate()])


class ConfirmItemsForm(FlaskForm):
    """Confirm links and handles found in the report and the log as takedown items (the service checks each one
    is still offered, so the choices are not validated here)."""

    found = MultiCheckboxField(_l("Found in the report and the log, not yet items"), choices=[],
                               validate_choice=False)
    submit = SubmitField(_l("Confirm the ticked ones as items"))


class AddItemForm(FlaskForm):
    """Add a takedown item by hand."""

    kind = RadioField(_l("What to add"), choices=list(ITEM_KIND_LABELS.items()), default="link",
                      validators=[InputRequired(_l("Choose what to add."))])
    target = StringField(_l("Link, channel or account"), validators=[Optional(), Length(max=2000)],
                         description=_l("For personal details: where they were posted, if known. Never write the "
                                        "details themselves."))
    platform = SelectField(_l("Platform"), choices=[("", _l("Guess from the link")), *PLATFORM_LABELS.items()],
                           validators=[Optional()], validate_choice=False)
    details = MultiCheckboxField(_l("Which personal details were posted (for personal details)"),
                                 choices=list(DETAIL_LABELS.items()), validate_choice=False)
    found_at = _when(_l("When it was found"))
    submit = SubmitField(_l("Add the item"))


class ItemStatusForm(FlaskForm):
    """Move one takedown item to its next status; the choices are the statuses that may follow its current one."""

    status = SelectField(_l("New status"), choices=[], validate_choice=False)
    happened_at = _when(_l("When"))
    reference = StringField(_l("Reference from the platform or the support center (optional)"),
                            validators=[Optional(), Length(max=200)])
    submit = SubmitField(_l("Change the status"))


class MergeItemsForm(FlaskForm):
    """Two items are the same channel or account."""

    keep = SelectField(_l("Keep this item"), choices=[], validate_choice=False)
    other = SelectField(_l("Merge this item into it"), choices=[], validate_choice=False)
    submit = SubmitField(_l("Merge"))
