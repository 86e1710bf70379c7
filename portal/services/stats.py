"""Aggregate figures for school and district dashboards: counts only, never names or case text."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from portal.models import Case, CaseStatus, Classroom, Role, School, User, classroom_students
from portal.models.base import utcnow
from portal.models.lessons import LessonProgress
from portal.services import cases as case_service

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
    ack_hours: list[float] = field(default_factory=list)
    by_month: dict[str, int] = field(default_factory=dict)
    by_category: dict[str, int] = field(default_factory=dict)
    by_platform: dict[str, int] = field(default_factory=dict)
    staff_total: int = 0
    staff_trained: int = 0
    lessons_by_grade: dict[str, tuple[int, int]] = field(default_factory=dict)  # grade -> (done, students)
    no_counselor: bool = False

    @property
    def median_ack_hours(self) -> float | None:
        return round(statistics.median(self.ack_hours), 1) if len(self.ack_hours) >= SMALL else None

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


def school_figures(session: Session, school: School, now: datetime | None = None,
                   staff_lessons: tuple[str, ...] = ()) -> Figures:
    """The dashboard figures of one school."""
    now = now or utcnow()
    figures = Figures(by_month=dict.fromkeys(_months(now), 0))
    all_cases = session.scalars(select(Case).where(Case.school_id == school.id)
                                .options(selectinload(Case.duties))).all()
    categories, platforms = Counter(), Counter()
    for case in all_cases:
        month = f"{case.created_at.year:04d}-{case.created_at.month:02d}"
        if month in figures.by_month:
            figures.by_month[month] += 1
        categories.update(case.category_list)
        platforms.update(case.platform_list)
        if case.acknowledged_at:
            figures.ack_hours.append((case.acknowledged_at - case.created_at).total_seconds() / 3600)
        if case.status == CaseStatus.CLOSED:
            continue
        figures.open_by_status[case.status] = figures.open_by_status.get(case.status, 0) + 1
        figures.open_urgent += case.urgent
        late_ack = case.status == CaseStatus.NEW and case_service.ack_deadline(case) <= now
        figures.overdue += bool(late_ack or case_service.overdue_duties(case, now))
    figures.by_category, figures.by_platform = dict(categories), dict(platforms)

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
