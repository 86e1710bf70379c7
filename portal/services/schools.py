"""School-level settings and roles."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal.models import Role, User
from portal.services.errors import ServiceError


class SchoolError(ServiceError):
    """A school change that cannot be made; `code` names the reason."""


def set_lead(session: Session, counselor: User) -> None:
    """Make this counselor the school's one designated lead."""
    if counselor.role != Role.COUNSELOR or counselor.school_id is None:
        raise SchoolError("lead_not_counselor")
    session.execute(update(User).where(User.school_id == counselor.school_id, User.id != counselor.id)
                    .values(is_lead=False))
    counselor.is_lead = True


def lead_counselor(session: Session, school_id: int) -> User | None:
    """The school's designated lead counselor, if there is an active one."""
    return session.scalar(select(User).where(User.school_id == school_id, User.is_lead.is_(True),
                                             User.role == Role.COUNSELOR, User.active.is_(True)))
