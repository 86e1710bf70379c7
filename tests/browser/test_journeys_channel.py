"""The school's public page in a real browser: an anonymous student reports, keeps the code, and talks with the
lead counselor until the case is closed; a teacher answers a counselor's question on their own report."""

from __future__ import annotations

import re

import pytest
from browserkit import follow, sign_in
from test_journeys_cases import file_report

WORDS = {
    "ko": {"start": "시작하기", "send": "상담 선생님께 보내기", "go": "코드를 적어 두었어요: 대화로 가기",
           "open": "대화 열기", "write": "보내기", "reply": "신고자에게 보내기", "close": "사안 종결",
           "wrong": "이 코드로는 이 학교의 신고를 열 수 없어요", "exit": "빠른 나가기", "closed": "종결",
           "waiting": "신고자의 새 메시지", "new_reply": "상담 선생님의 새 메시지"},
    "en": {"start": "Start", "send": "Send to the counselors", "go": "I have written it down: go to the conversation",
           "open": "Open the conversation", "write": "Send", "reply": "Send to the reporter",
           "close": "Close the case", "wrong": "This code does not open a report at this school",
           "exit": "Quick exit", "closed": "Closed", "waiting": "New message from the reporter",
           "new_reply": "New message from a counselor"},
}


def _reporter_cookies(page) -> list[str]:
    return [c["name"] for c in page.context.cookies()]


def _enter_code(page, base, lang, code):
    page.goto(f"{base}/s/hanbit/?lang={lang}")
    page.locator("input[name=code]").fill(code)
    follow(page.get_by_role("button", name=WORDS[lang]["open"]))


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_anonymous_report_to_closure_through_the_conversation(live_server, open_page, axe, lang):
    words = WORDS[lang]
    # A student on a phone (Korean) or a laptop (English), without an account.
    student = open_page(lang, width=375 if lang == "ko" else 1280)
    student.goto(f"{live_server}/s/hanbit/?lang={lang}")
    axe.check(student, f"school page [{lang}]")
    follow(student.get_by_role("link", name=words["start"], exact=True))
    axe.check(student, f"tell a counselor form [{lang}]")
    follow(student.get_by_role("button", name=words["send"]))
    assert student.locator("#error-summary").is_visible()
    axe.check(student, f"tell a counselor form with errors [{lang}]")
    assert _reporter_cookies(student) == []  # nothing set before sending
    description = f"Browser channel {lang}: a deepfake of my friend is in a group chat."
    student.locator("input[name=categories][value=distribution]").check()
    student.locator("textarea[name=description]").fill(description)
    student.locator("input[name=urgent][value=no]").check()
    student.locator("input[name=about][value=student]").check()
    student.locator("textarea[name=links]").fill("t.me/browser-channel")
    follow(student.get_by_role("button", name=words["send"]))
    axe.check(student, f"receipt code [{lang}]")
    code = "".join(student.locator(".code-group").all_inner_texts())
    assert re.fullmatch(r"[0-9A-Z]{20}", code)
    assert _reporter_cookies(student) == ["portal_reporter"]
    follow(student.get_by_role("link", name=words["go"]))
    axe.check(student, f"conversation, nothing yet [{lang}]")
    follow(student.get_by_role("link", name=words["exit"]))  # leaving ends the conversation on this device
    assert _reporter_cookies(student) == []

    counselor = open_page(lang)
    sign_in(counselor, live_server, "hanbit-counselor1")
    counselor.goto(live_server + "/cases/")
    follow(counselor.locator("#notices-title + ul a").first)  # the newest notice: this report
    assert description in counselor.content()
    axe.check(counselor, f"anonymous case file [{lang}]")
    counselor.locator("textarea[name=message]").fill("Thank you for telling us. Is the chat still active?")
    follow(counselor.get_by_role("button", name=words["reply"]))
    case_url = counselor.url.split("#")[0]

    # Back on another device: a wrong code reveals nothing; the right one, typed loosely, opens the conversation.
    again = open_page(lang)
    wrong = code[:4] + ("A" if code[4] != "A" else "B") + code[5:]
    _enter_code(again, live_server, lang, wrong)
    assert words["wrong"] in again.content() and "Is the chat still active?" not in again.content()
    axe.check(again, f"wrong code [{lang}]")
    _enter_code(again, live_server, lang, " ".join(re.findall("....", code.lower())))
    assert "Is the chat still active?" in again.content()
    axe.check(again, f"conversation with a reply [{lang}]")
    again.locator("textarea[name=text]").fill("Yes, it is still active tonight.")
    follow(again.get_by_role("button", name=words["write"], exact=True))
    assert "Yes, it is still active tonight." in again.content()

    counselor.goto(live_server + "/cases/")
    assert words["waiting"] in counselor.content()
    counselor.goto(case_url)
    assert "Yes, it is still active tonight." in counselor.content()
    counselor.locator("input[name=outcome][value=resolved]").check()
    counselor.locator("input[name=confirm]").check()
    follow(counselor.get_by_role("button", name=words["close"]))

    again.reload()
    assert again.locator("[aria-current=step]").inner_text() == words["closed"]
    axe.assert_clean()


def test_a_teacher_answers_the_counselors_question(live_server, open_page, axe):
    teacher = open_page("en")
    sign_in(teacher, live_server, "hanbit-teacher3")
    reference = file_report(teacher, live_server, axe, "en", "Browser conversation: a question will follow.")
    counselor = open_page("en")
    sign_in(counselor, live_server, "hanbit-counselor1")
    counselor.goto(live_server + "/cases/")
    follow(counselor.get_by_role("link", name=reference, exact=True))
    counselor.locator("textarea[name=message]").fill("Which channel was it, and did the police give a number?")
    follow(counselor.get_by_role("button", name=WORDS["en"]["reply"]))
    case_url = counselor.url.split("#")[0]

    teacher.goto(live_server + "/reports/mine")
    row = teacher.locator("tr", has_text=reference)
    assert WORDS["en"]["new_reply"] in row.inner_text()
    follow(row.get_by_role("link", name=reference))
    axe.check(teacher, "my report's messages")
    assert "did the police give a number?" in teacher.content()
    teacher.locator("textarea[name=text]").fill("t.me/second-channel; police report 2026-118.")
    follow(teacher.get_by_role("button", name="Send", exact=True))
    assert "police report 2026-118." in teacher.content()

    counselor.goto(case_url)
    assert "police report 2026-118." in counselor.content()
    axe.check(counselor, "case file with the teacher's answer")
    axe.assert_clean()


def test_the_school_page_works_without_javascript(live_server, browser):
    context = browser.new_context(locale="en-US", java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{live_server}/s/saesol/?lang=en")
        follow(page.get_by_role("link", name=WORDS["en"]["start"], exact=True))
        page.locator("input[name=categories][value=other]").check()
        page.locator("textarea[name=description]").fill("Sent without JavaScript.")
        page.locator("input[name=urgent][value=yes]").check()
        follow(page.get_by_role("button", name=WORDS["en"]["send"]))
        assert "112" in page.locator("main").inner_text()  # someone in danger: the help lines come first
        assert page.locator(".code-group").count() == 5
        assert page.locator("[data-print]").is_hidden()  # printing needs a script; the browser's own print works
        follow(page.get_by_role("link", name=WORDS["en"]["go"]))
        page.locator("textarea[name=text]").fill("One more thing, still without JavaScript.")
        follow(page.get_by_role("button", name=WORDS["en"]["write"], exact=True))
        assert "One more thing, still without JavaScript." in page.content()
    finally:
        context.close()
