"""Classes as teachers and school admins use them: rosters, assignments, completion grid, CSV, staff training."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from conftest import post
from sqlalchemy import select

from portal.extensions import db
from portal.models import Assignment, AuditEvent, Classroom, User
from portal.services.classes import csv_safe

A1 = "a1-pictures-can-change"
A2 = "a2-ask-first"
EN = {"Accept-Language": "en"}
SOON = (date.today() + timedelta(days=14)).isoformat()


def page(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def make_class(app):
    """make_class(teacher_id, [student ids], name=) -> class id, in the teacher's school."""

    def factory(teacher_id: int | None, student_ids=(), name: str = "1-1", school_id: int | None = None) -> int:
        with app.app_context():
            if school_id is None:
                school_id = db.session.get(User, teacher_id).school_id
            classroom = Classroom(school_id=school_id, name=name, teacher_id=teacher_id)
            classroom.students.extend(db.session.get(User, s) for s in student_ids)
            db.session.add(classroom)
            db.session.commit()
            return classroom.id

    return factory


@pytest.fixture
def school(make_user, make_class):
    """One school: two teachers with a class each, two students in class 1, one in class 2, an admin."""
    people = {
        "teacher1": make_user(role="teacher", display_name="이도윤"),
        "teacher2": make_user(role="teacher", display_name="박지호"),
        "student1": make_user(role="student", display_name="김민서"),
        "student2": make_user(role="student", display_name="이지훈"),
        "student3": make_user(role="student", display_name="박서윤"),
        "admin": make_user(role="school_admin"),
        "counselor": make_user(role="counselor"),
    }
    people["class1"] = make_class(people["teacher1"], [people["student1"], people["student2"]], "1-1")
    people["class2"] = make_class(people["teacher2"], [people["student3"]], "1-2")
    return people


def assign(client, class_id: int, slug: str = A1, due: str = SOON, token_from: str | None = None):
    # The browser sends the same language with the POST as with the page that shows its message.
    return post(client, f"/classes/{class_id}/assign", {"lesson": slug, "due_on": due},
                token_from=token_from or f"/classes/{class_id}", headers=EN)


def test_a_teacher_sees_only_their_own_classes(client, login, school):
    login(client, school["teacher1"])
    html = page(client.get("/classes/"))
    assert f"/classes/{school['class1']}" in html and f"/classes/{school['class2']}" not in html
    roster = page(client.get(f"/classes/{school['class1']}"))
    assert "김민서" in roster and "이지훈" in roster and "박서윤" not in roster


def test_a_teacher_of_another_class_at_the_same_school_gets_404(client, login, school):
    login(client, school["teacher2"])
    class1 = school["class1"]
    assert client.get(f"/classes/{class1}").status_code == 404
    assert client.get(f"/classes/{class1}/export.csv").status_code == 404
    assert assign(client, class1, token_from=f"/classes/{school['class2']}").status_code == 404
    assert client.get("/classes/999999").status_code == 404


def test_the_school_admin_sees_every_class_of_the_school_only(client, login, make_user, make_school, make_class,
                                                              school):
    other_school = make_school("saesol")
    elsewhere = make_class(None, [], "2-1", school_id=other_school)
    login(client, school["admin"])
    html = page(client.get("/classes/"))
    assert f"/classes/{school['class1']}" in html and f"/classes/{school['class2']}" in html
    assert f"/classes/{elsewhere}" not in html
    assert client.get(f"/classes/{school['class2']}").status_code == 200
    assert client.get(f"/classes/{elsewhere}").status_code == 404


@pytest.mark.parametrize("role", ["counselor", "student"])
def test_other_roles_get_404(client, login, school, role):
    login(client, school[f"{role}1" if role == "student" else role])
    assert client.get("/classes/").status_code == 404
    assert client.get(f"/classes/{school['class1']}").status_code == 404


def test_assign_a_lesson_and_the_right_students_see_it(app, login, school):
    teacher = app.test_client()
    login(teacher, school["teacher1"])
    response = assign(teacher, school["class1"], A1, SOON)
    assert response.status_code == 302
    html = page(teacher.get(f"/classes/{school['class1']}", headers=EN))
    assert "The lesson was assigned." in html and "Pictures can be changed" in html
    assert "0 of 2 students done" in html
    for key, sees in (("student1", True), ("student2", True), ("student3", False)):
        student = app.test_client()
        login(student, school[key])
        mine = page(student.get("/lessons/mine", headers=EN))
        assert ("Pictures can be changed" in mine) is sees, key
        if sees:
            assert f'datetime="{SOON}"' in mine


def test_assigning_again_changes_the_due_date(app, client, login, school):
    login(client, school["teacher1"])
    assign(client, school["class1"], A1, SOON)
    later = (date.today() + timedelta(days=30)).isoformat()
    assign(client, school["class1"], A1, later)
    assert "The due date was changed." in page(client.get(f"/classes/{school['class1']}", headers=EN))
    with app.app_context():
        rows = db.session.scalars(select(Assignment).where(Assignment.classroom_id == school["class1"])).all()
        assert [(r.lesson_slug, r.due_on.isoformat()) for r in rows] == [(A1, later)]


@pytest.mark.parametrize("data,message", [
    ({"lesson": A1, "due_on": "2001-01-01"}, "The due date cannot be in the past."),
    ({"lesson": "z9-not-a-lesson", "due_on": SOON}, "Not a valid choice"),
    ({"lesson": A1, "due_on": ""}, "Enter a due date."),
])
def test_assignment_errors_are_shown_with_the_form(app, client, login, school, data, message):
    login(client, school["teacher1"])
    response = post(client, f"/classes/{school['class1']}/assign", data, token_from=f"/classes/{school['class1']}",
                    headers=EN)
    assert response.status_code == 400 and message in page(response)
    with app.app_context():
        assert db.session.scalar(select(Assignment)) is None


def test_assign_needs_the_csrf_token(client, login, school):
    login(client, school["teacher1"])
    response = client.post(f"/classes/{school['class1']}/assign", data={"lesson": A1, "due_on": SOON})
    assert response.status_code == 400


def _take(app, login, student_id: int, slug: str, answers: dict | None = None, view_only: bool = False) -> None:
    from portal.services.content import lesson_library

    client = app.test_client()
    login(client, student_id)
    with app.app_context():
        quiz = lesson_library().get(slug).text("ko").quiz
    if view_only:
        client.get(f"/lessons/{slug}")
        return
    answers = answers or {f"q{i + 1}": str(q.answer) for i, q in enumerate(quiz)}
    post(client, f"/lessons/{slug}/quiz", answers, token_from=f"/lessons/{slug}/quiz")


def test_completion_grid_shows_not_started_in_progress_and_done_with_score(app, client, login, school):
    login(client, school["teacher1"])
    assign(client, school["class1"], A1)
    assign(client, school["class1"], A2)
    _take(app, login, school["student1"], A1)
    _take(app, login, school["student2"], A1, view_only=True)
    html = page(client.get(f"/classes/{school['class1']}", headers=EN))
    assert "1 of 2 students done" in html and "0 of 2 students done" in html
    assert html.count('class="cell-done"') == 1 and html.count('class="cell-in_progress"') == 1
    assert html.count('class="cell-not_started"') == 2
    assert "100%" in html and "Done" in html and "Started" in html and "Not started" in html
    assert '<progress id="done-' in html and "1 of 2 lessons done" in html


def test_csv_export_has_the_grid_and_is_audited(app, client, login, school):
    login(client, school["teacher1"])
    assign(client, school["class1"], A1)
    _take(app, login, school["student1"], A1)
    response = client.get(f"/classes/{school['class1']}/export.csv", headers=EN)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")  # spreadsheet programs then read the Korean names right
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    title = "Pictures can be changed"
    assert rows[0] == ["Username", "Name", f"{title} · Status", f"{title} · Best score (%)"]
    by_name = {row[1]: row for row in rows[1:]}
    assert by_name["김민서"][2:] == ["Done", "100"] and by_name["이지훈"][2:] == ["Not started", ""]
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "class_progress_exported"))
        assert event.actor_id == school["teacher1"] and event.target == f"classroom:{school['class1']}"


def test_csv_export_is_safe_against_formula_injection(app, client, login, make_user, make_class):
    teacher = make_user(role="teacher")
    names = ["=HYPERLINK(\"http://x\")", "+1+1", "-2", "@SUM(A1)", "\tTab", "\rReturn", "Kim;=1+2", "보통 이름"]
    students = [make_user(role="student", display_name=name) for name in names]
    class_id = make_class(teacher, students, "inject")
    login(client, teacher)
    text = client.get(f"/classes/{class_id}/export.csv").get_data(as_text=True).lstrip("\ufeff")
    cells = [row[1] for row in csv.reader(io.StringIO(text))][1:]
    assert sorted(cells) == sorted(["'" + name for name in names[:-2]] + ["Kim;'=1+2", "보통 이름"])
    # Read with ";" as the separator, as a spreadsheet in such a locale does: still one cell, no formula.
    for line in text.splitlines()[1:]:
        for cell in csv.reader(io.StringIO(line), delimiter=";"):
            assert not any(part.startswith(("=", "+", "@")) for part in cell), line


@pytest.mark.parametrize("value,expected", [
    ("=1+2", "'=1+2"), ("+x", "'+x"), ("-x", "'-x"), ("@x", "'@x"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("x=1", "x=1"), ("", ""), (None, ""), (85, "85"), ("Kim;=1+2", "Kim;'=1+2"), ("a, -b", "a, '-b"),
    ("Lee; \"@x", "Lee; \"'@x"), ("2-3", "2-3"),
])
def test_csv_safe(value, expected):
    assert csv_safe(value) == expected


def test_staff_training_completion_for_the_school_admin(app, client, login, make_user, school):
    from portal.services.content import lesson_library

    with app.app_context():
        band_d = [lesson.slug for lesson in lesson_library().band("D")]
    for slug in band_d:
        _take(app, login, school["counselor"], slug)
    _take(app, login, school["teacher1"], band_d[0])
    outsider = make_user(role="teacher", school="saesol", display_name="다른학교교사")
    login(client, school["admin"])
    html = page(client.get("/classes/staff-training", headers=EN))
    assert "이도윤" in html and "박지호" in html and "다른학교교사" not in html
    assert "김민서" not in html  # students are not staff
    assert "1 of 4 staff members have completed every module" in html
    assert "4 / 4" in html and "1 / 4" in html
    assert "Art. 35" in html
    assert outsider


@pytest.mark.parametrize("role", ["teacher", "counselor"])
def test_staff_training_completion_is_for_the_school_admin_only(client, login, school, role):
    login(client, school["teacher1" if role == "teacher" else role])
    assert client.get("/classes/staff-training").status_code == 404
