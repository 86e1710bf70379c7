"""Sign-in sessions, their limits on the server, and the headers every response carries."""

from __future__ import annotations

import time
from functools import wraps

from flask import Flask, abort, current_app, flash, g, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, current_user, logout_user
from sqlalchemy import bindparam, select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import joinedload

from portal.extensions import db
from portal.models import Role, User

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",  # no inline script anywhere
        "style-src 'self'",  # no inline style either
        "img-src 'self' data:",  # data: for the server-rendered QR code
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",  # no framing: clickjacking
    ]
)
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"


# The school comes in the same statement: every signed-in page reads it (its time zone, its pack). Made once: every
# signed-in request runs it.
_USER = select(User).where(User.id == bindparam("user_id")).options(joinedload(User.school))


def _load_user(token: str) -> User | None:
    """Load the user named in the session, only while the session version still matches."""
    try:
        user_id, version = (int(part) for part in token.split("."))
    except ValueError:
        return None
    try:
        user = db.session.scalars(_USER, {"user_id": user_id}).one_or_none()
        if user is None or user.session_version != version or not user.active:
            return None
        if user.school is not None and not user.school.is_active:
            return None
    except (OperationalError, InterfaceError) as error:
        # The database is down or restarting. The request goes on as anonymous (so pages and the error page can
        # render without trying again) and _enforce_session_limits raises the error for its plain 503 page.
        g.portal_storage_error = error
        return None
    return user


# Deny by default (SecureDrop's shape): every endpoint needs a signed-in user except these. A new route that
# forgets its guard is still closed; blueprint guards and per-view checks only narrow further.
PUBLIC_ENDPOINTS = frozenset({
    "static", "public.home", "public.language", "public.quick_exit", "public.healthz", "public.get_help",
    "auth.login", "auth.forgot_password", "auth.set_password",
    "auth.two_factor", "auth.enrol",  # between the password and the second factor; they check their own marker
    "lessons.index", "lessons.overview", "lessons.step", "lessons.scenario", "lessons.quiz", "lessons.print_view",
    "reports.help_request",  # sends a signed-out visitor to /help instead of the sign-in page
    # The school's public page: anyone may tell a counselor, and come back with a receipt code.
    "channel.school_page", "channel.poster", "channel.tell", "channel.come_back", "channel.conversation",
    "channel.end",
})


def _deny_by_default():
    """Send anyone not signed in to the sign-in page, except on the public endpoints above."""
    if request.endpoint is None or request.endpoint in PUBLIC_ENDPOINTS or current_user.is_authenticated:
        return None  # no endpoint: the routing error (404, 405) answers
    return current_app.login_manager.unauthorized()


def _enforce_session_limits():
    """End a session that has been idle too long or has lasted past the absolute limit."""
    signed_in = current_user.is_authenticated
    if g.get("portal_storage_error") is not None:
        raise g.portal_storage_error
    if not signed_in:
        return None
    now = int(time.time())
    cfg = current_app.config
    idle = cfg["IDLE_TIMEOUT_STUDENT"] if current_user.role == Role.STUDENT else cfg["IDLE_TIMEOUT_STAFF"]
    started, seen = session.get("auth_at", 0), session.get("seen", 0)
    if now - seen > idle.total_seconds() or now - started > cfg["ABSOLUTE_SESSION_TIMEOUT"].total_seconds():
        logout_user()
        session.clear()
        flash(_("Your session ended because it was idle for too long. Please sign in again."), "info")
        return redirect(url_for("auth.login", next=request.full_path if request.method == "GET" else None))
    if now - seen >= SEEN_RESOLUTION:
        # Idle time is counted to the minute: rewriting the session on every request would re-sign and resend the
        # cookie with every page for nothing.
        session["seen"] = now
    return None


SEEN_RESOLUTION = 60  # seconds


def fixed_headers(config) -> dict[str, str]:
    """The security headers of every response, pages and static files alike (a view may set its own CSP and
    Referrer-Policy; the rest always apply)."""
    headers = {
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",  # case and reset URLs never leak to another site
        "Permissions-Policy": PERMISSIONS_POLICY,
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "X-Frame-Options": "DENY",
    }
    if config.get("HTTPS"):
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return headers


VIEW_MAY_SET = ("Content-Security-Policy", "Referrer-Policy")


def _set_headers(response):
    headers = response.headers
    for name, value in fixed_headers(current_app.config).items():
        if name in VIEW_MAY_SET:
            headers.setdefault(name, value)
        else:
            headers[name] = value
    if g.get("portal_storage_error") is not None:
        headers["Cache-Control"] = "no-store"  # the database failed: do not touch the (expired) user
    elif isinstance(current_user._get_current_object(), User):
        # Pages of a signed-in user may hold case details: never keep them in a shared computer's cache. (The
        # type, not is_authenticated: after the view's commit that would read the user's row again.)
        headers["Cache-Control"] = "no-store"
        headers.pop("ETag", None)
    return response


def roles_required(*roles: str):
    """Narrow a view to some roles; anyone else gets 404 so the page's existence is not revealed."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()
            if current_user.role not in roles:
                abort(404)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def guard_blueprint(blueprint, *roles: str) -> None:
    """Close every view of a blueprint to all but these roles; views can only narrow it further."""

    @blueprint.before_request
    def _guard():
        if not current_user.is_authenticated:
            return current_app.login_manager.unauthorized()
        if roles and current_user.role not in roles:
            abort(404)
        return None


def init_app(app: Flask, login_manager: LoginManager) -> None:
    """Bind Flask-Login and the session and header hooks."""
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please sign in to see that page.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    login_manager.user_loader(_load_user)
    app.before_request(_enforce_session_limits)
    app.before_request(_deny_by_default)
    app.after_request(_set_headers)
