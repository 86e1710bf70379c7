"""Classes as teachers and school admins see them: rosters, lesson assignments, completion grids, the CSV
export and staff training. Lesson progress itself is in portal.services.lessons."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Assignment, Classroom, Role, User
from portal.services.content import Lesson, lesson_library
from portal.services.errors import ServiceError
from portal.services.lessons import (
    DONE,
    STAFF_TRAINING_BAND,
    STAFF_TRAINING_ROLES,
    progress_table,
    school_today,
    status_of,
)

CSV_RISKY_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class ClassroomNotFound(LookupError):
    """The class does not exist or this user may not see it."""


class AssignmentError(ServiceError):
    """An assignment could not be made; `code` says why."""


# --- Classes as teachers and school admins see them ---------------------------------------------------------

def visible_classrooms(session: Session, user: User) -> list[Classroom]:
    """A teacher's own classes; every class of the school for a school admin; nothing for anyone else."""
    query = select(Classroom).where(Classroom.archived.is_(False)).order_by(Classroom.name)
    if user.role == Role.TEACHER:
        return list(session.scalars(query.where(Classroom.teacher_id == user.id)))
    if user.role == Role.SCHOOL_ADMIN and user.school_id is not None:
        return list(session.scalars(query.where(Classroom.school_id == user.school_id)))
    return []


def classroom_for(session: Session, user: User, classroom_id: int) -> Classroom:
    """The class if this user may see it, else ClassroomNotFound (views answer 404, never 403)."""
    classroom = session.get(Classroom, classroom_id)
    if classroom is None or classroom.archived:
        raise ClassroomNotFound(classroom_id)
    if user.role == Role.TEACHER and classroom.teacher_id == user.id:
        return classroom
    if user.role == Role.SCHOOL_ADMIN and user.school_id is not None and classroom.school_id == user.school_id:
        return classroom
    raise ClassroomNotFound(classroom_id)


def class_assignments(session: Session, classroom: Classroom) -> list[Assignment]:
    """The class's assignments, soonest due first."""
    return list(session.scalars(select(Assignment).where(Assignment.classroom_id == classroom.id)
                                .order_by(Assignment.due_on, Assignment.id)))


def assign_lesson(session: Session, classroom: Classroom, slug: str, due_on: date, by: User) -> tuple[Assignment,
                                                                                                         bool]:
    """Give a class a lesson with a due date; giving it again changes the due date. Returns (assignment, new)."""
    if lesson_library().get(slug) is None:
        raise AssignmentError("unknown_lesson")
    if due_on < school_today(by):
        raise AssignmentError("due_in_past")
    existing = session.scalar(select(Assignment).where(Assignment.classroom_id == classroom.id,
                                                       Assignment.lesson_slug == slug))
    if existing is not None:
        existing.due_on = due_on
        session.flush()
        return existing, False
    assignment = Assignment(classroom_id=classroom.id, lesson_slug=slug, due_on=due_on, assigned_by_id=by.id)
    session.add(assignment)
    session.flush()
    return assignment, True


@dataclass(frozen=True)
class GridCell:
    """One student's progress in one assigned lesson."""

    status: str
    score: int | None


@dataclass(frozen=True)
class GridColumn:
    """An assigned lesson and how many students finished it."""

    assignment: Assignment
    lesson: Lesson | None  # None when the lesson was withdrawn from the content
    done: int


@dataclass(frozen=True)
class GridRow:
    """A student and their progress in each assigned lesson."""

    student: User
    cells: tuple[GridCell, ...]

    @property
    def done(self) -> int:
        return sum(1 for cell in self.cells if cell.status == DONE)


@dataclass(frozen=True)
class CompletionGrid:
    """Students × assigned lessons of one class."""

    classroom: Classroom
    columns: tuple[GridColumn, ...]
    rows: tuple[GridRow, ...]


def completion_grid(session: Session, classroom: Classroom) -> CompletionGrid:
    """Each student's status and best score in each lesson assigned to the class."""
    assignments = class_assignments(session, classroom)
    students = [s for s in classroom.students if s.active]
    table = progress_table(session, (s.id for s in students), (a.lesson_slug for a in assignments))
    rows = []
    for student in students:
        cells = []
        for assignment in assignments:
            progress = table.get((student.id, assignment.lesson_slug))
            cells.append(GridCell(status_of(progress), progress.best_score if progress else None))
        rows.append(GridRow(student, tuple(cells)))
    library = lesson_library()
    columns = tuple(
        GridColumn(assignment, library.get(assignment.lesson_slug),
                   sum(1 for row in rows if row.cells[i].status == DONE))
        for i, assignment in enumerate(assignments)
    )
    return CompletionGrid(classroom, columns, tuple(rows))


def csv_safe(value: object) -> str:
    """A cell a spreadsheet will not run as a formula: risky first characters get a leading quote.

    So does each part after a ";" or ",": a spreadsheet whose locale splits on ";" ignores the CSV's quoting and
    would start a new cell there ("Kim;=HYPERLINK(…)" becomes "Kim" and a formula).
    """
    text = "" if value is None else str(value)
    if text.startswith(CSV_RISKY_PREFIXES):
        text = "'" + text
    return _SEGMENT_RISK.sub(lambda m: m.group(1) + "'" + m.group(2), text)


# A separator, optional spaces or quotes, then a character that starts a formula.
_SEGMENT_RISK = re.compile(r"""([;,][\s"']*)([=+\-@\t\r])""")


def grid_csv(grid: CompletionGrid, language: str, headers: dict[str, str], statuses: dict[str, str]) -> str:
    """The completion grid as CSV (UTF-8 with BOM so spreadsheet programs read Korean), formula-safe."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    header = [headers["username"], headers["name"]]
    for column in grid.columns:
        title = column.lesson.text(language).title if column.lesson else column.assignment.lesson_slug
        header += [f"{title} · {headers['status']}", f"{title} · {headers['score']}"]
    writer.writerow([csv_safe(cell) for cell in header])
    for row in grid.rows:
        line = [row.student.username, row.student.display_name]
        for cell in row.cells:
            line += [statuses[cell.status], "" if cell.score is None else cell.score]
        writer.writerow([csv_safe(cell) for cell in line])
    return "\ufeff" + out.getvalue()


# --- Staff training (Band D) --------------------------------------------------------------------------------

@dataclass(frozen=True)
class StaffTrainingRow:
    """One staff member's Band D progress."""

    user: User
    cells: tuple[GridCell, ...]

    @property
    def done(self) -> int:
        return sum(1 for cell in self.cells if cell.status == DONE)


@dataclass(frozen=True)
class StaffTraining:
    """Band D completion of a school's staff."""

    lessons: tuple[Lesson, ...]
    rows: tuple[StaffTrainingRow, ...]

    @property
    def complete(self) -> int:
        return sum(1 for row in self.rows if self.lessons and row.done == len(self.lessons))


def staff_training(session: Session, school_id: int) -> StaffTraining:
    """Every active staff member of the school and their Band D completion."""
    lessons = lesson_library().band(STAFF_TRAINING_BAND)
    staff = list(session.scalars(select(User).where(User.school_id == school_id, User.active.is_(True),
                                                    User.role.in_([str(r) for r in STAFF_TRAINING_ROLES]))
                                 .order_by(User.role, User.display_name, User.username)))
    table = progress_table(session, (u.id for u in staff), (lesson.slug for lesson in lessons))
    rows = []
    for user in staff:
        cells = []
        for lesson in lessons:
            progress = table.get((user.id, lesson.slug))
            cells.append(GridCell(status_of(progress), progress.best_score if progress else None))
        rows.append(StaffTrainingRow(user, tuple(cells)))
    return StaffTraining(lessons, tuple(rows))
