"""What a school admin does: users, links, classes, roster import, settings, dashboard; and what others cannot."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from conftest import PASSWORD, deliver_mail, post, username_of
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditEvent, Classroom, School, SetPasswordToken, User
from portal.models.base import utcnow
from portal.services import accounts, stats

LINK_RE = re.compile(r"/set-password/([A-Za-z0-9_\-]+)")


@pytest.fixture
def admin(app, make_user, login):
    user_id = make_user(role="school_admin")
    client = app.test_client()
    login(client, user_id)
    return client, user_id


def _audited(app, action):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action))


def test_teacher_and_other_schools_cannot_reach_admin(app, make_user, login):
    teacher = app.test_client()
    login(teacher, make_user(role="teacher"))
    assert teacher.get("/admin/users").status_code == 404
    assert teacher.get("/admin/").status_code == 404
    saesol_admin = app.test_client()
    login(saesol_admin, make_user(role="school_admin", school="saesol"))
    hanbit_teacher = make_user(role="teacher", school="hanbit")
    assert saesol_admin.get(f"/admin/users/{hanbit_teacher}").status_code == 404
    assert post(saesol_admin, f"/admin/users/{hanbit_teacher}/deactivate", token_from="/admin/users").status_code == 404
    with app.app_context():
        assert db.session.get(User, hanbit_teacher).active


def test_add_user_gives_a_one_time_link_that_expires(app, admin, make_user):
    client, _ = admin
    response = post(client, "/admin/users/new", {"display_name": "이하늘", "username": "hanbit-haneul",
                                                 "role": "teacher", "email": ""}, token_from="/admin/users/new")
    page = response.get_data(as_text=True)
    token = LINK_RE.search(page).group(1)
    with app.app_context():
        stored = db.session.scalar(select(SetPasswordToken))
        assert token not in stored.token_hash and stored.token_hash != token  # only a hash is stored
    visitor = app.test_client()
    assert visitor.get(f"/set-password/{token}").status_code == 200
    done = post(visitor, f"/set-password/{token}", {"new": "a-brand-new-phrase", "confirm": "a-brand-new-phrase"},
                token_from=f"/set-password/{token}")
    assert done.status_code == 302
    with app.app_context():
        assert accounts.authenticate(db.session, "hanbit-haneul", "a-brand-new-phrase")
    assert visitor.get(f"/set-password/{token}").status_code == 404  # used up


def test_set_password_link_expires_after_72_hours(app, make_user):
    user_id = make_user(role="student")
    with app.app_context():
        user = db.session.get(User, user_id)
        raw = accounts.issue_link(db.session, user, None, now=utcnow() - timedelta(hours=73))
        db.session.commit()
    assert app.test_client().get(f"/set-password/{raw}").status_code == 404


def test_a_new_link_cancels_the_old_one(app, admin, make_user):
    client, _ = admin
    student = make_user(role="student")
    first = LINK_RE.search(post(client, f"/admin/users/{student}/link", token_from="/admin/users")
                           .get_data(as_text=True)).group(1)
    second = LINK_RE.search(post(client, f"/admin/users/{student}/link", token_from="/admin/users")
                            .get_data(as_text=True)).group(1)
    assert app.test_client().get(f"/set-password/{first}").status_code == 404
    assert app.test_client().get(f"/set-password/{second}").status_code == 200


def test_deactivate_ends_sessions_at_once(app, admin, make_user, login):
    client, _ = admin
    teacher = make_user(role="teacher")
    teacher_client = app.test_client()
    login(teacher_client, teacher)
    assert post(client, f"/admin/users/{teacher}/deactivate", token_from="/admin/users").status_code == 302
    assert teacher_client.get("/account/").status_code == 302
    assert _audited(app, "user_deactivated") == 1
    with app.app_context():
        assert accounts.authenticate(db.session, username_of(app, teacher), PASSWORD) is None


def test_change_role_and_set_lead(app, admin, make_user, login):
    client, _ = admin
    first, second = make_user(role="counselor", lead=True), make_user(role="teacher")
    post(client, f"/admin/users/{second}/role", {"role": "counselor"}, token_from="/admin/users")
    post(client, f"/admin/users/{second}/lead", token_from="/admin/users")
    with app.app_context():
        assert db.session.get(User, second).role == "counselor" and db.session.get(User, second).is_lead
        assert not db.session.get(User, first).is_lead
    assert _audited(app, "role_changed") == 1 and _audited(app, "lead_set") == 1
    refused = post(client, f"/admin/users/{first}/role", {"role": "district_admin"}, token_from="/admin/users")
    assert refused.status_code == 400


def test_admin_cannot_lock_themselves_out(app, admin):
    client, admin_id = admin
    response = post(client, f"/admin/users/{admin_id}/deactivate", token_from="/admin/users")
    assert response.status_code == 302
    assert client.get("/admin/users").status_code == 200


def test_search_users(app, admin, make_user):
    client, _ = admin
    make_user(role="student", username="hanbit-findme", display_name="박보람")
    page = client.get("/admin/users?q=보람").get_data(as_text=True)
    assert "hanbit-findme" in page
    assert "hanbit-findme" not in client.get("/admin/users?q=nobody").get_data(as_text=True)


ROSTER_UTF8 = "학급,번호,이름,학년\n1-1,1,김하늘,1\n1-1,2,이바다,1\n1-2,1,박구름,1\n"


def _upload(client, data: bytes, name="roster.csv"):
    import io

    from conftest import csrf_token

    token = csrf_token(client, "/admin/classes/import")
    return client.post("/admin/classes/import", data={"csrf_token": token, "roster": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def _apply(client, page: str):
    payload = re.search(r'name="payload"[^>]*value="([^"]*)"|value="([^"]*)"[^>]*name="payload"', page)
    value = payload.group(1) or payload.group(2)
    return post(client, "/admin/classes/import/apply", {"payload": value}, token_from="/admin/classes/import")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp949"])
def test_roster_import_in_korean_encodings(app, admin, encoding):
    client, _ = admin
    preview = _upload(client, ROSTER_UTF8.encode(encoding))
    page = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "김하늘" in page and "박구름" in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User).where(User.role == "student")) == 0
    done = _apply(client, page)
    text = done.get_data(as_text=True)
    assert done.status_code == 200 and len(LINK_RE.findall(text)) == 3
    with app.app_context():
        classes = {c.name: [s.display_name for s in c.students] for c in db.session.scalars(select(Classroom))}
    assert classes == {"1-1": ["김하늘", "이바다"], "1-2": ["박구름"]}
    assert _audited(app, "roster_imported") == 1


def test_roster_with_a_bad_row_writes_nothing_and_names_the_line(app, admin):
    client, _ = admin
    bad = "class,number,name\n1-1,1,Kim\n1-1,abc,Lee\n1-1,3,\n"
    page = _upload(client, bad.encode()).get_data(as_text=True)
    assert "3번째 줄" in page and "4번째 줄" in page
    assert 'name="payload"' not in page  # no import button while there are problems
    forced = _apply_raw(client, bad)
    assert forced.status_code == 422
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User).where(User.role == "student")) == 0
        assert db.session.scalar(select(func.count()).select_from(Classroom)) == 0


def _apply_raw(client, text: str):
    import base64

    return post(client, "/admin/classes/import/apply", {"payload": base64.b64encode(text.encode()).decode()},
                token_from="/admin/classes/import")


def test_roster_reimport_moves_and_renames(app, admin):
    client, _ = admin
    _apply_raw(client, "class,number,name,username\n1-1,1,Kim,hanbit-kim\n")
    page = _upload(client, b"class,number,name,username\n1-2,1,Kim Minji,hanbit-kim\n").get_data(as_text=True)
    assert "hanbit-kim" in page
    _apply_raw(client, "class,number,name,username\n1-2,1,Kim Minji,hanbit-kim\n")
    with app.app_context():
        rooms = {c.name: [s.username for s in c.students] for c in db.session.scalars(select(Classroom))}
        assert rooms == {"1-1": [], "1-2": ["hanbit-kim"]}
        assert accounts.find_user(db.session, "hanbit-kim").display_name == "Kim Minji"


def test_roster_cannot_take_over_another_schools_user(app, admin, make_user):
    client, _ = admin
    make_user(role="student", school="saesol", username="saesol-taken")
    page = _upload(client, b"class,number,name,username\n1-1,1,X,saesol-taken\n").get_data(as_text=True)
    assert "saesol-taken" in page and 'name="payload"' not in page


def test_classes_create_rename_archive_and_assign_teacher(app, admin, make_user):
    client, _ = admin
    teacher = make_user(role="teacher")
    post(client, "/admin/classes", {"name": "2-1", "grade": "2", "teacher_id": str(teacher)},
         token_from="/admin/classes")
    with app.app_context():
        room = db.session.scalar(select(Classroom))
        assert room.teacher_id == teacher
    post(client, f"/admin/classes/{room.id}", {"name": "2-1A", "grade": "2", "teacher_id": "0", "archived": "y",
                                               "submit": "1"}, token_from=f"/admin/classes/{room.id}")
    with app.app_context():
        room = db.session.get(Classroom, room.id)
        assert room.name == "2-1A" and room.archived and room.teacher_id is None
    duplicate = post(client, "/admin/classes", {"name": "2-1A", "teacher_id": "0"}, token_from="/admin/classes")
    assert duplicate.status_code == 422


def test_settings_change_and_bad_values(app, admin):
    client, _ = admin
    ok = post(client, "/admin/settings", {"routing": "lead", "ack_urgent_hours": "2", "ack_normal_hours": "12",
                                          "retention_days": "400", "timezone": "Asia/Seoul", "jurisdiction": "KR"},
              token_from="/admin/settings")
    assert ok.status_code == 302
    bad = post(client, "/admin/settings", {"routing": "lead", "ack_urgent_hours": "0", "ack_normal_hours": "12",
                                           "retention_days": "5", "timezone": "Asia/Seoul", "jurisdiction": "KR"},
               token_from="/admin/settings")
    assert bad.status_code == 422
    with app.app_context():
        school = db.session.scalar(select(School))
        assert (school.routing, school.ack_urgent_hours, school.retention_days) == ("lead", 2, 400)


def test_dashboard_hides_small_counts_and_names(app, admin, make_user):
    client, _ = admin
    from portal.services import cases

    teacher = make_user(role="teacher")
    make_user(role="counselor", lead=True)
    with app.app_context():
        user = db.session.get(User, teacher)
        for n in range(3):
            data = cases.ReportData(["distribution"], "student", victim_names="SECRETNAME", platforms=["telegram"])
            cases.submit_report(db.session, user, data, f"dash-token-{n:03d}-abcdef")
        db.session.commit()
    page = client.get("/admin/").get_data(as_text=True)
    assert "5 미만" in page
    assert "SECRETNAME" not in page and "<svg" in page
    assert ">3<" not in page
    # In the chart itself a small count is a short hatched bar that says so, not an empty box.
    svg = page[page.index("<svg"):page.index("</svg>")]
    assert 'class="bar-suppressed"' in svg and '<text x="30"' in svg and "5 미만" in svg


def test_suppression_rule():
    assert [stats.suppressed(n) for n in (0, 1, 4, 5, 20)] == [False, True, True, False, False]


def test_forgot_password_never_reveals_accounts(app, make_user):
    staff = make_user(role="teacher", email="t@school.test")
    client = app.test_client()
    known = post(client, "/forgot-password", {"username": username_of(app, staff)}, token_from="/forgot-password")
    unknown = post(client, "/forgot-password", {"username": "nobody-at-all"}, token_from="/forgot-password")
    assert known.status_code == unknown.status_code == 302
    # Both answers did the same kind of work: one audit row each, and the name typed is not kept.
    assert _audited(app, "password_link_requested") == 1 and _audited(app, "password_link_refused") == 1
    assert client.get(known.headers["Location"]).get_data(as_text=True).count("메일") >= 1
    assert deliver_mail(app) == 1
    outbox = list((app.instance_path and __import__("pathlib").Path(app.instance_path) / "outbox").glob("*.eml"))
    assert len(outbox) == 1
    from email import message_from_bytes, policy

    body = message_from_bytes(outbox[0].read_bytes(), policy=policy.default).get_body().get_content()
    token = LINK_RE.search(body).group(1)
    assert app.test_client().get(f"/set-password/{token}").status_code == 200


def test_the_user_list_pages_filters_by_class_and_shows_each_students_class(app, admin, make_school):
    client, _ = admin
    from portal.models import Classroom, classroom_students

    school_id = make_school("hanbit")
    with app.app_context():
        rooms = [Classroom(school_id=school_id, name=name) for name in ("2-3", "2-4")]
        db.session.add_all(rooms)
        students = [User(username=f"pupil-{n:03d}", role="student", school_id=school_id, display_name=f"Pupil {n}")
                    for n in range(150)]
        db.session.add_all(students)
        db.session.flush()
        db.session.execute(classroom_students.insert(), [
            {"classroom_id": rooms[n % 2].id, "student_id": student.id} for n, student in enumerate(students)])
        db.session.commit()
        room_24 = rooms[1].id
    en = {"Accept-Language": "en"}
    first = client.get("/admin/users?role=student", headers=en).get_data(as_text=True)
    assert "Showing 1–100 of 150." in first and "Page 1 of 2" in first
    assert first.count('<tr><td><a href="/admin/users/') == 100 and "<td>2-3</td>" in first and "<td>2-4</td>" in first
    assert 'href="/admin/users?page=2&amp;role=student"' in first
    second = client.get("/admin/users?role=student&page=2", headers=en).get_data(as_text=True)
    assert "Showing 101–150 of 150." in second and second.count('<tr><td><a href="/admin/users/') == 50
    in_class = client.get(f"/admin/users?class={room_24}", headers=en).get_data(as_text=True)
    assert "Showing 1–75 of 75." in in_class and "<td>2-3</td>" not in in_class
    assert "Page 1 of" not in in_class  # one page: no pager
    odd = client.get("/admin/users?page=999&class=abc", headers=en)
    assert odd.status_code == 200 and "Page 2 of 2" in odd.get_data(as_text=True)
