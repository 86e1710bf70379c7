"""Device cookies (OWASP: "slow down online guessing attacks with device cookies").

After a successful sign-in the browser keeps a signed cookie naming the account. Sign-in attempts for that account
from that browser are exempt from the account's and the address's lockouts and have a small limit of their own.
So a student guessing at the counselor's password from the school's shared address locks out the guesser, not the
counselor at their own computer, while guessing without such a cookie stays slow.
"""

from __future__ import annotations

import hashlib

from flask import current_app, g, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "portal_device"
MAX_AGE = 180 * 24 * 3600  # half a year: a staff member's own browser stays trusted across a semester
MAX_ACCOUNTS = 10  # a shared classroom computer remembers the last few accounts only
_SALT = "portal-device-cookie"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=_SALT)


def _cookie_name() -> str:
    return "__Host-" + COOKIE if current_app.config["HTTPS"] else COOKIE


def _accounts() -> list[str]:
    raw = request.cookies.get(_cookie_name())
    if not raw:
        return []
    try:
        value = _serializer().loads(raw, max_age=MAX_AGE)
    except BadSignature:
        return []
    return [name for name in value if isinstance(name, str)] if isinstance(value, list) else []


def _posted_username() -> str:
    return request.form.get("username", "").strip().lower()[:64]


def trusted() -> bool:
    """The browser has signed in to the account named in this sign-in form before."""
    name = _posted_username()
    return bool(name) and name in _accounts()


def key() -> str:
    """A rate-limit key for attempts from this trusted browser on this account."""
    digest = hashlib.sha256(request.cookies.get(_cookie_name(), "").encode()).hexdigest()[:32]
    return f"login-device:{digest}:{_posted_username()}"


def remember(username: str) -> None:
    """Mark this browser as one the account signs in from (the cookie is set on the response)."""
    g.portal_device_account = username.lower()


def set_cookie(response):
    """After a successful sign-in, add the account to the browser's device cookie."""
    name = g.pop("portal_device_account", None)
    if name is None:
        return response
    accounts = [name] + [other for other in _accounts() if other != name]
    secure = current_app.config["HTTPS"]
    response.set_cookie(_cookie_name(), _serializer().dumps(accounts[:MAX_ACCOUNTS]), max_age=MAX_AGE,
                        httponly=True, samesite="Lax", secure=secure, path="/")
    return response
