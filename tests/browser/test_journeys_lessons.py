"""Lessons in a real browser: a visitor takes a Band B lesson; a student completes an assigned lesson and the teacher
sees it in the completion grid. Every page reached, including the ones that appear after an action, is audited."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from browserkit import follow, sign_in

WORDS = {
    "ko": {"see": "어떻게 되는지 보기", "check": "답 확인하기", "assign": "수업 배정하기", "done": "완료",
           "score": "점수", "lessons_mine": "내 수업"},
    "en": {"see": "See what happens", "check": "Check my answers", "assign": "Assign the lesson", "done": "Done",
           "score": "score", "lessons_mine": "My lessons"},
}
ANONYMOUS_LESSON = "b1-how-deepfakes-fool-us"
# Each language assigns its own lesson to class 1-1, so the two runs never read each other's grid column.
ASSIGNED = {"ko": ("b2-sexual-deepfakes-are-abuse", "hanbit-student03"),
            "en": ("b3-what-the-law-says", "hanbit-student04")}


def answer_every_question(page) -> None:
    """Pick the first choice of every quiz question."""
    for group in page.locator("form.quiz fieldset.choice-group").all():
        group.locator("input[type=radio]").first.check()


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_visitor_takes_a_band_b_lesson(live_server, open_page, axe, lang):
    page = open_page(lang)
    page.goto(live_server + "/lessons")
    axe.check(page, f"lessons index [{lang}]")
    follow(page.locator("#band-B").get_by_role("link").first)
    page.wait_for_url(re.compile(rf".*/lessons/{ANONYMOUS_LESSON}$"))
    assert page.locator(".content-note").is_visible()
    assert page.locator("ul.objectives li").count() >= 2
    axe.check(page, f"lesson overview [{lang}]")

    follow(page.locator(".actions a.button.primary"))
    steps = 0
    while "/step/" in page.url:
        steps += 1
        progress = page.locator("progress#lesson-progress")
        assert progress.is_visible()
        assert progress.get_attribute("value") == str(steps)
        assert page.locator("label[for=lesson-progress]").is_visible()
        axe.check(page, f"lesson step {steps} [{lang}]")
        follow(page.locator("nav.pager a[rel=next]"))
        page.wait_for_load_state()
    assert steps >= 3
    assert page.url.endswith("/scenario")
    axe.check(page, f"scenario [{lang}]")

    # Sending no choice: the error is summarised at the top and linked to the choices.
    follow(page.get_by_role("button", name=WORDS[lang]["see"]))
    summary = page.locator("#error-summary")
    assert summary.is_visible()
    assert summary.locator("a[href='#choice-0']").count() == 1
    assert page.evaluate("document.activeElement.id") == "error-summary"  # focused, so it is read out at once
    assert page.locator("fieldset#choice").get_attribute("aria-describedby") == "choice-error"
    axe.check(page, f"scenario with an error [{lang}]")

    page.locator("input[name=choice]").first.check()
    follow(page.get_by_role("button", name=WORDS[lang]["see"]))
    feedback = page.locator("section.feedback")
    assert feedback.is_visible()
    assert "feedback-think" in feedback.get_attribute("class")  # the first choice is not the good one
    axe.check(page, f"scenario feedback [{lang}]")
    follow(page.locator("nav.pager a[rel=next]"))
    page.wait_for_url(re.compile(r".*/quiz$"))
    axe.check(page, f"quiz [{lang}]")

    # Only the first question answered: the others are listed at the top, each marked on its fieldset.
    groups = page.locator("form.quiz fieldset.choice-group")
    total = groups.count()
    assert 3 <= total <= 6
    groups.first.locator("input[type=radio]").nth(1).check()
    follow(page.get_by_role("button", name=WORDS[lang]["check"]))
    assert page.locator("#error-summary li").count() == total - 1
    assert page.locator("fieldset.field-error").count() == total - 1
    assert page.locator("form.quiz fieldset.choice-group").first.locator("input:checked").count() == 1
    page.locator("#error-summary a").first.click()  # following a link puts the focus in that question
    assert page.evaluate("document.activeElement.id") == "q2-0"
    axe.check(page, f"quiz with errors [{lang}]")

    answer_every_question(page)
    follow(page.get_by_role("button", name=WORDS[lang]["check"]))
    page.wait_for_load_state()
    score = page.locator("#score-title")
    assert score.is_visible()
    assert re.search(r"\d+\s*%", score.inner_text())
    assert page.locator(".review-question").count() == total
    assert page.locator(".review-question .explanation").count() >= total * 2
    assert page.locator(".verdict").count() == total
    help_card = page.locator("#help .help-card")
    assert help_card.is_visible()
    assert help_card.locator("a.phone").count() >= 1
    axe.check(page, f"quiz result [{lang}]")

    response = page.goto(live_server + f"/lessons/{ANONYMOUS_LESSON}/step/99")
    assert response.status == 404
    assert page.locator("html").get_attribute("lang") == lang
    axe.check(page, f"404 for a lesson part that does not exist [{lang}]")
    axe.assert_clean()


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_student_completes_an_assigned_lesson(live_server, open_page, axe, lang):
    slug, student_name = ASSIGNED[lang]
    due = (dt.date.today() + dt.timedelta(days=14)).isoformat()

    teacher = open_page(lang)
    sign_in(teacher, live_server, "hanbit-teacher1")
    axe.check(teacher, f"teacher dashboard [{lang}]")
    teacher.goto(live_server + "/classes/")
    axe.check(teacher, f"my classes [{lang}]")
    follow(teacher.get_by_role("link", name="1-1", exact=True))
    teacher.wait_for_url(re.compile(r".*/classes/\d+$"))
    class_url = teacher.url
    axe.check(teacher, f"class page [{lang}]")

    # No due date: the error is announced and the field points at it.
    teacher.locator("select[name=lesson]").select_option(slug)
    follow(teacher.get_by_role("button", name=WORDS[lang]["assign"]))
    assert teacher.locator("#error-summary").is_visible()
    due_field = teacher.locator("input[name=due_on]")
    assert due_field.get_attribute("aria-invalid") == "true"
    assert "due_on-error" in due_field.get_attribute("aria-describedby")
    axe.check(teacher, f"class page with an error [{lang}]")

    teacher.locator("select[name=lesson]").select_option(slug)
    due_field.fill(due)
    follow(teacher.get_by_role("button", name=WORDS[lang]["assign"]))
    teacher.wait_for_url(re.compile(re.escape(class_url) + r"(#assign)?$"))  # the redirect keeps the fragment
    assert teacher.locator(".flash-success").is_visible()
    axe.check(teacher, f"class page after assigning [{lang}]")

    student = open_page(lang)
    sign_in(student, live_server, student_name)
    axe.check(student, f"student dashboard [{lang}]")
    student.goto(live_server + "/lessons/mine")
    axe.check(student, f"my lessons [{lang}]")
    row = student.locator("table.assignments tbody tr", has=student.locator(f"a[href$='/lessons/{slug}']"))
    assert row.count() == 1
    assert row.locator("time").get_attribute("datetime") == due
    follow(row.locator("a"))
    student.wait_for_url(re.compile(rf".*/lessons/{slug}$"))
    title = student.locator("#lesson-title").inner_text().strip()
    axe.check(student, f"lesson overview, signed in [{lang}]")
    follow(student.locator(".actions a.button.primary"))
    axe.check(student, f"lesson step 1, signed in [{lang}]")
    student.goto(live_server + f"/lessons/{slug}/quiz")
    answer_every_question(student)
    follow(student.get_by_role("button", name=WORDS[lang]["check"]))
    student.wait_for_load_state()
    score = int(re.search(r"(\d+)\s*%", student.locator("#score-title").inner_text()).group(1))
    assert student.locator(".score .hint").count() == 0  # saved, unlike a visitor's answers
    axe.check(student, f"quiz result, signed in [{lang}]")
    follow(student.get_by_role("link", name=WORDS[lang]["lessons_mine"], exact=True).last)
    student.wait_for_url(re.compile(r".*/lessons/mine$"))
    assert WORDS[lang]["done"] in row.locator(".badge").first.inner_text()
    axe.check(student, f"my lessons after the quiz [{lang}]")

    teacher.goto(class_url)
    headers = [text.strip() for text in teacher.locator("table.grid thead th").all_inner_texts()]
    column = headers.index(title)
    cells = teacher.locator("table.grid tbody tr", has_text=student_name).locator("th, td")
    cell = cells.nth(column)
    assert WORDS[lang]["done"] in cell.inner_text()
    assert f"{score}%" in cell.inner_text()
    axe.check(teacher, f"class page with the student's result [{lang}]")
    axe.assert_clean()
