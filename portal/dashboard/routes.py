"""The dashboard a user lands on after signing in."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user

from portal.security import guard_blueprint

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")
guard_blueprint(bp)  # any signed-in user; anonymous visitors are sent to sign in


@bp.route("/")
def index():
    """The role's own dashboard."""
    return render_template(f"dashboard/{current_user.role}.html")
