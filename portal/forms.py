"""Forms shared by several blueprints, and the validators they share."""

from datetime import date, datetime

import wtforms.widgets
import wtforms.widgets.core
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from wtforms import HiddenField, SelectField, SelectMultipleField, SubmitField
from wtforms.validators import ValidationError
from wtforms.widgets import CheckboxInput, ListWidget
from wtforms.widgets.core import clean_key

from portal.i18n import inline_lang

EARLIEST_YEAR = 2000  # nothing the portal records happened before this


def html_params(**kwargs) -> Markup:
    """WTForms' `html_params`, the same attributes in the same order, without building each one through
    `Markup.format` (Python's string.Formatter: ~10 µs an attribute, ~130 attributes in a case file, a seventh of
    its time). Keys and values are escaped as WTForms escapes them: `True` gives the bare name, `False` nothing,
    and a double quote left in a value that is already markup becomes &quot;."""
    params = []
    for key, value in sorted(kwargs.items()):
        if value is True:
            params.append(str(escape(clean_key(key))))
        elif value is not False:
            params.append(f'{escape(clean_key(key))}="{str(escape(value)).replace(chr(34), "&quot;")}"')
    return Markup(" ".join(params))  # noqa: S704  every key and value escaped just above


WTFORMS_HTML_PARAMS = wtforms.widgets.core.html_params  # WTForms' own, to compare with (tests) and to go back to


def use_fast_html_params(fast: bool = True) -> None:
    """Have WTForms' widgets and labels build their attributes with `html_params` above (or, with fast=False, with
    WTForms' own again). WTForms has no setting for it: inputs and buttons read it from their class, text areas,
    selects and lists from the module, labels from the package (tests/test_forms.py compares the two on every
    kind of attribute, and a whole case file made with each)."""
    chosen = html_params if fast else WTFORMS_HTML_PARAMS
    for owner in (wtforms.widgets, wtforms.widgets.core):
        owner.html_params = chosen
    for widget in (wtforms.widgets.core.Input, wtforms.widgets.core.Button):
        widget.html_params = staticmethod(chosen)


# --- Fields on a page -------------------------------------------------------------------------------------
# `field` and `choice_group` are what every form page shows for each question (templates import them from
# _macros.html, which names these). They were Jinja macros; a macro call builds a context and a frame for every
# field (30 a case file, a tenth of its time), so they are made here, with the same elements and attributes
# (tests/test_forms.py renders the old macros beside them and compares the two).


def field(f, hint=None, class_: str = "") -> Markup:
    """A field with its visible label, its hint and its error, both linked to it by aria-describedby; a
    checkbox comes before its label."""
    help_text = hint or f.description
    attrs = _described_by(f, help_text)
    if f.errors:
        attrs["aria-invalid"] = "true"
    field_id = escape(f.id)
    html = [f'<div class="field {escape(class_)}{" field-error" if f.errors else ""}">']
    checkbox = f.type == "BooleanField"
    if checkbox:
        html.append(f"{f(**attrs)} {f.label}")
    else:
        html.append(f'<label for="{field_id}">{inline_lang(f.label.text)}{_required_mark(f)}</label>')
    html.extend(_hint_and_errors(f, field_id, help_text))
    if not checkbox:
        if f.flags.required:
            attrs["required"] = True
        html.append(str(f(**attrs)))
    html.append("</div>")
    return Markup("\n".join(html))  # noqa: S704  every value above is escaped or WTForms' own markup


def choice_group(f, hint=None) -> Markup:
    """Radio buttons or checkboxes in a fieldset, the question as its legend."""
    help_text = hint or f.description
    field_id = escape(f.id)
    described = _described_by(f, help_text)
    described = f' aria-describedby="{escape(described["aria-describedby"])}"' if described else ""
    html = [f'<fieldset class="field choice-group{" field-error" if f.errors else ""}" id="{field_id}"{described}>',
            f"<legend>{inline_lang(f.label.text)}{_required_mark(f)}</legend>",
            *_hint_and_errors(f, field_id, help_text)]
    invalid = {"aria-invalid": "true"} if f.errors else {}
    html.extend(f'<div class="choice">{option(**invalid)} <label for="{escape(option.id)}">'
                f"{inline_lang(option.label.text)}</label></div>" for option in f)
    html.append("</fieldset>")
    return Markup("\n".join(html))  # noqa: S704  every value above is escaped or WTForms' own markup


def _described_by(f, help_text) -> dict[str, str]:
    ids = ([f"{f.id}-hint"] if help_text else []) + ([f"{f.id}-error"] if f.errors else [])
    return {"aria-describedby": " ".join(ids)} if ids else {}


def _hint_and_errors(f, field_id: Markup, help_text) -> list[str]:
    html = [f'<p class="hint" id="{field_id}-hint">{escape(help_text)}</p>'] if help_text else []
    if f.errors:
        html.append(f'<p class="error" id="{field_id}-error">{"".join(f"{escape(e)} " for e in f.errors)}</p>')
    return html


def _required_mark(f) -> str:
    """The word "required" in brackets after the label, on long forms that ask for it (`mark_required` in their
    Meta), where an unmarked question would otherwise read as optional."""
    if not (f.flags.required and getattr(f.meta, "mark_required", False) is True):
        return ""
    # Translators: after a question that must be answered, in brackets.
    word = _("required")
    return f' <span class="required-mark">({escape(word)})</span>'


class MultiCheckboxField(SelectMultipleField):
    """Several checkboxes that share one name."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    # A value that is not one of the boxes (only a script sends one) gets one plain sentence, not WTForms' messages,
    # whose Korean repeats itself and echoes the value.
    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            self.data = []
            raise ValueError(_l("Choose only from the options shown.")) from None

    def pre_validate(self, form):
        if not self.validate_choice:
            return  # the service checks the values (e.g. links still offered for confirming)
        allowed = {str(value) for value, _label in self.choices or []}
        if any(str(value) not in allowed for value in self.data or []):
            raise ValidationError(_l("Choose only from the options shown."))


class PlausibleDate:
    """A date or time between EARLIEST_YEAR and next year: year 1 or 9999 is a typing slip, and such dates
    cannot be converted between time zones."""

    def __call__(self, form, field):
        value = field.data
        if value is None:
            return
        year = value.year if isinstance(value, date | datetime) else None
        if year is None or not EARLIEST_YEAR <= year <= datetime.now().year + 1:
            raise ValidationError(_l("Enter a date between %(first)s and %(last)s.", first=EARLIEST_YEAR,
                                     last=datetime.now().year + 1))


class EmptyForm(FlaskForm):
    """A form that is only a CSRF token and a button: for logout and other one-click actions."""

    submit = SubmitField(_l("Submit"))


class LanguageForm(FlaskForm):
    """The language switch on every page."""

    lang = SelectField(_l("Language"), choices=[("ko", "한국어"), ("en", "English")])
    next = HiddenField()
    submit = SubmitField(_l("Change language"))
