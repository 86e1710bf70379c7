"""Lesson progress of each user and lessons assigned to classes."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.accounts import Classroom, User
from portal.models.base import UTCDateTime, utcnow


class LessonProgress(db.Model):
    """How far one signed-in user got in one lesson. Lessons are content, so the lesson is kept by its slug."""

    __tablename__ = "lesson_progress"
    __table_args__ = (UniqueConstraint("user_id", "lesson_slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    lesson_slug: Mapped[str] = mapped_column(String(80), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    best_score: Mapped[int | None] = mapped_column(Integer)  # percent, 0-100
    last_score: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # quiz submissions
    scenario_choice: Mapped[int | None] = mapped_column(Integer)  # index of the last scenario choice

    user: Mapped[User] = relationship()


class Assignment(db.Model):
    """A lesson a teacher gave a class, with its due date."""

    __tablename__ = "lesson_assignments"
    __table_args__ = (UniqueConstraint("classroom_id", "lesson_slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    classroom_id: Mapped[int] = mapped_column(ForeignKey("classrooms.id", ondelete="CASCADE"), index=True)
    lesson_slug: Mapped[str] = mapped_column(String(80))
    due_on: Mapped[date] = mapped_column(Date)
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    classroom: Mapped[Classroom] = relationship()
    assigned_by: Mapped[User | None] = relationship()
