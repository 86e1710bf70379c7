"""The dashboard a user lands on after signing in."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user

from portal.extensions import db
from portal.models import Role
from portal.models.base import utcnow
from portal.security import guard_blueprint
from portal.services import cases

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")
guard_blueprint(bp)  # any signed-in user; anonymous visitors are sent to sign in


@bp.route("/")
def index():
    """The role's own dashboard; a counselor's shows the work waiting, each figure a link to those cases."""
    workload = None
    if current_user.role in (Role.COUNSELOR, Role.SCHOOL_ADMIN):
        workload = cases.workload(db.session, current_user, utcnow())
    return render_template(f"dashboard/{current_user.role}.html", workload=workload)
