"""URLs: redirects that stay on this site, and absolute links built from PUBLIC_URL, never from the request."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app


def public_url(endpoint: str, **values) -> str:
    """The absolute URL of an endpoint at PUBLIC_URL.

    The request's Host header is chosen by the client: a link built from it (a password-reset link, say) can be
    made to point at an attacker's site. Links that leave the page are therefore built only from PUBLIC_URL.
    """
    parts = urlsplit(current_app.config["PUBLIC_URL"])
    adapter = current_app.url_map.bind(parts.netloc, script_name=parts.path.rstrip("/") or "/",
                                       url_scheme=parts.scheme or "http")
    return adapter.build(endpoint, values, force_external=True)


def public_host(url: str) -> str:
    """The host name of a URL, without port or brackets, as Flask's TRUSTED_HOSTS compares it."""
    return (urlsplit(url).hostname or "").lower()


def safe_next(target: str | None) -> str | None:
    """Return `target` only when it is a path on this site, never another host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in target):
        return None
    return target
