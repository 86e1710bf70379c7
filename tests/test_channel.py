"""The school's public page: anonymous reports, receipt codes, the conversation, and what is never kept."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from casehelpers import HOLD_HEAD, assert_not_in_sqlite_files, file_report, only_case, wait_until_it_waits_for_a_lock
from conftest import deliver_mail, post
from sqlalchemy import select, text

from portal.extensions import db
from portal.models import AuditEvent, Case, CaseMessage, Notification, ReceiptCode, ResponseEntry, School
from portal.services import channel

ADDRESS = "203.0.113.77"  # the test clients' address: it must never be stored with an anonymous case
ORIGIN = {"Origin": "http://localhost"}
TOKEN_RE = re.compile(r'name="form_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="form_token"')
CODE_RE = re.compile(r'<span class="code-group">([0-9A-Z]{4})</span>')
TELL = {"categories": ["distribution"], "description": "Photos of a classmate are in a group chat.",
        "urgent": "no", "about": "student", "platforms": ["telegram"], "links": "t.me/some-channel",
        "relation": "student", "identity": ""}


@pytest.fixture
def counselors(make_user):
    return {"lead": make_user(role="counselor", lead=True, email="lead@school.test", locale="en"),
            "other": make_user(role="counselor", email="other@school.test", locale="en"),
            "teacher": make_user(role="teacher", email="teacher@school.test", locale="en")}


def visitor(app, address=ADDRESS):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def form_token(page: str) -> str:
    match = TOKEN_RE.search(page)
    assert match, "no form token on the page"
    return match.group(1) or match.group(2)


def tell(client, school="hanbit", lang="en", headers=ORIGIN, **fields):
    page = client.get(f"/s/{school}/tell?lang={lang}").get_data(as_text=True)
    data = {**TELL, "form_token": form_token(page), **fields}
    return client.post(f"/s/{school}/tell?lang={lang}", data=data, headers=headers)


def code_of(response) -> str:
    groups = CODE_RE.findall(response.get_data(as_text=True))
    assert len(groups) == 5, "the code is five groups of four"
    return "".join(groups)


def come_back(client, code, school="hanbit", lang="en"):
    page = client.get(f"/s/{school}/return?lang={lang}").get_data(as_text=True)
    return client.post(f"/s/{school}/return?lang={lang}", data={"code": code, "form_token": form_token(page)},
                       headers=ORIGIN)


def write_back(client, message, school="hanbit"):
    page = client.get(f"/s/{school}/conversation?lang=en").get_data(as_text=True)
    return client.post(f"/s/{school}/conversation?lang=en", data={"text": message, "form_token": form_token(page)},
                       headers=ORIGIN)


def signed_in(app, login, user_id):
    client = app.test_client()
    login(client, user_id)
    return client


def reply(client, case, message):
    return post(client, f"/cases/{case.public_id}/reply", {"message": message},
                token_from=f"/cases/{case.public_id}")


# --- reaching the school ---------------------------------------------------------------------------------------


def test_the_school_page_sets_no_cookie_and_asks_nothing_of_another_host(app, counselors):
    client = visitor(app)
    for path in ("/s/hanbit/", "/s/hanbit/tell", "/s/hanbit/return", "/s/hanbit/poster", "/s/HANBIT/?lang=en"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "Set-Cookie" not in response.headers, path
        assert response.headers["Cache-Control"] == "no-store"
        page = response.get_data(as_text=True)
        # Every script, style sheet, image and form is the portal's own.
        assert not re.search(r'(src|href|action)="(https?:)?//', page), path
    assert client.get("/s/nowhere/").status_code == 404


def test_the_page_speaks_korean_first_and_english_by_its_address(app, counselors):
    client = visitor(app)
    korean = client.get("/s/hanbit/").get_data(as_text=True)
    english = client.get("/s/hanbit/?lang=en").get_data(as_text=True)
    assert "상담 선생님" in korean and 'lang="ko"' in korean
    assert "Tell a counselor" in english and 'href="/s/hanbit/tell?lang=en"' in english
    assert "112" in english and "117" in english  # the help lines, before anything else
    form = client.get("/s/hanbit/tell?lang=en").get_data(as_text=True)
    assert "Art. 34(2)" in form and "even if the person who told them asks them not to" in form
    assert 'type="file"' not in form


def test_the_poster_carries_a_qr_code_of_the_public_address_in_both_languages(app, counselors):
    page = visitor(app).get("/s/hanbit/poster").get_data(as_text=True)
    assert "<svg" in page and "http://portal.test/s/hanbit/" in page
    assert '<div class="poster-block" lang="ko">' in page and '<div class="poster-block" lang="en">' in page
    assert "Tell a counselor" in page and "112" in page


# --- sending and the code ----------------------------------------------------------------------------------------


def test_an_anonymous_report_opens_a_case_and_shows_its_code_once(app, counselors):
    client = visitor(app)
    response = tell(client, identity="Minji, 2-3")
    assert response.status_code == 200
    code = code_of(response)
    assert len(code) == 20 and all(ch in channel.ALPHABET for ch in code)
    assert "cannot be recovered" in response.get_data(as_text=True)
    assert "portal_reporter=" in response.headers["Set-Cookie"]
    assert "HttpOnly" in response.headers["Set-Cookie"] and "SameSite=Strict" in response.headers["Set-Cookie"]
    with app.app_context():
        case = db.session.scalar(select(Case))
        assert case.kind == "anonymous" and case.reporter_id is None and case.duties == []
        assert case.reporter_relation == "student" and case.reporter_identity == "Minji, 2-3"
        receipt = db.session.get(ReceiptCode, case.id)
        assert receipt.lookup == code[:4] and receipt.secret_hash.startswith("$argon2id$")
        assert code[4:] not in receipt.secret_hash
        notices = db.session.scalars(select(Notification.kind).where(Notification.case_id == case.id)).all()
        assert set(notices) == {"anonymous_report"} and len(notices) == 2  # both counselors
    # The same form sent again (a refresh, the back button) opens nothing new and never shows the code again.
    page = client.get("/s/hanbit/tell?lang=en").get_data(as_text=True)
    token = form_token(page)
    first = client.post("/s/hanbit/tell?lang=en", data={**TELL, "form_token": token}, headers=ORIGIN)
    again = client.post("/s/hanbit/tell?lang=en", data={**TELL, "form_token": token}, headers=ORIGIN)
    assert CODE_RE.search(first.get_data(as_text=True))
    assert "already sent" in again.get_data(as_text=True) and not CODE_RE.search(again.get_data(as_text=True))
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Case)) == 2


def test_a_page_sent_again_after_its_school_lost_its_counselors_still_finds_its_report(app, counselors):
    """A refresh after the report went in (its answer lost on the way) shows that it was sent, even when nobody at
    the school could receive a new one by now: it is not refused as if it had never been sent."""
    from sqlalchemy import update

    from portal.models import User

    client = visitor(app)
    token = form_token(client.get("/s/hanbit/tell?lang=en").get_data(as_text=True))
    first = client.post("/s/hanbit/tell?lang=en", data={**TELL, "form_token": token}, headers=ORIGIN)
    assert CODE_RE.search(first.get_data(as_text=True))
    with app.app_context():
        db.session.execute(update(User).where(User.role.in_(("counselor", "school_admin"))).values(active=False))
        db.session.commit()
    again = client.post("/s/hanbit/tell?lang=en", data={**TELL, "form_token": token}, headers=ORIGIN)
    assert "already sent" in again.get_data(as_text=True) and not CODE_RE.search(again.get_data(as_text=True))
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Case)) == 1


def test_a_lookup_taken_by_a_concurrent_report_gets_another_and_the_code_still_opens(app, counselors, monkeypatch):
    first = code_of(tell(visitor(app)))
    # Another server's report takes the same lookup between this view's check and its insert: the check saw it
    # free, the unique index refuses it, and the report is stored under another lookup instead of failing.
    monkeypatch.setattr(channel, "lookup_taken", lambda _session, _lookup: False)
    monkeypatch.setattr(channel, "new_code", lambda: first[:4] + "Z" * channel.SECRET_LENGTH)
    client = visitor(app)
    response = tell(client, description="Someone posted a fake video of a teacher.")
    assert response.status_code == 200
    second = code_of(response)
    assert second[:4] != first[:4] and second[4:] == "Z" * channel.SECRET_LENGTH
    opened = come_back(visitor(app, "198.51.100.9"), second)
    assert opened.status_code == 302 and opened.headers["Location"].endswith("/s/hanbit/conversation?lang=en")
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(ReceiptCode)) == 2


def test_bad_input_keeps_what_was_typed_and_sends_nothing(app, counselors):
    client = visitor(app)
    response = tell(client, categories=[], description="I saw something in a channel")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Choose at least one thing that is happening." in page and "I saw something in a channel" in page
    expired = tell(client, form_token="x")  # tell() fills a real token first; this overrides it
    assert expired.status_code == 400  # a token the portal did not sign
    with app.app_context():
        assert db.session.scalar(select(Case)) is None


def test_an_old_form_keeps_its_words_and_asks_to_send_again(app, counselors, monkeypatch):
    client = visitor(app)
    page = client.get("/s/hanbit/tell?lang=en").get_data(as_text=True)
    monkeypatch.setattr("portal.channel.routes.FORM_TOKEN_AGE", -1)
    response = client.post("/s/hanbit/tell?lang=en", data={**TELL, "form_token": form_token(page)}, headers=ORIGIN)
    assert response.status_code == 422
    assert "open for a long time" in response.get_data(as_text=True)
    assert "Photos of a classmate" in response.get_data(as_text=True)


def test_the_hourly_limit_refuses_with_a_clear_message_and_keeps_the_words(app, counselors):
    with app.app_context():
        db.session.scalar(select(School)).anonymous_hourly_limit = 2
        db.session.commit()
    client = visitor(app)
    assert tell(client).status_code == 200 and tell(client).status_code == 200
    third = tell(client, description="third one")
    assert third.status_code == 422
    assert "many reports in the last hour" in third.get_data(as_text=True) and "third one" in third.get_data(
        as_text=True)
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Case)) == 2


def test_while_the_slow_check_is_taken_a_sender_is_asked_to_send_again_and_nothing_is_lost(app, counselors):
    """One argon2 run at a time per process: a request that finds it taken is refused at once with the form
    (every typed word kept) or the code page, so it holds no server thread while it waits; a code refused so is
    not counted as a guess, whether it exists or not. (Staff keep the worker's other thread.)"""
    code = code_of(tell(visitor(app)))
    assert channel._slow.acquire(timeout=5)  # another request of this process is hashing
    try:
        busy = tell(visitor(app), description="words that must come back", lang="ko")
        page = busy.get_data(as_text=True)
        assert busy.status_code == 429 and "words that must come back" in page
        assert "지금 이 페이지를 쓰는 사람이 많아서" in page
        answers = []
        for attempt in (code, "ZZZZ" + code[4:]):  # a code that exists and one that does not: the same answer
            returning = come_back(visitor(app), attempt)
            assert returning.status_code == 429 and "Set-Cookie" not in returning.headers
            answers.append(TOKEN_RE.sub("", returning.get_data(as_text=True)).replace(attempt, ""))
        assert answers[0] == answers[1] and "Wait a few seconds and enter the code again" in answers[0]
    finally:
        channel._slow.release()
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Case)) == 1
        assert db.session.scalar(select(ReceiptCode.failures)) == 0
        assert not db.session.scalars(select(AuditEvent).where(AuditEvent.action == "receipt_code_refused")).all()
    assert come_back(visitor(app), code).status_code == 302  # free again: the code opens at once
    assert tell(visitor(app)).status_code == 200


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"}, {"Origin": "null"},
                                     {"Sec-Fetch-Site": "cross-site"}])
def test_cross_site_posts_are_refused(app, counselors, headers):
    client = visitor(app)
    assert tell(client, headers=headers).status_code == 400
    code = code_of(tell(client))
    page = client.get("/s/hanbit/conversation?lang=en").get_data(as_text=True)
    posted = client.post("/s/hanbit/conversation", data={"text": "x", "form_token": form_token(page)},
                         headers=headers)
    assert posted.status_code == 400
    # Same origin but without the conversation's token (a forged form): refused as well.
    assert client.post("/s/hanbit/conversation", data={"text": "x"}, headers=ORIGIN).status_code == 400
    assert client.post("/s/hanbit/end", headers=ORIGIN).status_code == 400
    with app.app_context():
        assert db.session.scalar(select(CaseMessage)) is None
    assert code


# --- coming back ---------------------------------------------------------------------------------------------------


def test_the_code_opens_the_conversation_however_it_is_typed(app, counselors):
    code = code_of(tell(visitor(app)))
    typed = " ".join(channel.grouped(code)).lower().replace("0", "o").replace("1", "l")
    client = visitor(app)
    response = come_back(client, typed)
    assert response.status_code == 302 and response.headers["Location"].endswith("/s/hanbit/conversation?lang=en")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Received" in page and 'aria-current="step"' in page and "Photos of a classmate" not in page


def test_wrong_and_unknown_codes_get_the_same_answer_and_reveal_nothing(app, counselors):
    code = code_of(tell(visitor(app)))
    wrong_secret = code[:4] + ("A" if code[4] != "A" else "B") + code[5:]
    unknown = ("Z" if code[0] != "Z" else "Y") + code[1:]
    answers = []
    for attempt in (wrong_secret, unknown, "not a code"):
        response = come_back(visitor(app), attempt)
        assert response.status_code == 422 and "Set-Cookie" not in response.headers
        answers.append(TOKEN_RE.sub("", response.get_data(as_text=True)).replace(attempt, ""))
    assert answers[0] == answers[1] == answers[2]
    assert "does not open a report" in answers[0]
    with app.app_context():
        refused = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "receipt_code_refused")).all()
        assert len(refused) == 1 and refused[0].address is None  # counted against the code that exists


def test_guessing_pauses_the_code_and_then_the_address(app, counselors):
    code = code_of(tell(visitor(app)))
    wrong = code[:4] + ("A" if code[4] != "A" else "B") + code[5:]
    app.config["RATELIMIT_RECEIPT_PER_ADDRESS"] = "1000 per hour"
    for _ in range(channel.MAX_FAILURES):
        assert come_back(visitor(app), wrong).status_code == 422
    paused = come_back(visitor(app), code)  # the right code, while paused: the same answer as a wrong one
    assert paused.status_code == 422 and "does not open a report" in paused.get_data(as_text=True)
    with app.app_context():
        receipt = db.session.scalar(select(ReceiptCode))
        receipt.paused_until = None
        db.session.commit()
    assert come_back(visitor(app), code).status_code == 302  # after the pause it opens again
    app.config["RATELIMIT_RECEIPT_PER_ADDRESS"] = "3 per hour"
    other = visitor(app, "198.51.100.9")
    for _ in range(3):
        assert come_back(other, "AAAA-BBBB-CCCC-DDDD-EEEE").status_code == 422
    limited = come_back(other, code)
    assert limited.status_code == 429 and "Too many codes were tried from this network" in limited.get_data(
        as_text=True)
    assert come_back(visitor(app), code).status_code == 302  # another address is not affected


def test_a_wrong_code_does_not_deadlock_with_the_purge_of_its_case(app, counselors, database_url):
    """The daily purge holds the audit chain's head while it deletes a purged case's receipt. A wrong code typed
    for that case meanwhile waits for the head, then finds no receipt and gets the usual answer: neither side is
    aborted as a deadlock (PostgreSQL's row locks; SQLite has one writer at a time)."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite has one writer at a time: no row locks to take in two orders")
    code = code_of(tell(visitor(app)))
    wrong = code[:4] + ("A" if code[4] != "A" else "B") + code[5:]
    with app.app_context():
        case_id = db.session.scalar(select(ReceiptCode.case_id))
        engine = db.engine
    client, seen = visitor(app), {}
    page = client.get("/s/hanbit/return?lang=en").get_data(as_text=True)
    guess = threading.Thread(target=lambda: seen.update(status=client.post(
        "/s/hanbit/return?lang=en", data={"code": wrong, "form_token": form_token(page)}, headers=ORIGIN).status_code))
    with engine.connect() as purge, engine.connect() as watch:
        purge.execute(text(HOLD_HEAD))
        guess.start()
        wait_until_it_waits_for_a_lock(watch, guess)
        purge.execute(text("DELETE FROM receipt_codes WHERE case_id = :case_id"), {"case_id": case_id})
        purge.commit()
    guess.join(20)
    assert seen == {"status": 422}


# --- the conversation --------------------------------------------------------------------------------------------


def test_reply_answer_and_close_as_not_a_real_report(app, counselors, login):
    student = visitor(app)
    code = code_of(tell(student))
    case = db_case(app)
    lead = signed_in(app, login, counselors["lead"])
    file_page = lead.get(f"/cases/{case.public_id}").get_data(as_text=True)
    assert "Report through the school&#39;s page" in file_page and "A friend or another student" in file_page
    assert "Conversation with the reporter" in file_page
    assert reply(lead, case, "Thank you. Is the channel still open?").status_code == 302
    deliver_mail(app)
    with app.app_context():
        saved = db.session.get(Case, case.id)
        assert saved.status == "in_progress" and saved.acknowledged_at is not None  # a reply acknowledges
        assert [e.kind for e in saved.entries] == ["message_to_reporter"]
    # The student comes back with the code: the counselor's words, not their name, and no internal note.
    note = {"kind": "note", "happened_at": "2026-11-20T10:00", "text": "INTERNAL-NOTE-41"}
    post(lead, f"/cases/{case.public_id}/entries", note, token_from=f"/cases/{case.public_id}")
    again = visitor(app)
    come_back(again, code)
    page = again.get("/s/hanbit/conversation?lang=en").get_data(as_text=True)
    assert "Is the channel still open?" in page and "A counselor is looking at it" in page
    assert "INTERNAL-NOTE-41" not in page and "counselor 1" not in page
    assert write_back(again, "Yes, it is still open.").status_code == 302
    with app.app_context():
        notices = db.session.scalars(select(Notification).where(Notification.kind == "reporter_message")).all()
        assert {n.user_id for n in notices} == {counselors["lead"], counselors["other"]}
    inbox = lead.get("/cases/").get_data(as_text=True)
    assert "New message from the reporter" in inbox
    file_page = lead.get(f"/cases/{case.public_id}").get_data(as_text=True)
    assert "Yes, it is still open." in file_page and "the reporter (no account)" in file_page
    assert "New message from the reporter" not in lead.get("/cases/").get_data(as_text=True)  # opened: read
    # Mail about the conversation names the case only.
    deliver_mail(app)
    for mail in Path(app.instance_path, "outbox").glob("*.eml"):
        assert b"still open" not in mail.read_bytes() and b"Thank you" not in mail.read_bytes()
    closed = post(lead, f"/cases/{case.public_id}/close", {"outcome": "not_genuine", "confirm": "y"},
                  token_from=f"/cases/{case.public_id}")
    assert closed.status_code == 302
    page = again.get("/s/hanbit/conversation?lang=en").get_data(as_text=True)
    assert 'aria-current="step">Closed' in page
    with app.app_context():
        assert db.session.get(Case, case.id).outcome == "not_genuine"
        assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "case_closed")) is not None


def test_classifying_an_anonymous_report_starts_the_police_duty(app, counselors, login):
    tell(visitor(app))
    case = db_case(app)
    lead = signed_in(app, login, counselors["lead"])
    post(lead, f"/cases/{case.public_id}/classify", {"classification": "minor_sex_crime"},
         token_from=f"/cases/{case.public_id}")
    with app.app_context():
        assert "police_report" in {d.duty_id for d in db.session.get(Case, case.id).duties}


def test_end_and_quick_exit_close_the_conversation_on_this_device(app, counselors):
    client = visitor(app)
    code = code_of(tell(client))
    page = client.get("/s/hanbit/conversation?lang=en").get_data(as_text=True)
    ended = client.post("/s/hanbit/end?lang=en", data={"form_token": form_token(page)}, headers=ORIGIN)
    assert ended.status_code == 302 and "portal_reporter=;" in ended.headers["Set-Cookie"]
    assert client.get("/s/hanbit/conversation").status_code == 302  # back to the code
    come_back(client, code)
    assert client.get("/s/hanbit/conversation").status_code == 200
    exit_page = client.get("/exit")
    assert "portal_reporter=;" in exit_page.headers["Set-Cookie"]
    assert client.get("/s/hanbit/conversation").status_code == 302
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(channel.ReporterSession)) == 0


def test_a_conversation_of_one_school_does_not_open_at_another(app, counselors, make_user):
    make_user(role="counselor", school="saesol", lead=True)
    client = visitor(app)
    code = code_of(tell(client))
    assert client.get("/s/saesol/conversation").status_code == 302
    assert come_back(visitor(app), code, school="saesol").status_code == 422


# --- signed-in reporters -------------------------------------------------------------------------------------------


def test_a_teacher_answers_the_counselors_question_on_their_report(app, counselors, login, make_user):
    teacher = signed_in(app, login, counselors["teacher"])
    file_report(teacher)
    case = only_case(app)
    lead = signed_in(app, login, counselors["lead"])
    reply(lead, case, "Which class is the student in?")
    deliver_mail(app)
    mails = [m.read_bytes() for m in Path(app.instance_path, "outbox").glob("*.eml")
             if b"teacher@school.test" in m.read_bytes()]
    assert any(f"/reports/{case.public_id}/messages".encode() in m for m in mails)
    assert not any(b"Which class" in m for m in mails)
    mine = teacher.get("/reports/mine").get_data(as_text=True)
    assert "New message from a counselor" in mine
    page = teacher.get(f"/reports/{case.public_id}/messages").get_data(as_text=True)
    assert "Which class is the student in?" in page
    assert "New message from a counselor" not in teacher.get("/reports/mine").get_data(as_text=True)
    answered = post(teacher, f"/reports/{case.public_id}/messages", {"text": "2-3. Police report no. 2026-118."},
                    token_from=f"/reports/{case.public_id}/messages")
    assert answered.status_code == 302
    file_page = lead.get(f"/cases/{case.public_id}").get_data(as_text=True)
    assert "Police report no. 2026-118." in file_page and "Message from the reporter" in file_page
    empty = post(teacher, f"/reports/{case.public_id}/messages", {"text": "  "},
                 token_from=f"/reports/{case.public_id}/messages")
    assert empty.status_code == 422 and "Write your message first." in empty.get_data(as_text=True)
    other_teacher = signed_in(app, login, make_user(role="teacher"))
    assert other_teacher.get(f"/reports/{case.public_id}/messages").status_code == 404


def test_a_student_reads_the_answer_under_my_requests_and_gets_no_mail(app, counselors, login, make_user):
    student_id = make_user(role="student", email="student@school.test")
    student = signed_in(app, login, student_id)
    page = student.get("/reports/help").get_data(as_text=True)
    token = re.search(r'name="submission_token"[^>]*value="([^"]+)"', page).group(1)
    post(student, "/reports/help", {"message": "Someone shared my photo", "urgent": "no",
                                    "submission_token": token}, token_from="/reports/help")
    case = only_case(app)
    lead = signed_in(app, login, counselors["lead"])
    reply(lead, case, "Can we talk at lunch?")
    deliver_mail(app)
    outbox = Path(app.instance_path, "outbox")
    assert not any(b"student@school.test" in m.read_bytes() for m in outbox.glob("*.eml"))
    assert "Can we talk at lunch?" in student.get(f"/reports/{case.public_id}/messages").get_data(as_text=True)


# --- privacy: nothing kept that could identify the sender or expose what they wrote -----------------------------

CANARY = "CANARY-ANON-5d1e"


def test_a_canary_and_the_address_are_in_no_raw_row_file_outbox_log_or_backup(app, database_url, counselors, login,
                                                                               caplog, tmp_path):
    from portal.services import backup

    caplog.set_level("DEBUG")
    client = visitor(app)
    code = code_of(tell(client, description=f"what {CANARY}", links=f"t.me/{CANARY}", identity=CANARY))
    write_back(client, f"more {CANARY}")
    case = db_case(app)
    lead = signed_in(app, login, counselors["lead"])
    reply(lead, case, f"answer {CANARY}")
    come_back(visitor(app), code)
    deliver_mail(app)
    with app.app_context():
        assert CANARY in db.session.get(Case, case.id).description  # readable through the app
        rows = _raw_rows(case.id)
        assert rows["cases"] and rows["case_messages"] and rows["audit_events"]
        for table, values in rows.items():
            flat = repr(values)
            assert CANARY not in flat, table
            assert ADDRESS not in flat, f"the sender's address is stored in {table}"
        result = backup.take(db.session, app, tmp_path / "backup")
        db.session.commit()
    assert CANARY not in caplog.text and ADDRESS not in caplog.text
    for mail in (tmp_path / "instance" / "outbox").glob("*.eml"):
        assert CANARY.encode() not in mail.read_bytes()
    assert CANARY.encode() not in open(result.path, "rb").read()
    assert_not_in_sqlite_files(database_url, CANARY, ADDRESS)


def _raw_rows(case_id: int) -> dict[str, list]:
    """Every stored row of the case, as the database holds it (no decryption), and its audit rows."""
    tables = {
        "cases": "SELECT * FROM cases WHERE id = :id",
        "case_messages": "SELECT * FROM case_messages WHERE case_id = :id",
        "response_entries": "SELECT * FROM response_entries WHERE case_id = :id",
        "receipt_codes": "SELECT * FROM receipt_codes WHERE case_id = :id",
        "reporter_sessions": "SELECT * FROM reporter_sessions WHERE case_id = :id",
        "notifications": "SELECT * FROM notifications WHERE case_id = :id",
        "audit_events": "SELECT * FROM audit_events WHERE case_id = :id",
        "outbox_mails": "SELECT * FROM outbox_mails",
    }
    return {name: [tuple(row) for row in db.session.execute(text(sql), {"id": case_id})]
            for name, sql in tables.items()}


def db_case(app) -> Case:
    with app.app_context():
        return db.session.scalar(select(Case).order_by(Case.id.desc()))


def test_a_purged_anonymous_case_takes_its_code_and_conversation_with_it(app, counselors, login):
    from portal.models.base import utcnow
    from portal.services import retention

    client = visitor(app)
    code = code_of(tell(client))
    write_back(client, "one more thing")
    with app.app_context():
        case = db.session.scalar(select(Case))
        retention.purge_case(db.session, case, utcnow())
        db.session.commit()
        for model in (CaseMessage, ReceiptCode, ResponseEntry, channel.ReporterSession):
            assert db.session.scalar(select(db.func.count()).select_from(model)) == 0, model
    assert come_back(visitor(app), code).status_code == 422


def test_the_school_admin_sets_the_hourly_limit_and_finds_the_poster(app, counselors, login, make_user):
    admin = signed_in(app, login, make_user(role="school_admin", locale="en"))
    page = admin.get("/admin/settings").get_data(as_text=True)
    assert 'href="/s/hanbit/poster"' in page and "http://portal.test/s/hanbit/" in page
    values = {"routing": "all", "ack_urgent_hours": "1", "ack_normal_hours": "24", "duty_grace_minutes": "60",
              "retention_days": "1825", "timezone": "Asia/Seoul", "jurisdiction": "KR"}
    refused = post(admin, "/admin/settings", {**values, "anonymous_hourly_limit": "0"}, token_from="/admin/settings")
    assert refused.status_code == 422 and "Enter 1 to 500." in refused.get_data(as_text=True)
    assert post(admin, "/admin/settings", {**values, "anonymous_hourly_limit": "5"},
                token_from="/admin/settings").status_code == 302
    with app.app_context():
        assert db.session.scalar(select(School.anonymous_hourly_limit)) == 5


def test_odd_tokens_are_refused_with_400_never_a_server_error(app, counselors):
    client = visitor(app)
    code_of(tell(client))
    for token in ("é", "\x00", "ü" * 100):
        assert client.post("/s/hanbit/conversation", data={"text": "x", "form_token": token},
                           headers=ORIGIN).status_code == 400
        assert client.post("/s/hanbit/end", data={"form_token": token}, headers=ORIGIN).status_code == 400
    stranger = visitor(app)
    stranger.set_cookie("portal_reporter", "é-not-a-token")
    assert stranger.post("/s/hanbit/end", data={"form_token": "é"}, headers=ORIGIN).status_code == 400


def test_sends_from_one_address_are_limited_and_the_words_kept(app, counselors):
    app.config["RATELIMIT_CHANNEL_PER_ADDRESS"] = "2 per hour"
    client = visitor(app, "198.51.100.20")
    assert tell(client).status_code == 200 and tell(client).status_code == 200
    refused = tell(client, description="the third, from the same network")
    assert refused.status_code == 429
    page = refused.get_data(as_text=True)
    assert "Many reports were sent from this network" in page and "the third, from the same network" in page
    assert tell(visitor(app, "198.51.100.21")).status_code == 200  # another address is not affected


def test_a_flood_of_messages_is_stopped_and_mails_once_per_counselor(app, counselors, monkeypatch):
    monkeypatch.setattr("portal.services.conversation.REPORTER_MESSAGES_PER_HOUR", 3)
    client = visitor(app)
    code_of(tell(client))
    for number in range(3):
        assert write_back(client, f"message {number}").status_code == 302
    refused = write_back(client, "one too many")
    assert refused.status_code == 422
    assert "still in the box" in refused.get_data(as_text=True) and "one too many" in refused.get_data(as_text=True)
    with app.app_context():
        waiting = db.session.scalars(select(Notification).where(Notification.kind == "reporter_message")).all()
        assert sorted(n.user_id for n in waiting) == sorted([counselors["lead"], counselors["other"]])
