"""Aggregate figures for school and district dashboards: counts only, never names or case text."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from portal.models import Case, Classroom, Role, School, TakedownItem, User, classroom_students
from portal.models.base import utcnow
from portal.models.lessons import LessonProgress
from portal.services import cases as case_service
from portal.services import figures as figure_counts

SMALL = 5  # counts from 1 to SMALL-1 are shown as "fewer than 5" so that no one can be singled out


def suppressed(count: int) -> bool:
    """True when a count must not be shown exactly."""
    return 0 < count < SMALL


@dataclass
class Figures:
    """Everything a dashboard shows for one school (or several, added together)."""

    open_by_status: dict[str, int] = field(default_factory=dict)
    open_urgent: int = 0
    overdue: int = 0
    takedown_open: int = 0  # takedown items of open cases not confirmed removed
    takedown_late: int = 0  # of those, found (or seen again) TAKEDOWN_REMINDER_DAYS or more ago
    median_ack_hours: float | None = None  # last twelve months, to a tenth of an hour; None under SMALL cases
    by_month: dict[str, int] = field(default_factory=dict)
    by_category: dict[str, int] = field(default_factory=dict)
    by_platform: dict[str, int] = field(default_factory=dict)
    staff_total: int = 0
    staff_trained: int = 0
    lessons_by_grade: dict[str, tuple[int, int]] = field(default_factory=dict)  # grade -> (done, students)
    no_counselor: bool = False

    @property
    def open_total(self) -> int:
        return sum(self.open_by_status.values())


def _months(now: datetime, count: int = 12) -> list[str]:
    year, month = now.year, now.month
    keys = []
    for _ in range(count):
        keys.append(f"{year:04d}-{month:02d}")
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    return list(reversed(keys))


def figure_queries(school: School, now: datetime) -> dict[str, Select]:
    """The queries behind one school's case figures (for `bench/scale.py --explain`)."""
    return {
        "open cases by status": _open_query(school, now),
        "takedown items not removed": _takedown_query(school, now),
        "running counts": figure_counts.query(school.id, _months(now)[0]),
    }


def _open_query(school: School, now: datetime) -> Select:
    return (select(Case.status, func.count(), func.count().filter(Case.urgent.is_(True)),
                   func.count().filter(case_service.attention_clause("overdue", school, now)))
            .where(Case.school_id == school.id, Case.status.in_(case_service.OPEN_STATUSES)).group_by(Case.status))


def _takedown_query(school: School, now: datetime) -> Select:
    late = case_service.late_takedown_item(now)
    return (select(func.count(), func.count().filter(late)).select_from(TakedownItem)
            .join(Case, Case.id == TakedownItem.case_id)
            .where(Case.school_id == school.id, Case.status.in_(case_service.OPEN_STATUSES),
                   case_service.open_takedown_item()))


def _median_tenths(histogram: Counter) -> int | None:
    """The (lower) median of values counted per tenth of an hour, or None when fewer than SMALL were counted."""
    total = sum(histogram.values())
    if total < SMALL:
        return None
    seen = 0
    for tenths in sorted(histogram):
        seen += histogram[tenths]
        if seen > (total - 1) // 2:
            return tenths
    return None


def school_figures(session: Session, school: School, now: datetime | None = None,
                   staff_lessons: tuple[str, ...] = ()) -> Figures:
    """The dashboard figures of one school. Cases by month, category and platform and the time to acknowledge
    count the cases opened in the last twelve months (from the running counts); open and overdue cases count
    whenever they were opened."""
    now = now or utcnow()
    figures = Figures(by_month=dict.fromkeys(_months(now), 0))
    for status, count, urgent, overdue in session.execute(_open_query(school, now)):
        figures.open_by_status[status] = count
        figures.open_urgent += urgent
        figures.overdue += overdue
    figures.takedown_open, figures.takedown_late = session.execute(_takedown_query(school, now)).one()
    categories, platforms, acknowledged = Counter(), Counter(), Counter()
    for month, figure, count in figure_counts.read(session, school.id, _months(now)[0]):
        kind, _, key = figure.partition(":")
        if kind == "opened" and month in figures.by_month:
            figures.by_month[month] += count
        elif kind == "category":
            categories[key] += count
        elif kind == "platform":
            platforms[key] += count
        elif kind == "ack":
            acknowledged[int(key)] += count
    figures.by_category, figures.by_platform = dict(categories), dict(platforms)
    median = _median_tenths(acknowledged)
    figures.median_ack_hours = median / 10 if median is not None else None

    staff = session.scalars(select(User.id).where(
        User.school_id == school.id, User.active.is_(True),
        User.role.in_([Role.TEACHER, Role.COUNSELOR, Role.SCHOOL_ADMIN]))).all()
    figures.staff_total = len(staff)
    if staff_lessons and staff:
        done = session.execute(select(LessonProgress.user_id, func.count()).where(
            LessonProgress.user_id.in_(staff), LessonProgress.lesson_slug.in_(staff_lessons),
            LessonProgress.completed_at.isnot(None)).group_by(LessonProgress.user_id)).all()
        figures.staff_trained = sum(1 for _user, count in done if count >= len(staff_lessons))

    grades = session.execute(select(User.grade, func.count(func.distinct(User.id))).join(
        classroom_students, classroom_students.c.student_id == User.id).join(
        Classroom, Classroom.id == classroom_students.c.classroom_id).where(
        User.school_id == school.id, User.role == Role.STUDENT, User.active.is_(True), Classroom.archived.is_(False))
        .group_by(User.grade)).all()
    for grade, students in grades:
        done = session.scalar(select(func.count(func.distinct(LessonProgress.user_id))).join(
            User, User.id == LessonProgress.user_id).where(
            User.school_id == school.id, User.role == Role.STUDENT, User.grade == grade,
            LessonProgress.completed_at.isnot(None))) or 0
        figures.lessons_by_grade[str(grade or "—")] = (done, students)
    figures.no_counselor = session.scalar(select(func.count()).select_from(User).where(
        User.school_id == school.id, User.role == Role.COUNSELOR, User.active.is_(True))) == 0
    return figures
