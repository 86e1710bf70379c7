"""Generated input for the forms people fill in: never a 5xx, and a refusal changes nothing.

A short profile runs in the suite (PORTAL_HYPOTHESIS_PROFILE=ci, the default); the long one finds more:
`PORTAL_HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest tests/test_generated_input.py` (10,000 cases a form).
"""

from __future__ import annotations

import os

import pytest
from conftest import csrf_token
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Case, ResponseEntry

settings.register_profile("ci", max_examples=25, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("long", max_examples=10_000, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.load_profile(os.environ.get("PORTAL_HYPOTHESIS_PROFILE", "ci"))

# Text a person, a paste or a script may send: control characters (NUL included), right-to-left marks, Korean,
# emoji, and very long values. Lone surrogates cannot be sent as UTF-8 at all, so they are left out.
TEXT = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200),
    st.sampled_from(["\x00", "a\x00b", "\u202e\u202d", "김민지 2-3", "=HYPERLINK(\"x\")", "😀" * 50, " ", ""]),
    st.integers(min_value=1, max_value=100_000).map(lambda n: "x" * n),
)
DATES = st.one_of(st.sampled_from(["0001-01-01T00:00", "9999-12-31T23:59", "2026-02-30T10:00", "yesterday", "",
                                   "2026-11-20T10:00", "2026-11-20"]), TEXT)
NUMBERS = st.one_of(st.integers(min_value=-(2**70), max_value=2**70).map(str), TEXT)
CHOICES = st.lists(st.one_of(st.sampled_from(["creation", "distribution", "telegram", "yes", "no", "unknown"]),
                             TEXT), max_size=40)


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def _assert_refused_or_done(response, changed: bool):
    assert response.status_code < 500
    if response.status_code not in (302, 303):
        assert not changed, f"refused with {response.status_code} but something was saved"
        if response.status_code == 422:
            assert 'class="error' in response.get_data(as_text=True)  # the message sits on the field


@pytest.fixture
def teacher(app, make_user, login):
    make_user(role="counselor", lead=True)
    client = app.test_client()
    login(client, make_user(role="teacher"))
    return client


@given(data=st.fixed_dictionaries({
    "categories": CHOICES, "victim_kind": TEXT, "victim_count": NUMBERS, "victim_names": TEXT, "suspects": TEXT,
    "platforms": CHOICES, "links": TEXT, "first_seen": DATES, "how_learned": TEXT, "urgent": TEXT,
    "victim_knows": TEXT, "guardians_told": TEXT, "police_told": TEXT, "police_told_at": DATES,
    "police_report_number": TEXT, "description": TEXT, "excluded": st.lists(NUMBERS, max_size=5),
    "submission_token": TEXT, "action": st.sampled_from(["review", "submit", "edit", "", "other"]),
}))
def test_the_report_form(app, teacher, data):
    token = csrf_token(teacher, "/reports/new/form")
    before = _count(app, Case)
    response = teacher.post("/reports/new/form", data={**data, "csrf_token": token})
    _assert_refused_or_done(response, _count(app, Case) != before)


@given(data=st.fixed_dictionaries({"message": TEXT, "urgent": TEXT, "submission_token": TEXT}))
def test_the_help_request_form(app, make_user, login, data):
    make_user(role="counselor", lead=True)
    student = app.test_client()
    login(student, make_user(role="student"))
    token = csrf_token(student, "/reports/help")
    before = _count(app, Case)
    response = student.post("/reports/help", data={**data, "csrf_token": token})
    _assert_refused_or_done(response, _count(app, Case) != before)


@pytest.fixture
def case_file(app, make_user, login):
    from casehelpers import file_report, only_case

    lead = make_user(role="counselor", lead=True)
    reporter = app.test_client()
    login(reporter, make_user(role="teacher"))
    file_report(reporter)
    counselor = app.test_client()
    login(counselor, lead)
    return counselor, f"/cases/{only_case(app).public_id}"


@given(data=st.fixed_dictionaries({
    "kind": st.one_of(st.sampled_from(["note", "police_report", "takedown", "guardian_contact"]), TEXT),
    "happened_at": DATES, "text": TEXT, "agency": TEXT, "report_number": TEXT, "link": TEXT, "platform": TEXT,
    "takedown_status": TEXT, "corrects": NUMBERS,
}))
def test_the_log_entry_form(app, case_file, data):
    counselor, url = case_file
    token = csrf_token(counselor, url)
    before = _count(app, ResponseEntry)
    response = counselor.post(url + "/entries", data={**data, "csrf_token": token})
    _assert_refused_or_done(response, _count(app, ResponseEntry) != before)


@given(data=st.fixed_dictionaries({"outcome": TEXT, "confirm": TEXT, "reason_police_report": TEXT}))
def test_the_close_form(app, case_file, data):
    counselor, url = case_file
    token = csrf_token(counselor, url)
    before = _count(app, ResponseEntry)
    response = counselor.post(url + "/close", data={**data, "csrf_token": token})
    _assert_refused_or_done(response, _count(app, ResponseEntry) != before)


@given(data=st.fixed_dictionaries({"username": TEXT, "password": TEXT, "next": TEXT}))
def test_the_sign_in_form(app, data):
    client = app.test_client()
    token = csrf_token(client, "/login")
    assert client.post("/login", data={**data, "csrf_token": token}).status_code < 500


@pytest.fixture
def school_admin(app, make_user, login):
    client = app.test_client()
    login(client, make_user(role="school_admin"))
    return client


@given(data=st.fixed_dictionaries({"display_name": TEXT, "username": TEXT, "role": TEXT, "email": TEXT,
                                   "grade": NUMBERS}))
def test_the_new_user_form(app, school_admin, data):
    from portal.models import User

    token = csrf_token(school_admin, "/admin/users/new")
    before = _count(app, User)
    response = school_admin.post("/admin/users/new", data={**data, "csrf_token": token})
    assert response.status_code < 500
    if response.status_code == 422:
        assert _count(app, User) == before


@given(data=st.fixed_dictionaries({"routing": TEXT, "ack_urgent_hours": NUMBERS, "ack_normal_hours": NUMBERS,
                                   "duty_grace_minutes": NUMBERS, "retention_days": NUMBERS, "timezone": TEXT,
                                   "jurisdiction": TEXT}))
def test_the_settings_form(app, school_admin, data):
    token = csrf_token(school_admin, "/admin/settings")
    assert school_admin.post("/admin/settings", data={**data, "csrf_token": token}).status_code < 500


@given(data=st.fixed_dictionaries({"code": TEXT, "name_ko": TEXT, "name_en": TEXT}))
def test_the_district_school_form(app, make_user, login, data):
    from portal.models import School

    client = app.test_client()
    login(client, make_user(role="district_admin"))
    token = csrf_token(client, "/district/schools")
    before = _count(app, School)
    response = client.post("/district/schools", data={**data, "csrf_token": token})
    _assert_refused_or_done(response, _count(app, School) != before)


@given(data=st.fixed_dictionaries({"current": TEXT, "new": TEXT, "confirm": TEXT}))
def test_the_password_change_form(app, make_user, login, data):
    client = app.test_client()
    login(client, make_user())
    token = csrf_token(client, "/account/")
    assert client.post("/account/", data={**data, "csrf_token": token}).status_code < 500


@given(data=st.fixed_dictionaries({"username": TEXT}))
def test_the_forgot_password_form(app, data):
    client = app.test_client()
    token = csrf_token(client, "/forgot-password")
    assert client.post("/forgot-password", data={**data, "csrf_token": token}).status_code < 500
