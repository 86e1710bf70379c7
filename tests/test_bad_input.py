"""Input an outside probe sent: each gets a clear, translated refusal (never a 5xx) and changes nothing."""

from __future__ import annotations

import pytest
from casehelpers import REPORT, file_report, form_token, only_case
from conftest import post, username_of
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Case, School, User
from portal.services import accounts


@pytest.fixture
def school(make_user):
    return {"lead": make_user(role="counselor", lead=True), "teacher": make_user(role="teacher"),
            "admin": make_user(role="school_admin")}


def _cases(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Case))


def test_a_body_over_the_limit_gets_413_with_a_message(app, school, login):
    anonymous = app.test_client()
    response = anonymous.post("/login", data={"username": "x" * (3 * 1024 * 1024)})
    assert response.status_code == 413 and "너무 큽니다" in response.get_data(as_text=True)
    teacher = app.test_client()
    login(teacher, school["teacher"])
    response = post(teacher, "/reports/new/form", {**REPORT, "description": "y" * (3 * 1024 * 1024),
                                                   "action": "submit"}, token_from="/reports/new/form",
                    headers={"Accept-Language": "en"})
    assert response.status_code == 413 and "too large" in response.get_data(as_text=True)
    assert _cases(app) == 0


@pytest.mark.parametrize("where", ["username", "description", "path", "query"])
def test_a_nul_character_is_refused_before_any_query(app, school, login, where):
    teacher = app.test_client()
    if where == "username":
        response = post(teacher, "/login", {"username": "hanbit\x00teacher", "password": "whatever-123"},
                        token_from="/login")
    else:
        login(teacher, school["teacher"])
        if where == "description":
            response = post(teacher, "/reports/new/form", {**REPORT, "description": "a\x00b", "action": "submit",
                                                           "submission_token": form_token(teacher)},
                            token_from="/reports/new/form")
        elif where == "path":
            response = teacher.get("/reports/ab%00cd/receipt")
        else:
            response = teacher.get("/admin/users?q=a%00b")
    assert response.status_code == 400, response.status_code
    assert "NUL" in response.get_data(as_text=True) and "저장되지 않았습니다" in response.get_data(as_text=True)
    assert _cases(app) == 0


@pytest.mark.parametrize("token", ["x" * 65, "short", ""])
def test_a_malformed_submission_token_is_refused_and_saves_nothing(app, school, login, token):
    teacher = app.test_client()
    login(teacher, school["teacher"])
    data = {**REPORT, "submission_token": token, "action": "submit"}
    assert post(teacher, "/reports/new/form", data, token_from="/reports/new/form").status_code == 400
    assert _cases(app) == 0


def test_a_box_posted_many_times_counts_once(app, school, login):
    """30 × "creation" overflowed the 120-character column on PostgreSQL and the report was lost."""
    teacher = app.test_client()
    login(teacher, school["teacher"])
    response = file_report(teacher, categories=["creation"] * 30, platforms=["telegram"] * 30,
                           excluded=[str(school["admin"])] * 5)
    assert response.status_code == 302
    case = only_case(app)
    assert case.categories == "creation" and case.platforms == "telegram"


@pytest.mark.parametrize("value", ["0001-01-01T00:00", "9999-12-31T23:59", "1999-12-31T23:59"])
def test_an_impossible_date_gets_a_message_on_the_form(app, school, login, value):
    teacher = app.test_client()
    login(teacher, school["teacher"])
    data = {**REPORT, "first_seen": value, "submission_token": form_token(teacher), "action": "review"}
    response = post(teacher, "/reports/new/form", data, token_from="/reports/new/form")
    assert response.status_code == 422 and "2000" in response.get_data(as_text=True)
    file_report(teacher)
    case = only_case(app)
    lead = app.test_client()
    login(lead, school["lead"])
    response = post(lead, f"/cases/{case.public_id}/entries", {"kind": "note", "happened_at": value, "text": "x"},
                    token_from=f"/cases/{case.public_id}")
    assert response.status_code == 422 and "2000" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/admin/users/2147483648", "/admin/users/99999999999999999999",
                                  "/admin/classes/2147483648", "/district/schools/99999999999"])
def test_an_id_beyond_the_database_range_is_not_found(app, school, make_user, login, path):
    client = app.test_client()
    login(client, make_user(role="district_admin") if path.startswith("/district") else school["admin"])
    assert client.get(path).status_code == 404


def test_school_codes_fit_the_case_reference(app, make_user):
    with app.app_context():
        for code in ("a" * 25, "bad code", "-lead", "한빛"):
            with pytest.raises(accounts.AccountError):
                accounts.create_school(db.session, code, "학교", "School")
        db.session.rollback()
    longest = "a" * 24
    teacher = make_user(role="teacher", school=longest)
    make_user(role="counselor", school=longest, lead=True)
    client = app.test_client()
    from conftest import PASSWORD

    assert post(client, "/login", {"username": username_of(app, teacher), "password": PASSWORD},
                token_from="/login").status_code == 302
    assert file_report(client).status_code == 302
    assert only_case(app).reference.startswith(longest.upper() + "-")


def test_district_form_refuses_a_long_school_code(app, make_user, login):
    client = app.test_client()
    login(client, make_user(role="district_admin"))
    response = post(client, "/district/schools", {"code": "a" * 30, "name_ko": "긴학교", "name_en": "Long"},
                    token_from="/district/schools")
    assert response.status_code == 422
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(School)) == 0


@pytest.mark.parametrize("email", ["a@x.test\r\nBcc: evil@y.test", "a@x.test, evil@y.test", "a@x.test;b@y.test"])
def test_an_address_that_would_reach_two_people_is_refused_at_the_edge(app, make_user, email):
    make_user(role="teacher")
    with app.app_context():
        school = db.session.scalar(select(School))
        with pytest.raises(accounts.AccountError) as refused:
            accounts.create_user(db.session, "new-person", "counselor", school, None, "New", email)
        assert refused.value.code == "bad_email"


def test_roster_cells_are_checked(app, school, login):
    import io

    from conftest import csrf_token

    admin = app.test_client()
    login(admin, school["admin"])
    roster = "class,number,name,grade,email\n1-1,1,Kim,-5,\n1-1,2,Lee,1,\"a@x.test, evil@y.test\"\n1-1,3,Park,1,\n"
    token = csrf_token(admin, "/admin/classes/import")
    page = admin.post("/admin/classes/import", data={"csrf_token": token, "roster": (io.BytesIO(roster.encode()),
                                                                                       "roster.csv")},
                      content_type="multipart/form-data").get_data(as_text=True)
    assert "2번째 줄" in page and "3번째 줄" in page and "1~12 사이의 숫자가 아닙니다" in page
    assert 'name="payload"' not in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User).where(User.role == "student")) == 0
