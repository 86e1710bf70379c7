"""Visitors' lesson pages answered from memory, before the Flask stack.

A visitor without an account gets the same bytes as every other visitor in the same language: no session, no
CSRF token, nothing about them in the page. So the first time a lesson page is rendered for a visitor, its bytes
and headers are kept here, keyed by (path, language); later visitors get those bytes from this WSGI middleware
without Flask routing, sessions, the database or templates, with a strong ETag for a 304. A district's lesson
period (hundreds of classes opening the same page at 09:00) then costs little more than sending bytes.

What makes a page cacheable is decided by the view (`offer`), and what may be stored is checked here: a 200 with
no Set-Cookie (a response that touched the session is never kept), for a request without a session cookie, with no
query but `lang`, on a trusted host. Entries are per process and per content version (the lesson files' fingerprint
is part of the key), so a changed lesson is served after the restart or reload that loads it. No library does
this: Flask-Caching keeps the rendered text, but its view decorator runs inside Flask after routing, sessions and
the before-request hooks, which is most of the cost here.
"""

from __future__ import annotations

import hashlib
import threading

from flask import Flask, request
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header
from werkzeug.sansio.utils import host_is_trusted

ENVIRON_KEY = "portal.page_cache"
MAX_ENTRIES = 2000  # every lesson part in every language is a few hundred; the rest is a bound, not a target
DROPPED_HEADERS = {"set-cookie", "date", "content-length", "etag"}


def offer() -> None:
    """Called by a view rendering a page for a visitor: its response may be kept for every visitor."""
    request.environ[ENVIRON_KEY] = True


class _Entry:
    __slots__ = ("body", "etag", "headers", "not_modified")

    def __init__(self, body: bytes, headers: list[tuple[str, str]]):
        self.body = body
        self.etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        kept = [(name, value) for name, value in headers if name.lower() not in DROPPED_HEADERS]
        self.headers = [*kept, ("ETag", self.etag), ("Content-Length", str(len(body)))]
        self.not_modified = [(name, value) for name, value in kept
                             if name.lower() in ("cache-control", "vary", "content-security-policy")]
        self.not_modified.append(("ETag", self.etag))


class VisitorPageCache:
    """WSGI middleware around the Flask app; see the module docstring."""

    def __init__(self, wsgi_app, app: Flask):
        self.wsgi_app = wsgi_app
        self.app = app
        self.entries: dict[tuple, _Entry] = {}
        self.lock = threading.Lock()
        self.hits = 0

    # --- which requests may be answered from here ----------------------------------------------------------

    def _key(self, environ) -> tuple | None:
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return None
        config = self.app.config
        cookies = environ.get("HTTP_COOKIE", "")
        if cookies and config["SESSION_COOKIE_NAME"] + "=" in cookies:
            return None  # a session (signed in, or a message waiting): Flask answers
        query = environ.get("QUERY_STRING", "")
        languages = config["LANGUAGES"]
        if query:
            lang = query.removeprefix("lang=")
            if not query.startswith("lang=") or lang not in languages:
                return None
        else:
            accepted = parse_accept_header(environ.get("HTTP_ACCEPT_LANGUAGE", ""), LanguageAccept)
            lang = accepted.best_match(languages) or config["BABEL_DEFAULT_LOCALE"]
        host = environ.get("HTTP_HOST", "")
        trusted = config.get("TRUSTED_HOSTS")
        if trusted and not host_is_trusted(host, trusted):
            return None  # Flask refuses it with its plain 400
        return (environ.get("PATH_INFO", ""), lang, self.app.extensions.get("portal.lessons.fingerprint"))

    # --- WSGI -----------------------------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        key = self._key(environ)
        entry = self.entries.get(key) if key is not None else None
        if entry is not None:
            self.hits += 1
            if entry.etag in environ.get("HTTP_IF_NONE_MATCH", ""):
                start_response("304 NOT MODIFIED", entry.not_modified)
                return [b""]
            start_response("200 OK", entry.headers)
            return [b"" if environ["REQUEST_METHOD"] == "HEAD" else entry.body]
        if key is None:
            return self.wsgi_app(environ, start_response)
        return self._render_and_keep(key, environ, start_response)

    def _render_and_keep(self, key: tuple, environ, start_response):
        seen: dict = {}

        def capture(status, headers, exc_info=None):
            if exc_info is not None:
                return start_response(status, headers, exc_info)
            seen["status"], seen["headers"] = status, headers  # answered below, once it is known what to send
            return lambda data: None  # Flask never uses write(); the body comes back as the iterable

        result = self.wsgi_app(environ, capture)
        status, headers = seen.get("status", ""), seen.get("headers", [])
        if not environ.get(ENVIRON_KEY) or environ["REQUEST_METHOD"] != "GET" or not status.startswith("200 ") or \
                any(name.lower() == "set-cookie" for name, _value in headers):
            if status:
                start_response(status, headers)
            return result
        try:
            body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        entry = _Entry(body, headers)
        with self.lock:
            if len(self.entries) < MAX_ENTRIES:
                self.entries[key] = entry
        start_response("200 OK", entry.headers)  # the first visitor gets the same headers and ETag as the rest
        return [body]

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


def init_app(app: Flask) -> VisitorPageCache:
    """Put the cache in front of the app; `app.extensions["portal.page_cache"]` is it (for tests and stats)."""
    cache = VisitorPageCache(app.wsgi_app, app)
    app.wsgi_app = cache
    app.extensions["portal.page_cache"] = cache
    return cache
