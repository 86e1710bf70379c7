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


def public_url_problem(url: str) -> str | None:
    """Why PUBLIC_URL cannot be the address users open, or None. Every link in mail is built from it and only its
    host is answered, so a URL without a scheme ("portal.school.kr") would make every page a 400 and every link in
    mail dead; a host longer than DNS allows would make every mail's Message-ID too long to store."""
    parts = urlsplit(url if isinstance(url, str) else "")
    try:
        parts.port  # noqa: B018 (a port that is not a number raises here)
    except ValueError:
        return "its port is not a number"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "it must start with https:// (or http://) followed by the host name"
    if parts.username is not None or parts.query or parts.fragment:
        return "it must be a scheme, a host, an optional port and an optional path, with no user, query or fragment"
    host = parts.hostname.rstrip(".")
    if len(host) > 253 or any(not 0 < len(label) <= 63 for label in host.split(".")):
        return "its host name is longer than DNS allows (253 characters, 63 between dots)"
    return None


def safe_next(target: str | None) -> str | None:
    """Return `target` only when it is a path on this site, never another host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in target):
        return None
    return target
