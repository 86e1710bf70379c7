"""District admins run schools and see figures across them, never a case or a name in one."""

from __future__ import annotations

import pytest
from conftest import post
from sqlalchemy import select

from portal.extensions import db
from portal.models import School, User
from portal.services import cases


@pytest.fixture
def district(app, make_user, login):
    client = app.test_client()
    login(client, make_user(role="district_admin", school=None))
    return client


def test_create_school_and_its_admin(app, district):
    school = {"code": "Namsan", "name_ko": "남산중학교", "name_en": "Namsan Middle"}
    response = post(district, "/district/schools", school, token_from="/district/schools")
    assert response.status_code == 302
    with app.app_context():
        school = db.session.scalar(select(School).where(School.code == "namsan"))
    page = post(district, f"/district/schools/{school.id}", {"admin-display_name": "관리자", "admin-username":
                                                              "namsan-admin", "admin-submit": "1"},
                token_from=f"/district/schools/{school.id}").get_data(as_text=True)
    assert "/set-password/" in page
    with app.app_context():
        admin = db.session.scalar(select(User).where(User.username == "namsan-admin"))
        assert admin.role == "school_admin" and admin.school_id == school.id


def test_duplicate_code_is_refused(app, district, make_school):
    make_school("hanbit")
    response = post(district, "/district/schools", {"code": "hanbit", "name_ko": "x", "name_en": "y"},
                    token_from="/district/schools")
    assert response.status_code == 422 and "이미 사용 중인 학교 코드" in response.get_data(as_text=True)


def test_deactivated_school_cannot_sign_in(app, district, make_user, login):
    teacher = make_user(role="teacher")
    teacher_client = app.test_client()
    login(teacher_client, teacher)
    with app.app_context():
        school_id = db.session.get(User, teacher).school_id
    post(district, f"/district/schools/{school_id}/active", token_from="/district/schools")
    assert teacher_client.get("/account/").status_code == 302


def test_dashboard_has_a_row_per_school_and_no_case_content(app, district, make_user):
    teacher = make_user(role="teacher")
    make_user(role="counselor", lead=True)
    make_user(role="counselor", school="saesol")
    with app.app_context():
        user = db.session.get(User, teacher)
        cases.submit_report(db.session, user, cases.ReportData(["creation"], "student", victim_names="HIDDEN-NAME",
                                                               description="HIDDEN-TEXT"), "district-token-0001")
        db.session.commit()
    page = district.get("/district/").get_data(as_text=True)
    assert "hanbit학교" in page and "saesol학교" in page
    assert "HIDDEN-NAME" not in page and "HIDDEN-TEXT" not in page
    assert "5 미만" in page


def test_district_admin_never_reaches_a_case(app, district, make_user):
    teacher = make_user(role="teacher")
    make_user(role="counselor", lead=True)
    with app.app_context():
        case, _ = cases.submit_report(db.session, db.session.get(User, teacher),
                                      cases.ReportData(["creation"], "student"), "district-token-0002")
        db.session.commit()
        public_id = case.public_id
    for url in (f"/cases/{public_id}", f"/cases/{public_id}/print", f"/cases/{public_id}/access", "/cases/"):
        assert district.get(url).status_code == 404


def test_school_admin_cannot_reach_district(app, make_user, login):
    client = app.test_client()
    login(client, make_user(role="school_admin"))
    assert client.get("/district/schools").status_code == 404
