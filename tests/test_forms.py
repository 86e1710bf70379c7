"""The portal builds form attributes with its own `html_params` (portal/forms.py): the same HTML as WTForms' own."""

from __future__ import annotations

import pytest
from casehelpers import case_url, file_report, only_case, signed_in
from conftest import post
from flask_babel import lazy_gettext
from markupsafe import Markup

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
