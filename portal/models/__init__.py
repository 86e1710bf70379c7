"""Typed SQLAlchemy models, one module per area."""

from portal.models.accounts import ROLES, STAFF_ROLES, Classroom, Role, School, User, classroom_students
from portal.models.audit import AuditEvent, AuditHead

__all__ = [
    "ROLES", "STAFF_ROLES", "AuditEvent", "AuditHead", "Classroom", "Role", "School", "User", "classroom_students",
]
