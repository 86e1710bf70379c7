"""Lessons as students and staff take them: every page in both languages, scenario, quiz, progress, ETags."""

from __future__ import annotations

import re

import pytest
from conftest import post
from markupsafe import escape
from sqlalchemy import func, select

from portal.config import PROJECT_ROOT
from portal.extensions import db
from portal.models import Assignment, Classroom, LessonProgress, User
from portal.services.content import load_content

LIBRARY = load_content(PROJECT_ROOT / "content").library
A1 = "a1-pictures-can-change"
B2 = "b2-sexual-deepfakes-are-abuse"
EN = {"Accept-Language": "en"}


def page(response) -> str:
    return response.get_data(as_text=True)


def has(html: str, text: str) -> bool:
    """Whether content text appears in a page, as Jinja escapes it."""
    return str(escape(text)) in html


def right_answers(slug: str, lang: str = "ko") -> dict[str, str]:
    quiz = LIBRARY.get(slug).text(lang).quiz
    return {f"q{i + 1}": str(q.answer) for i, q in enumerate(quiz)}


def wrong_answers(slug: str, lang: str = "ko", how_many: int = 1) -> dict[str, str]:
    answers = right_answers(slug, lang)
    quiz = LIBRARY.get(slug).text(lang).quiz
    for i in range(how_many):
        answers[f"q{i + 1}"] = str((quiz[i].answer + 1) % len(quiz[i].choices))
    return answers


def progress_rows(app, user_id: int) -> list[LessonProgress]:
    with app.app_context():
        rows = db.session.scalars(select(LessonProgress).where(LessonProgress.user_id == user_id)).all()
        db.session.expunge_all()
        return rows


# --- Every lesson, every page, both languages ---------------------------------------------------------------

@pytest.mark.parametrize(("lang", "length"), [("ko", "{minutes}분 수업"), ("en", "{minutes}-minute lesson")])
def test_the_lesson_list_gives_each_lesson_its_length_and_a_summary(client, lang, length):
    index = page(client.get("/lessons", headers={"Accept-Language": lang}))
    assert "짧은 수업" not in index  # lessons of 25 to 50 minutes are named by their length, not called short
    for lesson in LIBRARY.lessons:
        item = index[index.index(f'href="/lessons/{lesson.slug}"'):]
        item = item[:item.index("</li>")]
        assert length.format(minutes=lesson.minutes) in item
        assert f'<p class="lesson-summary">{escape(lesson.text(lang).summary)}</p>' in item


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_every_lesson_renders_in_both_languages(client, lang):
    headers = {"Accept-Language": lang}
    index = page(client.get("/lessons", headers=headers))
    for lesson in LIBRARY.lessons:
        text = lesson.text(lang)
        assert has(index, text.title)
        overview = client.get(f"/lessons/{lesson.slug}", headers=headers)
        html = page(overview)
        assert overview.status_code == 200 and f'<html lang="{lang}">' in html
        assert has(html, text.title) and has(html, text.content_note) and has(html, text.objectives[0])
        assert lesson.legal_as_of in html  # the legal fact sheet date beside the lesson
        assert "02-735-8994" in html and "117" in html  # the help card is on every lesson page
        for number, step in enumerate(text.steps, start=1):
            html = page(client.get(f"/lessons/{lesson.slug}/step/{number}", headers=headers))
            assert has(html, step.title) and "<progress" in html
            assert f'max="{len(text.steps) + 2}" value="{number}"' in html
        html = page(client.get(f"/lessons/{lesson.slug}/scenario", headers=headers))
        assert has(html, text.scenario.situation) and "<fieldset" in html and "<legend>" in html
        html = page(client.get(f"/lessons/{lesson.slug}/quiz", headers=headers))
        assert all(has(html, q.question) for q in text.quiz)
        assert html.count("<fieldset") == len(text.quiz)
        html = page(client.get(f"/lessons/{lesson.slug}/print", headers=headers))
        assert has(html, text.family_tips[0]) and has(html, text.steps[-1].title)
        assert not has(html, text.teacher_notes)  # teacher notes only for staff


def test_unknown_lesson_and_step_are_404(client):
    assert client.get("/lessons/z9-nothing").status_code == 404
    assert client.get(f"/lessons/{A1}/step/0").status_code == 404
    assert client.get(f"/lessons/{A1}/step/99").status_code == 404


def test_lesson_pages_have_no_inline_script_or_style(client):
    for url in ("/lessons", f"/lessons/{A1}", f"/lessons/{A1}/step/1", f"/lessons/{A1}/quiz", f"/lessons/{A1}/print"):
        html = page(client.get(url))
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), url
        assert " style=" not in html and "<style" not in html, url


def test_band_a_offers_read_aloud_as_enhancement(client):
    html = page(client.get(f"/lessons/{A1}"))
    button = re.search(r"<button[^>]*data-read-aloud[^>]*>", html).group(0)
    assert "hidden" in button  # shown by the script only when the browser can speak
    assert re.search(r"/static/js/lessons\.[0-9a-f]+\.js", html)  # the read-aloud script
    assert not re.search(r"<button[^>]*data-read-aloud", page(client.get(f"/lessons/{B2}")))


# --- Scenario and quiz --------------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["ko", "en"])
def test_scenario_shows_the_feedback_for_the_chosen_choice(client, lang):
    headers = {"Accept-Language": lang}
    scenario = LIBRARY.get(A1).text(lang).scenario
    for index, choice in enumerate(scenario.choices):
        response = client.post(f"/lessons/{A1}/scenario", data={"choice": str(index)}, headers=headers)
        html = page(response)
        assert response.status_code == 200 and has(html, choice.feedback)
        others = [c.feedback for c in scenario.choices if c is not choice]
        assert not any(has(html, feedback) for feedback in others)
    good = scenario.choices.index(next(c for c in scenario.choices if c.good))
    html = page(client.post(f"/lessons/{A1}/scenario", data={"choice": str(good)}, headers=EN))
    assert "A good choice" in html


def test_scenario_without_a_choice_asks_for_one(client):
    html = page(client.post(f"/lessons/{A1}/scenario", data={}, headers=EN))
    assert "Choose what you would do." in html and 'class="error-summary"' in html


def test_a_visitors_quiz_needs_no_session_but_a_signed_in_one_needs_its_token(app, client, make_user, login):
    answered = client.post(f"/lessons/{A1}/quiz", data=right_answers(A1), headers=EN)
    assert answered.status_code == 200 and "100%" in page(answered) and "Set-Cookie" not in answered.headers
    student = make_user(role="student")
    login(client, student)
    forged = client.post(f"/lessons/{A1}/quiz", data=right_answers(A1), headers=EN)  # no token: from elsewhere
    assert forged.status_code == 422 and "100%" not in page(forged)
    assert client.post(f"/lessons/{A1}/scenario", data={"choice": "0"}).status_code == 200  # shown, not saved
    with app.app_context():
        assert db.session.scalar(select(LessonProgress.attempts).where(LessonProgress.user_id == student)) == 0
        assert db.session.scalar(select(LessonProgress.scenario_choice)) is None


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_all_right_scores_100_with_an_explanation_for_every_choice(client, lang):
    quiz = LIBRARY.get(B2).text(lang).quiz
    html = page(client.post(f"/lessons/{B2}/quiz", data=right_answers(B2, lang), headers={"Accept-Language": lang}))
    assert "100%" in html
    for question in quiz:
        assert has(html, question.question)
        for choice in question.choices:
            assert has(html, choice.explanation)
    if lang == "en":
        assert html.count("Your answer was right.") == len(quiz)
        assert "Your answer was not right." not in html


def test_some_wrong_answers_lower_the_score_and_are_marked_in_words(client):
    quiz = LIBRARY.get(B2).text("en").quiz
    html = page(client.post(f"/lessons/{B2}/quiz", data=wrong_answers(B2, "en", 2), headers=EN))
    right = len(quiz) - 2
    assert f"{round(100 * right / len(quiz))}%" in html
    assert f"{right} of {len(quiz)} answers were right." in html
    assert html.count("Your answer was not right.") == 2
    assert html.count("Right answer") == len(quiz) and html.count(">Your answer<") == len(quiz)


def test_quiz_with_a_question_left_out_is_shown_again(client):
    answers = right_answers(A1)
    answers.pop("q2")
    response = client.post(f"/lessons/{A1}/quiz", data=answers, headers=EN)
    html = page(response)
    assert response.status_code == 422 and "Choose an answer to this question." in html and "100%" not in html
    assert 'href="#q2-0"' in html  # the error summary links to the question's first choice


def test_an_impossible_answer_is_refused(client):
    answers = right_answers(A1)
    answers["q1"] = "9"
    html = page(client.post(f"/lessons/{A1}/quiz", data=answers, headers=EN))
    assert "Your score" not in html and 'class="error-summary"' in html


def test_anonymous_visits_save_nothing(app, client):
    client.get(f"/lessons/{A1}")
    client.post(f"/lessons/{A1}/scenario", data={"choice": "0"})
    client.post(f"/lessons/{A1}/quiz", data=right_answers(A1))
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LessonProgress)) == 0


# --- Progress of a signed-in student ------------------------------------------------------------------------

def test_signed_in_progress_is_saved_and_shown(app, client, make_user, login):
    student = make_user(role="student")
    login(client, student)
    client.get(f"/lessons/{A1}")
    [row] = progress_rows(app, student)
    assert row.lesson_slug == A1 and row.started_at and row.completed_at is None and row.attempts == 0
    post(client, f"/lessons/{A1}/scenario", {"choice": "1"}, token_from=f"/lessons/{A1}/scenario")
    post(client, f"/lessons/{A1}/quiz", right_answers(A1), token_from=f"/lessons/{A1}/quiz")
    html = page(post(client, f"/lessons/{A1}/quiz", wrong_answers(A1, how_many=2), token_from=f"/lessons/{A1}/quiz",
                     headers=EN))
    assert "Saved. Your best score for this lesson is 100% after 2 attempt(s)." in html
    [row] = progress_rows(app, student)
    assert row.completed_at and row.attempts == 2 and row.best_score == 100 and row.last_score == 50
    assert row.scenario_choice == 1
    overview = page(client.get(f"/lessons/{A1}", headers=EN))
    assert "Best score 100%, 2 attempt(s)." in overview
    assert "best score 100%" in page(client.get("/lessons", headers=EN))


def test_signed_in_pages_get_no_etag_and_are_not_stored(app, client, make_user, login):
    login(client, make_user(role="student"))
    response = client.get(f"/lessons/{A1}")
    assert "ETag" not in response.headers and response.headers["Cache-Control"] == "no-store"


def _assign(app, student_id: int, slug: str, due: str, class_name: str = "1-1") -> None:
    from datetime import date

    with app.app_context():
        student = db.session.get(User, student_id)
        classroom = Classroom(school_id=student.school_id, name=class_name)
        classroom.students.append(student)
        db.session.add(classroom)
        db.session.flush()
        db.session.add(Assignment(classroom_id=classroom.id, lesson_slug=slug, due_on=date.fromisoformat(due)))
        db.session.commit()


def test_my_lessons_lists_the_class_assignments_with_due_dates_and_status(app, client, make_user, login):
    student = make_user(role="student")
    other = make_user(role="student")
    _assign(app, student, A1, "2099-03-01")
    _assign(app, student, B2, "2000-01-01", class_name="club")
    _assign(app, other, "c1-ai-ethics", "2099-01-01", class_name="1-2")
    login(client, student)
    post(client, f"/lessons/{A1}/quiz", right_answers(A1), token_from=f"/lessons/{A1}/quiz")
    html = page(client.get("/lessons/mine", headers=EN))
    titles = [LIBRARY.get(slug).text("en").title for slug in (A1, B2, "c1-ai-ethics")]
    assert has(html, titles[0]) and has(html, titles[1]) and not has(html, titles[2])
    assert 'datetime="2099-03-01"' in html and 'datetime="2000-01-01"' in html
    assert "Done" in html and "best score 100%" in html and "Not started" in html
    assert "Past the due date" in html  # B2 is overdue and not done
    assert html.index(escape(titles[1])) < html.index(escape(titles[0]))  # soonest due first


def test_my_lessons_without_assignments(client, make_user, login):
    login(client, make_user(role="student"))
    assert "No lessons have been given to your class yet." in page(client.get("/lessons/mine", headers=EN))


def test_certificate_only_after_every_lesson_of_the_band(app, client, make_user, login):
    student = make_user(role="student", display_name="김민서")
    login(client, student)
    band_a = LIBRARY.band("A")
    for lesson in band_a[:-1]:
        post(client, f"/lessons/{lesson.slug}/quiz", right_answers(lesson.slug),
             token_from=f"/lessons/{lesson.slug}/quiz")
    assert client.get("/lessons/certificate/A").status_code == 404
    last = band_a[-1].slug
    result = page(post(client, f"/lessons/{last}/quiz", wrong_answers(last), token_from=f"/lessons/{last}/quiz",
                       headers=EN))
    assert "You have finished every lesson of Band A." in result and "/lessons/certificate/A" in result
    response = client.get("/lessons/certificate/A", headers=EN)
    html = page(response)
    assert response.status_code == 200 and "김민서" in html and "Certificate of completion" in html
    assert all(has(html, lesson.text("en").title) for lesson in band_a)
    assert client.get("/lessons/certificate/B").status_code == 404
    assert client.get("/lessons/certificate/X").status_code == 404
    assert "/lessons/certificate/A" in page(client.get("/lessons/mine"))


def test_staff_training_shows_band_d_with_the_users_completion(client, make_user, login):
    login(client, make_user(role="counselor"))
    d1 = LIBRARY.band("D")[0]
    post(client, f"/lessons/{d1.slug}/quiz", right_answers(d1.slug), token_from=f"/lessons/{d1.slug}/quiz")
    html = page(client.get("/lessons/staff-training", headers=EN))
    assert all(has(html, lesson.text("en").title) for lesson in LIBRARY.band("D"))
    assert "1 of 4 modules done" in html and "Art. 35" in html


def test_print_view_has_teacher_notes_for_staff(client, make_user, login):
    login(client, make_user(role="teacher"))
    text = LIBRARY.get(A1).text("ko")
    html = page(client.get(f"/lessons/{A1}/print"))
    assert has(html, text.teacher_notes) and has(html, text.family_tips[-1])
    assert has(html, text.quiz[0].choices[text.quiz[0].answer].explanation)  # the answer key


# --- Conditional GET ----------------------------------------------------------------------------------------

VISITOR_PAGES = [f"/lessons/{A1}", f"/lessons/{A1}/step/2", f"/lessons/{A1}/print", "/lessons",
                 f"/lessons/{A1}/quiz", f"/lessons/{A1}/scenario"]


@pytest.mark.parametrize("path", VISITOR_PAGES)
def test_every_visitor_gets_the_same_bytes_from_the_page_cache_with_304s(app, path):
    cache = app.extensions["portal.page_cache"]
    first, second = app.test_client().get(path), app.test_client().get(path)
    assert first.status_code == second.status_code == 200
    assert first.get_data() == second.get_data() and first.headers["ETag"] == second.headers["ETag"]
    assert "Set-Cookie" not in first.headers and "csrf_token" not in first.get_data(as_text=True)
    assert first.headers["Cache-Control"] == "no-cache"
    assert "Cookie" in first.headers["Vary"] and "Accept-Language" in first.headers["Vary"]
    assert first.headers["Content-Security-Policy"] == second.headers["Content-Security-Policy"]
    assert cache.hits >= 1  # the second visitor was answered from memory
    etag = first.headers["ETag"]
    again = app.test_client().get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b"" and again.headers["ETag"] == etag
    english = app.test_client().get(path, headers={"If-None-Match": etag, **EN})
    assert english.status_code == 200 and english.headers["ETag"] != etag and 'lang="en"' in page(english)
    by_address = app.test_client().get(path + "?lang=en", headers={"Accept-Language": "ko"})
    assert by_address.headers["ETag"] == english.headers["ETag"]


def test_the_page_cache_never_serves_a_signed_in_user_or_an_untrusted_host(app, make_user, login):
    path = f"/lessons/{A1}"
    app.test_client().get(path)
    client = app.test_client()
    login(client, make_user(role="student"))
    signed_in = client.get(path)
    assert "ETag" not in signed_in.headers and signed_in.headers["Cache-Control"] == "no-store"
    assert app.test_client().get(path, headers={"Host": "evil.example"}).status_code == 400
    odd = app.test_client().get(path + "?utm=x")
    assert odd.status_code == 200 and "ETag" not in odd.headers  # any other query is rendered, never kept


def test_the_language_links_of_a_cached_page_work(client):
    html = page(client.get(f"/lessons/{A1}"))
    assert 'href="?lang=en"' in html
    english = client.get(f"/lessons/{A1}?lang=en")
    assert 'lang="en"' in page(english) and f'href="/lessons/{A1}/step/1?lang=en"' in page(english)


def test_my_lessons_shows_a_lesson_finished_without_an_assignment(app, client, make_user, login):
    login(client, make_user(role="student"))
    assert "Lessons I finished on my own" not in page(client.get("/lessons/mine", headers=EN))
    post(client, f"/lessons/{A1}/quiz", right_answers(A1), token_from=f"/lessons/{A1}/quiz")
    html = page(client.get("/lessons/mine", headers=EN))
    assert "Lessons I finished on my own" in html and f'href="/lessons/{A1}"' in html and "best score 100%" in html


def test_the_home_page_says_what_to_do_if_it_was_sent_to_you(client):
    html = page(client.get("/", headers=EN))
    assert "If someone sent it to you" in html and "not your fault" in html and "tell a trusted adult honestly" in html
    assert "no consequences" not in html  # possession is a crime: nothing may promise otherwise
