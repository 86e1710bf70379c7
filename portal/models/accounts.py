"""Schools, people and classes."""

from __future__ import annotations

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.base import EncryptedText, UTCDateTime, utcnow


class Role(enum.StrEnum):
    """What a user is at their school."""

    STUDENT = "student"
    TEACHER = "teacher"
    COUNSELOR = "counselor"
    SCHOOL_ADMIN = "school_admin"
    DISTRICT_ADMIN = "district_admin"


ROLES = tuple(r.value for r in Role)
STAFF_ROLES = frozenset({Role.TEACHER, Role.COUNSELOR, Role.SCHOOL_ADMIN, Role.DISTRICT_ADMIN})


class School(db.Model):
    """A school: its names, time zone, legal jurisdiction and case-handling settings."""

    __tablename__ = "schools"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_ko: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Seoul")
    jurisdiction: Mapped[str] = mapped_column(String(8), default="KR")
    routing: Mapped[str] = mapped_column(String(16), default="all")  # "all" counselors or "lead" only
    ack_urgent_hours: Mapped[int] = mapped_column(Integer, default=1)
    ack_normal_hours: Mapped[int] = mapped_column(Integer, default=24)
    # A duty due "immediately" shows "due now" at once; this only delays its "overdue" badge and escalation.
    duty_grace_minutes: Mapped[int] = mapped_column(Integer, default=60, server_default="60")
    retention_days: Mapped[int] = mapped_column(Integer, default=1825)
    # New cases through the school's public page per hour; past it the page asks people to call or tell a teacher.
    anonymous_hourly_limit: Mapped[int] = mapped_column(Integer, default=30, server_default="30")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    users: Mapped[list[User]] = relationship(back_populates="school")
    classrooms: Mapped[list[Classroom]] = relationship(back_populates="school")

    def name(self, locale: str) -> str:
        """The school's name in the given language."""
        return self.name_ko if locale == "ko" else self.name_en


class User(UserMixin, db.Model):
    """A person who signs in. District admins belong to no school."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(20))
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"), index=True)
    locale: Mapped[str | None] = mapped_column(String(8))
    is_lead: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # Bumped on logout, password change, deactivation and role change: every older session stops working.
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    grade: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Two-factor sign-in: the TOTP secret is stored encrypted like case text.
    totp_secret: Mapped[str | None] = mapped_column(EncryptedText)
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The newest 30-second step whose code was accepted: a code of that step or an earlier one never works again.
    totp_last_step: Mapped[int | None] = mapped_column(Integer)

    school: Mapped[School | None] = relationship(back_populates="users")

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    def get_id(self) -> str:
        """The session carries the id and the session version together."""
        return f"{self.id}.{self.session_version}"

    def end_sessions(self) -> None:
        """Invalidate every existing session of this user."""
        self.session_version = (self.session_version or 0) + 1


classroom_students = Table(
    "classroom_students",
    db.Model.metadata,
    Column("classroom_id", ForeignKey("classrooms.id", ondelete="CASCADE"), primary_key=True),
    Column("student_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)


class Classroom(db.Model):
    """A class of students with its teacher."""

    __tablename__ = "classrooms"
    __table_args__ = (UniqueConstraint("school_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    grade: Mapped[int | None] = mapped_column(Integer)
    teacher_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    school: Mapped[School] = relationship(back_populates="classrooms")
    teacher: Mapped[User | None] = relationship(foreign_keys=[teacher_id])
    students: Mapped[list[User]] = relationship(secondary=classroom_students, order_by=User.username)


class SetPasswordToken(db.Model):
    """A one-time link to set a password: only its hash is stored; it works once, for a limited time."""

    __tablename__ = "set_password_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(16), default="welcome")  # welcome | reset
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    user: Mapped[User] = relationship(foreign_keys=[user_id])


class RecoveryCode(db.Model):
    """A single-use recovery code for two-factor sign-in, stored as a hash."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(255))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
