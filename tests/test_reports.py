"""The teacher's report: guidance, form, review, receipt, idempotency, routing and notifications."""

from __future__ import annotations

import html
import re
import threading

import pytest
from casehelpers import REPORT, file_report, form_token, only_case
from conftest import post
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Case, CaseAssignee, DutyItem, Notification, School, User
from portal.services import cases


@pytest.fixture
def staff(make_user):
    """A school with a lead, a second counselor, two teachers and an admin."""
    return {
        "lead": make_user(role="counselor", lead=True, email="lead@school.test"),
        "counselor": make_user(role="counselor"),
        "teacher": make_user(role="teacher"),
        "teacher2": make_user(role="teacher"),
        "admin": make_user(role="school_admin", email="admin@school.test"),
    }


def test_guidance_comes_first_and_says_the_essentials(app, client, staff, login):
    login(client, staff["teacher"])
    page = client.get("/reports/new").get_data(as_text=True)
    assert "저장하거나 캡처하거나 전달하지 마십시오" in page
    assert "청소년성보호법 제34조 제2항" in page
    assert "이 신고를 볼 수 있는 사람" in page
    english = client.get("/reports/new", headers={"Accept-Language": "en"})
    assert "Who will see this report" in english.get_data(as_text=True)


def test_form_has_no_file_field_and_the_server_refuses_uploads(app, client, staff, login):
    import io

    login(client, staff["teacher"])
    page = client.get("/reports/new/form").get_data(as_text=True)
    assert 'type="file"' not in page and "multipart" not in page
    data = {**REPORT, "submission_token": form_token(client), "action": "submit",
            "csrf_token": "x", "evidence": (io.BytesIO(b"\x89PNG fake"), "image.png")}
    response = client.post("/reports/new/form", data=data, content_type="multipart/form-data")
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Case)) == 0


def test_teacher_files_a_report_and_gets_a_receipt(app, client, staff, login):
    login(client, staff["teacher"])
    response = file_report(client)
    assert response.status_code == 302 and "/receipt" in response.headers["Location"]
    receipt = client.get(response.headers["Location"]).get_data(as_text=True)
    year = only_case(app).created_at.year
    assert f"HANBIT-{year}-0001" in receipt
    assert "경찰 신고를 해야 합니다" in receipt  # police were not told
    assert "02-735-8994" in receipt  # help lines
    assert "Kim Minji" not in receipt  # the receipt repeats no names


def test_review_shows_what_was_typed_and_edit_keeps_it(app, client, staff, login):
    login(client, staff["teacher"])
    data = {**REPORT, "submission_token": form_token(client)}
    review = post(client, "/reports/new/form", {**data, "action": "review"}, token_from="/reports/new/form")
    text = review.get_data(as_text=True)
    assert "A fake image of a student was posted" in text and "신고 보내기" in text
    edit = post(client, "/reports/new/form", {**data, "action": "edit"}, token_from="/reports/new/form")
    assert "A fake image of a student was posted" in edit.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Case)) == 0  # nothing sent yet


def test_bad_input_gets_messages_and_keeps_what_was_typed(app, client, staff, login):
    login(client, staff["teacher"])
    data = {**REPORT, "categories": [], "description": "", "victim_count": "-3",
            "submission_token": form_token(client), "action": "review",
            "suspects": "keep this text"}
    response = post(client, "/reports/new/form", data, token_from="/reports/new/form")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "일어난 일을 하나 이상 선택하십시오" in page and "어떤 일이 있었는지 적으십시오" in page
    assert "keep this text" in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Case)) == 0


def test_sending_twice_makes_one_case(app, client, staff, login):
    login(client, staff["teacher"])
    token = form_token(client)
    first = file_report(client, token=token)
    second = file_report(client, token=token)
    assert first.headers["Location"] == second.headers["Location"]
    only_case(app)


def test_concurrent_double_submit_makes_one_case(app, staff):
    with app.app_context():
        reporter = db.session.get(User, staff["teacher"])
        reporter_id = reporter.id
    results = []

    def send():
        with app.app_context():
            user = db.session.get(User, reporter_id)
            case, _created = cases.submit_report(db.session, user, cases.ReportData(["creation"], "student"),
                                                 "same-token-123456789")
            db.session.commit()
            results.append(case.reference)
            db.session.remove()

    threads = [threading.Thread(target=send) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(set(results)) == 1 and len(results) == 4
    only_case(app)


def test_fifty_concurrent_reports_get_fifty_references(app, make_user):
    reporters = [make_user(role="teacher") for _ in range(5)]
    make_user(role="counselor", lead=True)
    errors, refs = [], []

    def send(n):
        try:
            with app.app_context():
                user = db.session.get(User, reporters[n % 5])
                case, _created = cases.submit_report(db.session, user, cases.ReportData(["creation"], "student",
                                                     description=f"case {n}"), f"token-{n:04d}-abcdefghijkl")
                db.session.commit()
                refs.append(case.reference)
                db.session.remove()
        except Exception as error:  # collected and asserted below
            errors.append(repr(error))

    threads = [threading.Thread(target=send, args=(n,)) for n in range(50)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert errors == []
    assert len(refs) == 50 and len(set(refs)) == 50
    numbers = sorted(int(r.rsplit("-", 1)[1]) for r in refs)
    assert numbers == list(range(1, 51))


def _assignees(app, case_id):
    with app.app_context():
        return set(db.session.scalars(select(CaseAssignee.user_id).where(CaseAssignee.case_id == case_id)))


def test_routing_all_counselors(app, client, staff, login):
    login(client, staff["teacher"])
    file_report(client)
    case = only_case(app)
    assert _assignees(app, case.id) == {staff["lead"], staff["counselor"]}
    with app.app_context():
        notified = set(db.session.scalars(select(Notification.user_id)))
    assert notified == {staff["lead"], staff["counselor"]}


def test_routing_lead_only(app, client, staff, login):
    with app.app_context():
        db.session.execute(db.update(School).values(routing="lead"))
        db.session.commit()
    login(client, staff["teacher"])
    file_report(client)
    assert _assignees(app, only_case(app).id) == {staff["lead"]}


def _changed_before_the_writes(monkeypatch, *changes) -> None:
    """Have the report form's writes begin only after `changes` are committed by another connection (as a school
    admin's would be between the form's checks and its writes)."""
    from contextlib import contextmanager

    from portal.database import write_phase

    @contextmanager
    def changed_first():
        with db.engine.begin() as conn:
            for change in changes:
                conn.execute(change)
        with write_phase():
            yield

    monkeypatch.setattr("portal.reports.routes.write_phase", changed_first)


def test_a_lead_changed_while_the_report_is_sent_gets_it(app, client, staff, login, monkeypatch):
    """The form checks who would receive the report, then the writes route it: a new lead named in between is the
    one who gets it (the routing reads roles and the lead as they are when it writes, not as the checks saw them)."""
    with app.app_context():
        db.session.execute(db.update(School).values(routing="lead"))
        db.session.commit()
    _changed_before_the_writes(monkeypatch,  # the school admin names another lead
                               db.update(User).where(User.id == staff["lead"]).values(is_lead=False),
                               db.update(User).where(User.id == staff["counselor"]).values(is_lead=True))
    login(client, staff["teacher"])
    assert file_report(client).status_code == 302
    assert _assignees(app, only_case(app).id) == {staff["counselor"]}


def test_a_routing_rule_changed_while_the_report_is_sent_is_the_one_it_follows(app, client, staff, login,
                                                                               monkeypatch):
    """The school's routing rule is read again with its staff when the report is written: a school admin who
    switches to "lead only" between the form's checks and the writes has the report reach the lead alone."""
    _changed_before_the_writes(monkeypatch, db.update(School).values(routing="lead"))
    login(client, staff["teacher"])
    assert file_report(client).status_code == 302
    assert _assignees(app, only_case(app).id) == {staff["lead"]}


def test_excluded_staff_never_get_the_case(app, client, staff, login):
    login(client, staff["teacher"])
    file_report(client, excluded=[str(staff["lead"])])
    case = only_case(app)
    assert _assignees(app, case.id) == {staff["counselor"]}
    lead = app.test_client()
    login(lead, staff["lead"])
    assert lead.get(f"/cases/{case.public_id}").status_code == 404
    assert case.reference not in lead.get("/cases/?status=all").get_data(as_text=True)


def test_school_without_counselor_routes_to_the_admin(app, client, make_user, login):
    teacher, admin = make_user(role="teacher"), make_user(role="school_admin")
    login(client, teacher)
    file_report(client)
    case = only_case(app)
    assert _assignees(app, case.id) == {admin}
    admin_client = app.test_client()
    login(admin_client, admin)
    inbox = admin_client.get("/cases/").get_data(as_text=True)
    assert "상담교사가 없어" in inbox and case.reference in inbox
    assert admin_client.get(f"/cases/{case.public_id}").status_code == 200


def test_duties_are_created_with_deadlines(app, client, staff, login):
    login(client, staff["teacher"])
    file_report(client, urgent="yes")
    case = only_case(app)
    with app.app_context():
        items = {d.duty_id: d for d in db.session.scalars(select(DutyItem).where(DutyItem.case_id == case.id))}
    assert {"police_report", "guardian_contact"} <= set(items)
    assert items["police_report"].done_at is None and items["police_report"].due_at <= case.created_at
    assert case.urgent


def test_police_already_told_satisfies_the_duty(app, client, staff, login):
    login(client, staff["teacher"])
    response = file_report(client, police_told="yes", police_told_at="2026-11-20T09:00",
                           police_report_number="2026-123")
    receipt = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "경찰 신고를 해야 합니다" not in receipt
    with app.app_context():
        item = db.session.scalar(select(DutyItem).where(DutyItem.duty_id == "police_report"))
        assert item.done_at is not None


def test_my_reports_shows_status_only(app, client, staff, login):
    login(client, staff["teacher"])
    file_report(client)
    case = only_case(app)
    with app.app_context():
        c = db.session.get(Case, case.id)
        lead = db.session.get(User, staff["lead"])
        cases.acknowledge(db.session, lead, c)
        cases.add_entry(db.session, lead, c, "note", c.created_at, "SECRET COUNSELOR NOTE")
        db.session.commit()
    page = client.get("/reports/mine").get_data(as_text=True)
    assert case.reference in page and "상담교사 처리 중" in page
    assert "SECRET COUNSELOR NOTE" not in page
    other = app.test_client()
    login(other, staff["teacher2"])
    assert case.reference not in other.get("/reports/mine").get_data(as_text=True)
    assert other.get(f"/reports/{case.public_id}/receipt").status_code == 404


def test_student_asks_for_help(app, client, staff, make_user, login):
    student = make_user(role="student")
    login(client, student)
    page = client.get("/reports/help").get_data(as_text=True)
    token = form_token.__globals__["TOKEN_RE"].search(page)
    token = token.group(1) or token.group(2)
    response = post(client, "/reports/help", {"message": "someone made a picture of me", "urgent": "no",
                                               "submission_token": token}, token_from="/reports/help")
    assert response.status_code == 302
    case = only_case(app)
    assert case.kind == "student_request"
    mine = client.get("/reports/mine").get_data(as_text=True)
    assert case.reference in mine and "상담교사 확인 대기" in mine
    assert _assignees(app, case.id) == {staff["lead"], staff["counselor"]}
    assert client.get(f"/cases/{case.public_id}").status_code == 404
    with app.app_context():  # no checklist yet: its first deadline, for the inbox's order, is acknowledging it
        stored = db.session.get(Case, case.id)
        assert stored.next_due_at is not None and stored.next_due_at == cases.ack_deadline(stored)


def test_a_report_excluding_everyone_who_could_receive_it_is_refused(app, client, staff, login):
    """Excluding the admin and every counselor would leave the case with nobody: refused, nothing lost."""
    login(client, staff["teacher"])
    data = {**REPORT, "submission_token": form_token(client), "action": "review",
            "excluded": [str(staff["lead"]), str(staff["counselor"]), str(staff["admin"])]}
    response = post(client, "/reports/new/form", data, token_from="/reports/new/form")
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "이 신고를 받을 수 있는 사람이 학교에 없습니다" in text and "117" in text and "112" in text
    assert "A fake image of a student was posted" in text  # what was typed is kept
    english = post(client, "/reports/new/form", data, token_from="/reports/new/form",
                   headers={"Accept-Language": "en"})
    assert "Nobody at your school could receive this report" in english.get_data(as_text=True)
    # Sent straight to "submit" (skipping the review) it is refused the same way.
    submit = post(client, "/reports/new/form", {**data, "action": "submit"}, token_from="/reports/new/form")
    assert submit.status_code == 422
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Case)) == 0
        assert db.session.scalar(select(func.count()).select_from(Notification)) == 0


def test_excluding_all_counselors_but_not_the_admin_reaches_the_admin(app, client, staff, login):
    login(client, staff["teacher"])
    file_report(client, excluded=[str(staff["lead"]), str(staff["counselor"])])
    case = only_case(app)
    assert _assignees(app, case.id) == {staff["admin"]}


def test_escalation_reaches_the_assignees_when_lead_and_admin_are_excluded(app, client, staff, login):
    from datetime import timedelta

    from portal.models.base import utcnow

    login(client, staff["teacher"])
    file_report(client, excluded=[str(staff["lead"]), str(staff["admin"])])
    case = only_case(app)
    with app.app_context():
        db.session.execute(db.delete(Notification))
        cases.escalate(db.session, app, utcnow() + timedelta(days=3))
        db.session.commit()
        notified = set(db.session.scalars(select(Notification.user_id)))
    assert notified == {staff["counselor"]}
    assert _assignees(app, case.id) == {staff["counselor"]}


def test_a_student_in_danger_sees_what_to_do_right_now(app, client, staff, make_user, login):
    student = make_user(role="student")
    login(client, student)
    response = post(client, "/reports/help", {"message": "Someone is threatening to post a picture of me.",
                                             "urgent": "yes", "submission_token": "danger-token-00000001"},
                    token_from="/reports/help")
    assert response.status_code == 302 and response.headers["Location"].endswith("/sent")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    for words in ("지금 위험하다면 바로 전화하세요", "112", "117", "02-735-8994", "다음 등교일", "내 도움 요청"):
        assert words in page, words
    english = client.get(response.headers["Location"], headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "If you are in danger now, call now" in english and "next school day" in english
    case = only_case(app)
    assert case.urgent and case.kind == "student_request"
    with app.app_context():
        notified = set(db.session.scalars(select(Notification.user_id)))
    assert staff["lead"] in notified
    # The dashboard button, the menu and the list all say "My requests".
    mine = client.get("/reports/mine").get_data(as_text=True)
    assert "<h1>내 도움 요청</h1>" in mine and case.reference in mine
    assert "내 도움 요청" in client.get("/").get_data(as_text=True)
    # Another student cannot open this page.
    other = app.test_client()
    login(other, make_user(role="student"))
    assert other.get(response.headers["Location"]).status_code == 404


def test_a_request_that_is_not_urgent_gets_a_calm_confirmation(app, client, staff, make_user, login):
    login(client, make_user(role="student"))
    response = post(client, "/reports/help", {"message": "I saw something in a group chat.", "urgent": "no",
                                             "submission_token": "calm-token-0000000001"}, token_from="/reports/help")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "보냈어요" in page and "지금 위험하다면" not in page


def test_a_signed_out_student_gets_help_lines_not_a_bare_sign_in_page(client):
    response = client.get("/reports/help")
    assert response.status_code == 302 and response.headers["Location"].endswith("/help")
    page = client.get("/help").get_data(as_text=True)
    assert "112" in page and "02-735-8994" in page and "/login?next=/reports/help" in page
    english = client.get("/help", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Get help now" in english and "Sign in to write to a counselor" in english


def test_a_school_without_counselors_or_admins_says_so_and_keeps_the_message(app, client, make_user, login):
    login(client, make_user(role="student", school="emptyschool"))
    page = client.get("/reports/help").get_data(as_text=True)
    token = form_token.__globals__["TOKEN_RE"].search(page)
    response = post(client, "/reports/help", {"message": "please help me", "urgent": "yes",
                                             "submission_token": token.group(1) or token.group(2)},
                    token_from="/reports/help")
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "please help me" in text and "117" in text and "112" in text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Case)) == 0


def _checked(page: str, name: str, value: str) -> bool:
    """Whether the page has this checkbox or radio button ticked."""
    return any('checked' in tag for tag in re.findall(r"<input[^>]*>", page)
               if f'name="{name}"' in tag and f'value="{value}"' in tag)


def test_the_form_says_which_step_it_is_and_is_in_titled_parts(app, client, staff, login):
    login(client, staff["teacher"])
    page = client.get("/reports/new/form").get_data(as_text=True)
    assert "<title>4단계 중 2단계: 신고서 작성 · " in page
    nav = page[page.index('<nav class="steps"'):page.index("</nav>", page.index('<nav class="steps"'))]
    assert 'aria-label="신고 단계"' in nav and nav.count("<li") == 4
    assert re.search(r'aria-current="step">\s*<span[^>]*>2</span> 신고서 작성', nav)
    legends = re.findall(r'<fieldset class="form-section">\s*(?:\{#.*?#\}\s*)?<legend><h2>([^<]+)</h2>', page)
    assert legends == ["발생 내용", "관련된 사람", "발견된 곳", "안전과 경찰 신고", "열람 제외"]
    # Each question that must be answered says so in words, and only those.
    assert page.count("(필수)") == 5
    english = client.get("/reports/new/form", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "<title>Step 2 of 4: Write the report · " in english and english.count("(required)") == 5
    assert "<title>4단계 중 1단계: 시작하기 전에 · " in client.get("/reports/new").get_data(as_text=True)


FULL_REPORT = {**REPORT, "police_told": "yes", "police_told_at": "2026-11-20T09:15",
               "police_report_number": "2026-000777"}
REQUIRED = ("categories", "victim_kind", "urgent", "police_told", "description")


@pytest.mark.parametrize("missing", REQUIRED)
def test_every_typed_value_stays_when_one_required_answer_is_missing(app, client, staff, login, missing):
    login(client, staff["teacher"])
    data = {name: value for name, value in FULL_REPORT.items() if name != missing}
    data["excluded"] = [str(staff["teacher2"])]
    if missing == "police_told":
        data.pop("police_told_at")  # a time without a yes would be a second error
    response = post(client, "/reports/new/form", {**data, "submission_token": form_token(client), "action": "review"},
                    token_from="/reports/new/form")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "<title>오류: 4단계 중 2단계" in page
    summary = re.findall(r'<div class="error-summary".*?</div>', page, re.S)[0]
    assert len(re.findall(r"<li>", summary)) == 1
    for name, value in data.items():
        for one in value if isinstance(value, list) else [value]:
            if name in ("categories", "platforms", "victim_kind", "urgent", "victim_knows", "guardians_told",
                        "police_told", "excluded"):
                assert _checked(page, name, one), (name, one)
            else:
                assert html.escape(one, quote=False) in page, (name, one)


def test_the_error_summary_reads_name_colon_message_in_one_register(app, client, staff, login):
    login(client, staff["teacher"])
    bad = {"victim_count": "0", "links": "x" * 4001, "first_seen": "1900-01-01T00:00",
           "police_told": "no", "police_told_at": "2026-11-20T09:15", "submission_token": form_token(client),
           "action": "review"}
    for lang, ending in (("ko", ("십시오.", "니다.")), ("en", (".",))):
        page = post(client, "/reports/new/form", bad, token_from="/reports/new/form",
                    headers={"Accept-Language": lang}).get_data(as_text=True)
        summary = re.findall(r'<div class="error-summary".*?</div>', page, re.S)[0]
        heading = re.search(r"<h2>([^<]+)</h2>", summary).group(1)
        assert heading == {"ko": "다음 항목을 고쳐 주십시오", "en": "Correct the following"}[lang]
        items = [re.sub(r"<[^>]+>", "", item).strip() for item in re.findall(r"<li>(.*?)</li>", summary, re.S)]
        assert len(items) == 8, items  # five unanswered questions, the number, the links, the early date, the time
        for item in items:
            name, _colon, message = item.partition(": ")
            assert name and message and not re.search(r"[?.:)\s]$", name), item
            assert message.endswith(ending) and ": " not in message and "  " not in item, item


def test_a_value_that_is_not_a_box_gets_one_plain_sentence(app, client, staff, login):
    login(client, staff["teacher"])
    data = {**REPORT, "categories": ["nope"], "excluded": ["x"], "submission_token": form_token(client),
            "action": "review"}
    page = post(client, "/reports/new/form", data, token_from="/reports/new/form").get_data(as_text=True)
    summary = re.findall(r'<div class="error-summary".*?</div>', page, re.S)[0]
    items = [re.sub(r"<[^>]+>", "", item).strip() for item in re.findall(r"<li>(.*?)</li>", summary, re.S)]
    assert items == ["발생 내용: 보기에 있는 항목만 고르십시오.", "열람 제외 대상: 보기에 있는 항목만 고르십시오."]
