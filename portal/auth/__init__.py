"""Sign-in and sign-out: one blueprint, assembled here from its modules."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from portal.auth import devices, links, routes, two_factor  # noqa: E402, F401  each module adds its views to bp

bp.after_app_request(devices.set_cookie)
