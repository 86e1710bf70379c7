"""Home page, language switch, quick exit and health check."""

from __future__ import annotations

from flask import Blueprint, current_app, make_response, redirect, render_template, session, url_for
from flask_login import current_user

from portal.extensions import db, limiter, shared_limits_down
from portal.forms import LanguageForm
from portal.urls import safe_next

bp = Blueprint("public", __name__)


@bp.route("/")
def home():
    """What the portal is for, the way into lessons and sign-in, and the help lines."""
    return render_template("public/home.html")


@bp.route("/language", methods=["POST"])
def language():
    """Switch the language for this session, and for the account when signed in."""
    form = LanguageForm()
    if form.validate_on_submit():
        session["lang"] = form.lang.data
        if current_user.is_authenticated:
            current_user.locale = form.lang.data
            db.session.commit()
    return redirect(safe_next(form.next.data) or url_for("public.home"))


@bp.route("/help")
def get_help():
    """Help right now for anyone, signed in or not: the help lines, and how to write to a counselor."""
    return render_template("public/get_help.html")


@bp.route("/exit")
def quick_exit():
    """A neutral page that the quick-exit button replaces the current page with."""
    from portal.channel.routes import end_conversation

    target = current_app.config.get("QUICK_EXIT_URL")
    # Quick exit also ends a conversation opened with a receipt code in this browser.
    return end_conversation(redirect(target) if target else make_response(render_template("public/exit.html")))


@bp.route("/healthz")
@limiter.exempt  # a load balancer polls it from one address
def healthz():
    """Liveness check for the WSGI server and the browser tests; says whether rate limits are shared right now."""
    return {"status": "ok", "rate_limits": "per-process fallback" if shared_limits_down() else "ok"}
