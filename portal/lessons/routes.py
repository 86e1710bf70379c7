"""Lesson pages: the bands, a lesson step by step, its scenario and quiz, print view, and the signed-in views."""

from __future__ import annotations

from flask import Blueprint, Response, abort, make_response, render_template, request
from flask_login import current_user

from portal import pagecache
from portal.extensions import csrf, db, limiter
from portal.i18n import locale_code
from portal.lessons.forms import quiz_form, scenario_form
from portal.models import STAFF_ROLES, Role
from portal.security import roles_required
from portal.services import lessons as service
from portal.services.content import BANDS, Lesson, lesson_library

bp = Blueprint("lessons", __name__, url_prefix="/lessons")
# Lesson pages are public, read-only for visitors and cheap to serve, and a whole school reaches them from one
# NAT address: the per-address default limit would cut off a district's lesson period (DESIGN principle 8).
limiter.exempt(bp)



@bp.record_once
def _fingerprint(state) -> None:
    state.app.extensions["portal.lessons.fingerprint"] = service.page_fingerprint(state.app)


@bp.app_context_processor
def _lesson_helpers():
    return {"band_name": service.band_name, "band_audience": service.band_audience,
            "status_label": service.status_label}


def _lesson_or_404(slug: str) -> Lesson:
    try:
        return service.find_lesson(slug)
    except service.LessonNotFound:
        abort(404)


def _started(lesson: Lesson):
    """Record a signed-in user's first view of a lesson; visitors without an account keep no record."""
    if current_user.is_authenticated:
        progress = service.record_view(db.session, current_user, lesson.slug)
        db.session.commit()
        return progress
    return None


def _page(html: str) -> Response:
    """A page for a visitor is the same bytes for every visitor in a language: offer it to the visitor page cache
    (portal/pagecache.py), which answers later visitors, with an ETag and 304s, before the Flask stack."""
    response = make_response(html)
    if not current_user.is_authenticated and response.status_code == 200:
        pagecache.offer()
        response.headers["Cache-Control"] = "no-cache"  # the same for everyone: revalidate, and get a 304
        response.vary.update(("Cookie", "Accept-Language"))
    return response


@bp.route("")
def index():
    """The bands, each with its lessons."""
    library = lesson_library()
    bands = [(band, library.band(band)) for band in BANDS if library.band(band)]
    if current_user.is_authenticated:
        progress = service.progress_by_slug(db.session, current_user)
        return render_template("lessons/index.html", bands=bands, progress=progress)
    return _page(render_template("lessons/index.html", bands=bands, progress=None))


@bp.route("/mine")
@roles_required(Role.STUDENT)
def my_lessons():
    """The lessons assigned to the student's classes, with due dates and status, and certificates earned."""
    assignments = service.student_assignments(db.session, current_user)
    finished = service.finished_lessons(db.session, current_user, [item.lesson.slug for item in assignments])
    return render_template("lessons/mine.html", assignments=assignments, finished=finished,
                           certificates=service.completed_bands(db.session, current_user))


@bp.route("/staff-training")
@roles_required(*STAFF_ROLES)
def staff_training():
    """Band D for staff, with this user's own completion."""
    lessons = lesson_library().band(service.STAFF_TRAINING_BAND)
    progress = service.progress_by_slug(db.session, current_user)
    done = sum(1 for lesson in lessons if service.status_of(progress.get(lesson.slug)) == service.DONE)
    return render_template("lessons/staff_training.html", lessons=lessons, progress=progress, done=done)


@bp.route("/certificate/<band>")
@roles_required(Role.STUDENT)
def certificate(band: str):
    """A printable certificate for a band the signed-in student has completed; 404 otherwise."""
    if band not in BANDS:
        abort(404)
    completion = service.band_completion(db.session, current_user, band)
    if not completion.complete:
        abort(404)
    return render_template("lessons/certificate.html", completion=completion)


@bp.route("/<slug>")
def overview(slug: str):
    """A lesson's content note, objectives, warm-up and the way in."""
    lesson = _lesson_or_404(slug)
    text = lesson.text(locale_code())
    progress = _started(lesson)
    return _page(render_template("lessons/overview.html", lesson=lesson, text=text, progress=progress))


@bp.route("/<slug>/step/<int:number>")
def step(slug: str, number: int):
    """One section of the lesson, with the progress bar."""
    lesson = _lesson_or_404(slug)
    text = lesson.text(locale_code())
    if not 1 <= number <= len(text.steps):
        abort(404)
    _started(lesson)
    return _page(render_template("lessons/step.html", lesson=lesson, text=text, number=number,
                                 step=text.steps[number - 1]))


# A visitor's scenario choice and quiz change nothing on the server (there is no account to record them in), so a
# visitor's forms carry no CSRF token and need no session: a forged cross-site post could at most show the visitor
# a result page, which the other site cannot read (same-origin policy). A signed-in user's choice is recorded, so
# their forms carry the session's token and validate_on_submit checks it (lessons/forms.py).
@csrf.exempt
@bp.route("/<slug>/scenario", methods=["GET", "POST"])
def scenario(slug: str):
    """The scenario as a form; after a choice, the feedback for it."""
    lesson = _lesson_or_404(slug)
    text = lesson.text(locale_code())
    _started(lesson)
    form = scenario_form(text)
    chosen = None
    if form.validate_on_submit():
        chosen = form.choice.data
        if current_user.is_authenticated:
            service.record_scenario(db.session, current_user, lesson.slug, chosen)
            db.session.commit()
    html = render_template("lessons/scenario.html", lesson=lesson, text=text, form=form, chosen=chosen,
                           choice=text.scenario.choices[chosen] if chosen is not None else None)
    return _page(html) if request.method == "GET" else html


@csrf.exempt
@bp.route("/<slug>/quiz", methods=["GET", "POST"])
def quiz(slug: str):
    """The quiz as a form; after sending, the score and the explanation of every choice."""
    lesson = _lesson_or_404(slug)
    text = lesson.text(locale_code())
    _started(lesson)
    form = quiz_form(text)
    if form.validate_on_submit():
        result = service.score_quiz(text, form.answers())
        progress, band_done = None, False
        if current_user.is_authenticated:
            progress = service.record_quiz(db.session, current_user, lesson.slug, result)
            band_done = current_user.role == Role.STUDENT and service.band_completion(
                db.session, current_user, lesson.band).complete
            db.session.commit()
        return render_template("lessons/result.html", lesson=lesson, text=text, result=result, progress=progress,
                               next_lesson=service.next_lesson(lesson), band_done=band_done)
    if request.method == "GET":
        return _page(render_template("lessons/quiz.html", lesson=lesson, text=text, form=form))
    return render_template("lessons/quiz.html", lesson=lesson, text=text, form=form), 422


@bp.route("/<slug>/print")
def print_view(slug: str):
    """The whole lesson on paper, with the family tip sheet, and teacher notes for staff."""
    lesson = _lesson_or_404(slug)
    text = lesson.text(locale_code())
    for_staff = current_user.is_authenticated and current_user.role in STAFF_ROLES
    return _page(render_template("lessons/print.html", lesson=lesson, text=text, for_staff=for_staff))

