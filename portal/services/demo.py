"""The demo district: two schools with staff, classes and students, made the same way every time."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Classroom, Role, School, User
from portal.services import accounts
from portal.services.schools import set_lead

SCHOOLS = [
    ("hanbit", "한빛중학교", "Hanbit Middle School", 1),
    ("saesol", "새솔고등학교", "Saesol High School", 2),
]
STAFF_NAMES = {
    "hanbit": ["김서연", "이도윤", "박지호", "최하은", "정민준", "강수아"],
    "saesol": ["윤서준", "장예린", "임도현", "한지우", "오시우", "서채원"],
}
FAMILY = ["김", "이", "박", "최", "정", "강", "조", "윤", "장", "임"]
GIVEN = ["민서", "지훈", "서윤", "현우", "하린", "준서", "지아", "도현", "수빈", "예준"]
STUDENTS_PER_CLASS = 10
CREDENTIALS_FILE = "demo-credentials.txt"


@dataclass
class SeedSummary:
    """What the seed made and how to sign in."""

    password: str
    password_is_new: bool
    credentials_path: Path | None
    created: list[str] = field(default_factory=list)
    usernames: list[str] = field(default_factory=list)
    password_hash: str = ""


def demo_password(instance_path: str) -> tuple[str, bool, Path | None]:
    """PORTAL_DEMO_PASSWORD, else the password generated on the first run (kept in a 0600 file)."""
    if os.environ.get("PORTAL_DEMO_PASSWORD"):
        return os.environ["PORTAL_DEMO_PASSWORD"], False, None
    path = Path(instance_path) / CREDENTIALS_FILE
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("password: "):
                return line.removeprefix("password: "), False, path
    password = "demo-" + secrets.token_urlsafe(12)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("Demo accounts of the School Deepfake Response Portal (made-up people only).\n")
        handle.write(f"password: {password}\n")
    return password, True, path


def _user(session: Session, summary: SeedSummary, username: str, role: str, school: School | None,
          name: str, grade: int | None = None) -> User:
    summary.usernames.append(username)
    user = accounts.find_user(session, username)
    if user is None:
        user = accounts.create_user(session, username, role, school, None, display_name=name)
        user.password_hash = summary.password_hash
        user.grade = grade
        summary.created.append(username)
    return user


def seed(session: Session, instance_path: str) -> SeedSummary:
    """Create whatever part of the demo data is missing; existing rows are left as they are."""
    password, is_new, path = demo_password(instance_path)
    summary = SeedSummary(password, is_new, path)
    summary.password_hash = accounts.hash_password(password)  # one hash for all: they share a known password
    for code, name_ko, name_en, grade in SCHOOLS:
        school = session.scalar(select(School).where(School.code == code))
        if school is None:
            school = accounts.create_school(session, code, name_ko, name_en)
            summary.created.append(code)
        names = STAFF_NAMES[code]
        _user(session, summary, f"{code}-admin", Role.SCHOOL_ADMIN, school, names[0])
        counselors = [_user(session, summary, f"{code}-counselor{i}", Role.COUNSELOR, school, names[i])
                      for i in (1, 2)]
        if not any(c.is_lead for c in counselors):
            set_lead(session, counselors[0])
        teachers = [_user(session, summary, f"{code}-teacher{i}", Role.TEACHER, school, names[2 + i])
                    for i in (1, 2, 3)]
        for class_no in (1, 2):
            class_name = f"{grade}-{class_no}"
            classroom = session.scalar(select(Classroom).where(Classroom.school_id == school.id,
                                                               Classroom.name == class_name))
            if classroom is None:
                classroom = Classroom(school=school, name=class_name, grade=grade, teacher=teachers[class_no - 1])
                session.add(classroom)
            for seat in range(1, STUDENTS_PER_CLASS + 1):
                number = (class_no - 1) * STUDENTS_PER_CLASS + seat
                index = number + (0 if code == "hanbit" else 3)
                name = FAMILY[index % len(FAMILY)] + GIVEN[(index * 3) % len(GIVEN)]
                student = _user(session, summary, f"{code}-student{number:02d}", Role.STUDENT, school, name, grade)
                if student not in classroom.students:
                    classroom.students.append(student)
        session.flush()
    _user(session, summary, "district-admin", Role.DISTRICT_ADMIN, None, "교육지원청 관리자")
    session.flush()
    return summary


def describe(summary: SeedSummary) -> str:
    """A short text for the terminal: the demo accounts and where the password is."""
    lines = ["Demo school data is ready (made-up people only).",
             "Accounts: hanbit-admin, hanbit-counselor1 (lead), hanbit-counselor2, hanbit-teacher1..3,",
             f"          hanbit-student01..{2 * STUDENTS_PER_CLASS:02d}, the same with saesol-, and district-admin."]
    if os.environ.get("PORTAL_DEMO_PASSWORD"):
        lines.append("Password: the value of PORTAL_DEMO_PASSWORD.")
    elif summary.password_is_new:
        lines.append(f"Password for every demo account: {summary.password}")
        lines.append(f"(also saved in {summary.credentials_path}, readable only by you)")
    else:
        lines.append(f"Password for every demo account: see {summary.credentials_path}")
    return "\n".join(lines)
