"""Typed SQLAlchemy models, one module per area."""

from portal.models.accounts import (
    ROLES,
    STAFF_ROLES,
    Classroom,
    RecoveryCode,
    Role,
    School,
    SetPasswordToken,
    User,
    classroom_students,
)
from portal.models.audit import AuditEvent, AuditHead

__all__ = [
    "ROLES", "STAFF_ROLES", "AuditEvent", "AuditHead", "Classroom", "RecoveryCode", "Role", "School",
    "SetPasswordToken", "User", "classroom_students",
]

from portal.models.cases import (  # noqa: E402
    Case,
    CaseAssignee,
    CaseCounter,
    CaseExclusion,
    CaseFigure,
    CaseMessage,
    CaseStatus,
    CaseTombstone,
    DutyItem,
    Notification,
    ReceiptCode,
    ReporterSession,
    ResponseEntry,
    TakedownItem,
)

__all__ += [
    "Case", "CaseAssignee", "CaseCounter", "CaseExclusion", "CaseFigure", "CaseMessage", "CaseStatus", "CaseTombstone",
    "DutyItem", "Notification", "ReceiptCode", "ReporterSession", "ResponseEntry",
    "TakedownItem",
]

from portal.models.lessons import Assignment, LessonProgress  # noqa: E402

__all__ += ["Assignment", "LessonProgress"]

from portal.models.mail import BackgroundLease, OutboxMail  # noqa: E402

__all__ += ["BackgroundLease", "OutboxMail"]
