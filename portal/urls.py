"""Helpers for redirects that must stay on this site."""

from urllib.parse import urlsplit


def safe_next(target: str | None) -> str | None:
    """Return `target` only when it is a path on this site, never another host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in target):
        return None
    return target
