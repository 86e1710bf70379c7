"""Role links in the main navigation; features add their entries here."""

from __future__ import annotations

from flask import Flask, current_app
from flask_babel import lazy_gettext as _l
from flask_login import current_user

# role -> (endpoint, label); an entry shows only once its blueprint exists.
ROLE_LINKS: dict[str, list[tuple[str, object]]] = {
    "student": [("lessons.my_lessons", _l("My lessons")), ("reports.mine", _l("My requests"))],
    "teacher": [("reports.new", _l("Report an incident")), ("reports.mine", _l("My reports")),
                ("classes.index", _l("My classes")), ("lessons.staff_training", _l("Staff training"))],
    "counselor": [("cases.inbox", _l("Case inbox")), ("reports.new", _l("Report an incident")),
                  ("lessons.staff_training", _l("Staff training"))],
    "school_admin": [("admin.dashboard", _l("School dashboard")), ("admin.users", _l("Users")),
                     ("admin.classes", _l("Classes")),
                     ("admin.settings", _l("Settings")), ("cases.inbox", _l("Case inbox")),
                     ("classes.index", _l("Lesson progress")), ("lessons.staff_training", _l("Staff training"))],
    "district_admin": [("district.dashboard", _l("District dashboard")), ("district.schools", _l("Schools"))],
}


ROLE_NAMES = {
    "student": _l("Student"),
    "teacher": _l("Teacher"),
    "counselor": _l("Counselor"),
    "school_admin": _l("School admin"),
    "district_admin": _l("District admin"),
}


def role_name(role: str) -> str:
    """The translated name of a role."""
    return str(ROLE_NAMES.get(role, role))


def role_links() -> list[tuple[str, object]]:
    """The current user's role links whose endpoints exist."""
    if not current_user.is_authenticated:
        return []
    endpoints = current_app.view_functions
    return [(e, label) for e, label in ROLE_LINKS.get(current_user.role, []) if e in endpoints]


def can_ask_for_help() -> bool:
    """A signed-in student can ask the school's counselors for help from any help card."""
    return (current_user.is_authenticated and current_user.role == "student"
            and "reports.help_request" in current_app.view_functions)


def init_app(app: Flask) -> None:
    """Expose the navigation helpers to templates."""
    app.jinja_env.globals.update(role_links=role_links, role_name=role_name, can_ask_for_help=can_ask_for_help)

    @app.context_processor
    def _endpoints():
        return {"url_endpoints": current_app.view_functions}
