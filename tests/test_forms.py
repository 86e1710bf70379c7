"""The portal builds form attributes with its own `html_params` (portal/forms.py): the same HTML as WTForms' own."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
from casehelpers import case_url, file_report, only_case, signed_in
from conftest import post
from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from markupsafe import Markup
from werkzeug.datastructures import MultiDict
from wtforms import BooleanField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired

from portal import forms


@pytest.mark.parametrize("attributes", [
    {"name": "text1", "id": "f", "class_": "text"},
    {"checked": True, "readonly": False, "name": "text1", "abc": "hello"},
    {"data_attr": "user.name", "aria_labeledby": "name", "aria_described_by": "a b", "data_once": True},
    {"for_": "x", "value": 'a "quoted" <b>bold</b> & more', "title": "it's"},
    {"value": Markup('<em class="x">already markup</em>'), "placeholder": lazy_gettext("Submit")},
    {"value": 0, "min": 2000, "step": 1.5, "maxlength": None},
    {"value": "한국어 \u2028 line", "lang": "ko"},
    {},
])
def test_attributes_are_the_ones_wtforms_makes(app, attributes):
    with app.test_request_context():
        ours = forms.html_params(**attributes)
        theirs = forms.WTFORMS_HTML_PARAMS(**attributes)
    assert ours == theirs and isinstance(ours, Markup)


def test_a_case_file_is_the_same_page_with_wtforms_own_attributes(app, login, make_user):
    """The case file shows every kind of field (radio groups, checkboxes, selects, text areas, date-times, hidden
    tokens, buttons, their labels): made with WTForms' own attribute builder it is the same page, byte for byte."""
    teacher, lead = make_user(role="teacher"), make_user(role="counselor", lead=True)
    make_user(role="counselor")  # someone to assign: the assign form's select shows
    file_report(signed_in(app, login, teacher))
    counselor = signed_in(app, login, lead)
    path = case_url(only_case(app))
    post(counselor, path + "/acknowledge", token_from=path)  # the close form shows too
    counselor.get(path)  # the first view marks the case's notices read, which the page header shows

    def page():
        response = counselor.get(path)
        assert response.status_code == 200
        return response.get_data(as_text=True)

    ours = page()
    assert 'type="radio"' in ours and 'type="checkbox"' in ours and "<select" in ours and "<textarea" in ours
    assert 'type="datetime-local"' in ours and 'name="csrf_token" type="hidden"' in ours and path + '/close"' in ours
    try:
        forms.use_fast_html_params(False)
        theirs = page()
    finally:
        forms.use_fast_html_params()
    # The log form's time is now to the minute: a minute may turn between two pages, not across three.
    assert theirs in (ours, page())


# The `field` and `choice_group` macros of _macros.html as they were before portal/forms.py made them in Python
# (from commit 8db0ef8): the reference the Python ones are compared with.
MACROS = (Path(__file__).parent / "field_macros.html").read_text(encoding="utf-8")


class Sample(FlaskForm):
    class Meta:
        csrf = False

    name = StringField("이름 (name)", validators=[DataRequired()], description=lazy_gettext("Submit"))
    note = TextAreaField("A <note> & more")
    agree = BooleanField("I agree", validators=[DataRequired()])
    kind = RadioField("Which 종류?", choices=[("a", "가나다"), ("b", "B & C")], validators=[DataRequired()])
    tags = forms.MultiCheckboxField("Tags", choices=[("x", "X"), ("y", "\"Y\"")], description="Tick <all>")
    level = SelectField("Level", choices=[("1", "하나"), ("2", "Two")])


class Marked(Sample):
    class Meta:
        csrf = False
        mark_required = True


class NormalizedHTML(HTMLParser):
    """Elements, attributes and text, with every run of white space as one space: what a browser shows and a
    screen reader reads, whatever the indentation."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=False)
        self.events: list = []
        self.feed(html.strip())
        self.close()

    def handle_starttag(self, tag, attrs):
        self.events.append(("<", tag, sorted((k, " ".join((v or "").split())) for k, v in attrs)))

    def handle_endtag(self, tag):
        self.events.append((">", tag))

    def handle_data(self, data):
        text = " ".join(data.split()) or " "
        if self.events and self.events[-1][0] == "text" and text == " ":
            return
        self.events.append(("text", text))

    def handle_entityref(self, name):
        self.events.append(("text", f"&{name};"))

    def handle_charref(self, name):
        self.events.append(("text", f"&#{name};"))


@pytest.mark.parametrize("lang", ["ko", "en"])
@pytest.mark.parametrize("form_class", [Sample, Marked])
@pytest.mark.parametrize("answered", [False, True])
@pytest.mark.parametrize("hint", [None, Markup("A hint with <em>markup</em>"), "A plain <hint>"])
def test_fields_are_the_elements_the_macros_made(app, lang, form_class, answered, hint):
    """Every kind of field, with and without a hint, errors (an empty form refused), "(required)" marks and Korean
    in an English page: the same elements, attributes and text as the Jinja macros made."""
    data = {"name": "김", "note": "x", "agree": "y", "kind": "a", "tags": ["x"], "level": "2"} if answered else {}
    with app.test_request_context(f"/?lang={lang}"):
        form = form_class(formdata=MultiDict(data))
        assert form.validate() is answered
        macros = app.jinja_env.from_string(MACROS + "{{ (choice_group(f, hint=hint) if group "
                                                    "else field(f, hint=hint, class_=class_))|safe }}")
        for f in form:
            group = f.type in ("RadioField", "MultiCheckboxField")
            for class_ in ("", "wide"):
                theirs = macros.render(f=f, hint=hint, class_=class_, group=group)
                ours = forms.choice_group(f, hint=hint) if group else forms.field(f, hint=hint, class_=class_)
                assert isinstance(ours, Markup)
                assert NormalizedHTML(ours).events == NormalizedHTML(theirs).events, f.name
        # The Korean in a label is marked on an English page (and nowhere on a Korean one).
        assert ('<span lang="ko">이름</span>' in forms.field(form.name)) is (lang == "en")
