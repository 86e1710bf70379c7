"""Lessons for learners and staff: the library, progress, quiz scores, and assignments as a student sees them."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import Flask
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.models import Assignment, Classroom, LessonProgress, Role, User, classroom_students
from portal.models.base import utcnow
from portal.services.content import BANDS, Lesson, LessonLibrary, LessonText, lesson_library

STAFF_TRAINING_BAND = "D"
STAFF_TRAINING_ROLES = (Role.TEACHER, Role.COUNSELOR, Role.SCHOOL_ADMIN)

BAND_NAMES = {"A": _l("Band A"), "B": _l("Band B"), "C": _l("Band C"), "D": _l("Band D")}
BAND_AUDIENCES = {
    "A": _l("Ages 10–12 (elementary school, grades 4–6)"),
    "B": _l("Ages 13–15 (middle school)"),
    "C": _l("Ages 16–18 (high school)"),
    "D": _l("School staff and parents"),
}

NOT_STARTED, IN_PROGRESS, DONE = "not_started", "in_progress", "done"
STATUS_LABELS = {NOT_STARTED: _l("Not started"), IN_PROGRESS: _l("Started"), DONE: _l("Done")}


class LessonNotFound(LookupError):
    """No valid lesson has this slug."""


def band_name(band: str) -> str:
    """The translated name of a band."""
    return str(BAND_NAMES.get(band, band))


def band_audience(band: str) -> str:
    """Who a band is for (ages or staff), translated."""
    return str(BAND_AUDIENCES.get(band, ""))


def status_label(status: str) -> str:
    """The translated name of a progress status."""
    return str(STATUS_LABELS[status])


def find_lesson(slug: str, library: LessonLibrary | None = None) -> Lesson:
    """The lesson with this slug, or LessonNotFound."""
    lesson = (library or lesson_library()).get(slug)
    if lesson is None:
        raise LessonNotFound(slug)
    return lesson


def next_lesson(lesson: Lesson) -> Lesson | None:
    """The next lesson in the same band, if any."""
    band = lesson_library().band(lesson.band)
    later = [other for other in band if other.order > lesson.order]
    return later[0] if later else None


# --- Progress -----------------------------------------------------------------------------------------------

def _progress(session: Session, user: User, slug: str) -> LessonProgress | None:
    return session.scalar(select(LessonProgress).where(LessonProgress.user_id == user.id,
                                                       LessonProgress.lesson_slug == slug))


def record_view(session: Session, user: User, slug: str) -> LessonProgress:
    """Mark a lesson started the first time a signed-in user opens any page of it."""
    progress = _progress(session, user, slug)
    if progress is not None:
        return progress
    try:
        # Two tabs opening the same lesson at once: the second insert loses and reads the first one's row.
        with session.begin_nested():
            progress = LessonProgress(user_id=user.id, lesson_slug=slug, started_at=utcnow(), attempts=0)
            session.add(progress)
    except IntegrityError:
        progress = _progress(session, user, slug)
    session.flush()
    return progress


def record_scenario(session: Session, user: User, slug: str, choice: int) -> LessonProgress:
    """Keep the user's latest scenario choice."""
    progress = record_view(session, user, slug)
    progress.scenario_choice = choice
    session.flush()
    return progress


@dataclass(frozen=True)
class QuestionResult:
    """One answered quiz question."""

    number: int
    question: object  # content.QuizQuestion
    chosen: int

    @property
    def correct(self) -> bool:
        return self.chosen == self.question.answer


@dataclass(frozen=True)
class QuizResult:
    """A scored quiz."""

    questions: tuple[QuestionResult, ...]

    @property
    def right(self) -> int:
        return sum(1 for q in self.questions if q.correct)

    @property
    def total(self) -> int:
        return len(self.questions)

    @property
    def score(self) -> int:
        """Percent of questions answered right, rounded."""
        return round(100 * self.right / self.total) if self.total else 0


def score_quiz(text: LessonText, chosen: Sequence[int]) -> QuizResult:
    """Score the chosen answer index of every question."""
    if len(chosen) != len(text.quiz):
        raise ValueError("one answer per question is needed")
    return QuizResult(tuple(QuestionResult(i + 1, question, answer)
                            for i, (question, answer) in enumerate(zip(text.quiz, chosen, strict=True))))


def record_quiz(session: Session, user: User, slug: str, result: QuizResult) -> LessonProgress:
    """Save a quiz attempt: the lesson is complete, with its last and best score."""
    progress = record_view(session, user, slug)
    progress.attempts = (progress.attempts or 0) + 1
    progress.last_score = result.score
    progress.best_score = max(progress.best_score or 0, result.score)
    if progress.completed_at is None:
        progress.completed_at = utcnow()
    session.flush()
    return progress


def status_of(progress: LessonProgress | None) -> str:
    """not_started, in_progress or done."""
    if progress is None:
        return NOT_STARTED
    return DONE if progress.completed_at else IN_PROGRESS


def progress_by_slug(session: Session, user: User) -> dict[str, LessonProgress]:
    """Every lesson progress row of one user, by lesson slug."""
    rows = session.scalars(select(LessonProgress).where(LessonProgress.user_id == user.id))
    return {row.lesson_slug: row for row in rows}


def progress_table(session: Session, user_ids: Iterable[int], slugs: Iterable[str]
                   ) -> dict[tuple[int, str], LessonProgress]:
    """Progress rows for these users and lessons, by (user id, slug)."""
    user_ids, slugs = list(user_ids), list(slugs)
    if not user_ids or not slugs:
        return {}
    rows = session.scalars(select(LessonProgress).where(LessonProgress.user_id.in_(user_ids),
                                                        LessonProgress.lesson_slug.in_(slugs)))
    return {(row.user_id, row.lesson_slug): row for row in rows}


@dataclass(frozen=True)
class BandCompletion:
    """Whether a user finished every lesson of a band, and when the last one was finished."""

    band: str
    lessons: tuple[Lesson, ...]
    done: int
    completed_at: datetime | None

    @property
    def complete(self) -> bool:
        return bool(self.lessons) and self.done == len(self.lessons)


def band_completion(session: Session, user: User, band: str) -> BandCompletion:
    """How much of a band this user has completed."""
    lessons = lesson_library().band(band)
    progress = progress_by_slug(session, user)
    finished = [progress[lesson.slug].completed_at for lesson in lessons
                if lesson.slug in progress and progress[lesson.slug].completed_at]
    return BandCompletion(band, lessons, len(finished), max(finished) if finished else None)


def completed_bands(session: Session, user: User) -> list[BandCompletion]:
    """The bands this user has completed, for certificate links."""
    return [c for c in (band_completion(session, user, band) for band in BANDS) if c.complete]


# --- Assignments as the student sees them -------------------------------------------------------------------

def school_today(user: User) -> date:
    """Today's date in the user's school time zone."""
    zone = ZoneInfo(user.school.timezone if user.school else "Asia/Seoul")
    return utcnow().astimezone(zone).date()


@dataclass(frozen=True)
class StudentAssignment:
    """A lesson given to one of the student's classes, with the student's own progress."""

    assignment: Assignment
    lesson: Lesson
    progress: LessonProgress | None
    overdue: bool

    @property
    def status(self) -> str:
        return status_of(self.progress)


def finished_lessons(session: Session, user: User,
                     except_slugs: Iterable[str] = ()) -> list[tuple[Lesson, LessonProgress]]:
    """Lessons the user finished (passed the quiz), newest first, leaving out `except_slugs` (the assigned ones)."""
    skip = set(except_slugs)
    rows = session.scalars(select(LessonProgress).where(LessonProgress.user_id == user.id,
                                                        LessonProgress.completed_at.is_not(None))
                           .order_by(LessonProgress.completed_at.desc()))
    library = lesson_library()
    return [(library.get(row.lesson_slug), row) for row in rows
            if row.lesson_slug not in skip and library.get(row.lesson_slug) is not None]


def student_assignments(session: Session, user: User) -> list[StudentAssignment]:
    """Lessons assigned to the student's classes, soonest due first; one row per lesson."""
    rows = session.scalars(
        select(Assignment).join(classroom_students, classroom_students.c.classroom_id == Assignment.classroom_id)
        .join(Classroom, Classroom.id == Assignment.classroom_id)
        .where(classroom_students.c.student_id == user.id, Classroom.archived.is_(False))
        .order_by(Assignment.due_on, Assignment.id)
    )
    progress = progress_by_slug(session, user)
    today = school_today(user)
    library = lesson_library()
    seen, result = set(), []
    for assignment in rows:
        lesson = library.get(assignment.lesson_slug)
        if lesson is None or lesson.slug in seen:
            continue  # a lesson withdrawn from the content, or given by two classes
        seen.add(lesson.slug)
        mine = progress.get(lesson.slug)
        result.append(StudentAssignment(assignment, lesson, mine,
                                        status_of(mine) != DONE and assignment.due_on < today))
    return result


# --- The content version of visitors' pages (part of the page cache's key, portal/pagecache.py) -----------------

def page_fingerprint(app: Flask) -> str:
    """A hash of what shapes a lesson page besides the request: the content, the templates and the catalogs."""
    digest = hashlib.sha256(app.extensions["portal.content_version"].encode())
    package = Path(__file__).resolve().parent.parent
    translations = Path(app.config["BABEL_TRANSLATION_DIRECTORIES"])
    files = [*package.joinpath("templates").rglob("*.html"), *translations.rglob("*.mo")]
    for path in sorted(files):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
