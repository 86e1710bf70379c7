"""Roster import from the CSV files Korean school systems export (UTF-8 or CP949).

A preview comes first; then every row is imported in one transaction, or none.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Classroom, Role, School, User
from portal.services import accounts
from portal.services.mail import valid_address

# Column names a school export may use, in English or Korean.
COLUMNS = {
    "class": ("class", "학급", "반"),
    "number": ("number", "번호"),
    "name": ("name", "이름", "성명"),
    "grade": ("grade", "학년"),
    "username": ("username", "아이디", "사용자"),
    "email": ("email", "이메일"),
    "role": ("role", "역할"),
}
REQUIRED = ("class", "number", "name")
MAX_ROWS = 3000


@dataclass
class RosterRow:
    """One line of the file and what importing it would do."""

    line: int
    username: str
    name: str
    classroom: str
    grade: int | None
    role: str
    email: str | None
    action: str = "create"  # create | update | unchanged
    changes: list[str] = field(default_factory=list)


@dataclass
class RosterProblem:
    """A line that cannot be imported, with a code for a translated reason."""

    line: int
    code: str
    detail: str = ""


@dataclass
class RosterPreview:
    """What an import would do: rows, new classes and problems. Nothing is written while there are problems."""

    rows: list[RosterRow] = field(default_factory=list)
    new_classes: list[str] = field(default_factory=list)
    problems: list[RosterProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.rows)


def decode(data: bytes) -> str:
    """Read the bytes as UTF-8 (with or without BOM), else as CP949, the encoding of Korean school exports."""
    for encoding in ("utf-8-sig", "cp949"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise accounts.AccountError("bad_encoding")


def _header_map(header: list[str]) -> dict[str, int]:
    found = {}
    for index, name in enumerate(header):
        clean = name.strip().lower()
        for key, aliases in COLUMNS.items():
            if clean in aliases:
                found[key] = index
    return found


def _username(school: School, classroom: str, number: int) -> str:
    digits = "".join(ch for ch in classroom if ch.isalnum())
    return f"{school.code}-{digits}-{number:02d}".lower()


def preview(session: Session, school: School, text: str) -> RosterPreview:
    """Parse and check a roster without writing anything."""
    result = RosterPreview()
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        result.problems.append(RosterProblem(1, "empty"))
        return result
    columns = _header_map(header)
    missing = [key for key in REQUIRED if key not in columns]
    if missing:
        result.problems.append(RosterProblem(1, "missing_columns", ", ".join(missing)))
        return result
    existing_classes = set(session.scalars(select(Classroom.name).where(Classroom.school_id == school.id)))
    seen: dict[str, int] = {}
    for line, raw in enumerate(reader, start=2):
        if not any(cell.strip() for cell in raw):
            continue
        if len(result.rows) + len(result.problems) >= MAX_ROWS:
            result.problems.append(RosterProblem(line, "too_many"))
            break
        cell = {key: (raw[index].strip() if index < len(raw) else "") for key, index in columns.items()}
        if not cell["name"] or len(cell["name"]) > 120:
            result.problems.append(RosterProblem(line, "bad_name"))
            continue
        if not cell["class"] or len(cell["class"]) > 80:
            result.problems.append(RosterProblem(line, "bad_class"))
            continue
        try:
            number = int(cell["number"])
            if not 1 <= number <= 99:
                raise ValueError
        except ValueError:
            result.problems.append(RosterProblem(line, "bad_number", cell["number"]))
            continue
        grade = None
        if cell.get("grade"):
            try:
                grade = int(cell["grade"])
                if not 1 <= grade <= 12:
                    raise ValueError
            except ValueError:
                result.problems.append(RosterProblem(line, "bad_grade", cell["grade"]))
                continue
        role = (cell.get("role") or "student").lower()
        if role in ("학생",):
            role = "student"
        if role != Role.STUDENT:
            result.problems.append(RosterProblem(line, "bad_role", role))
            continue
        username = (cell.get("username") or _username(school, cell["class"], number)).lower()
        if not all(c.isalnum() or c in "-_." for c in username) or len(username) > 64:
            result.problems.append(RosterProblem(line, "bad_username", username))
            continue
        if username in seen:
            result.problems.append(RosterProblem(line, "duplicate", str(seen[username])))
            continue
        seen[username] = line
        email = (cell.get("email") or "").strip() or None
        if email is not None and not valid_address(email):
            result.problems.append(RosterProblem(line, "bad_email", email))
            continue
        row = RosterRow(line, username, cell["name"], cell["class"], grade, role, email)
        user = accounts.find_user(session, username)
        if user is not None:
            if user.school_id != school.id or user.role != Role.STUDENT:
                result.problems.append(RosterProblem(line, "username_taken", username))
                continue
            current = {c.name for c in session.scalars(select(Classroom).where(Classroom.students.contains(user)))}
            if user.display_name != row.name:
                row.changes.append("name")
            if row.classroom not in current:
                row.changes.append("class")
            if grade is not None and user.grade != grade:
                row.changes.append("grade")
            row.action = "update" if row.changes else "unchanged"
        if row.classroom not in existing_classes and row.classroom not in result.new_classes:
            result.new_classes.append(row.classroom)
        result.rows.append(row)
    if not result.rows and not result.problems:
        result.problems.append(RosterProblem(1, "empty"))
    return result


def apply(session: Session, school: School, text: str, actor: User) -> tuple[RosterPreview, list[tuple[User, str]]]:
    """Import the roster in the caller's transaction, or raise AccountError("roster_invalid") and write nothing.

    Returns the preview and, for every new student, a one-time set-password link token.
    """
    result = preview(session, school, text)
    if not result.ok:
        raise accounts.AccountError("roster_invalid")
    classes = {c.name: c for c in session.scalars(select(Classroom).where(Classroom.school_id == school.id))}
    links = []
    for row in result.rows:
        classroom = classes.get(row.classroom)
        if classroom is None:
            classroom = Classroom(school_id=school.id, name=row.classroom, grade=row.grade)
            session.add(classroom)
            classes[row.classroom] = classroom
        if row.action == "create":
            user = accounts.create_user(session, row.username, Role.STUDENT, school, None, row.name, row.email)
            user.grade = row.grade
            links.append((user, accounts.issue_link(session, user, actor)))
        else:
            user = accounts.find_user(session, row.username)
            user.display_name = row.name
            if row.grade is not None:
                user.grade = row.grade
            if "class" in row.changes:
                for other in session.scalars(select(Classroom).where(Classroom.school_id == school.id,
                                                                     Classroom.students.contains(user))):
                    other.students.remove(user)
        if user not in classroom.students:
            classroom.students.append(user)
    session.flush()
    return result, links
