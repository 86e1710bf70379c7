"""Translated error pages without tracebacks or internal detail."""

from __future__ import annotations

import logging

from flask import Flask, Response, g, render_template, request, session
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import BadRequest, HTTPException, InternalServerError, SecurityError

from portal import jurisdiction

log = logging.getLogger("portal.errors")

MESSAGES = {
    400: (_l("Something in that request was not right"),
          _l("The page could not use what was sent. Go back, reload the page and try again.")),
    403: (_l("Not allowed"), _l("You do not have permission to do that.")),
    404: (_l("Page not found"), _l("There is no page at this address, or you do not have access to it.")),
    405: (_l("Not allowed"), _l("That action is not possible on this page.")),
    503: (_l("The portal cannot save right now"), _l("Please try again later.")),
    413: (_l("Too much data"), _l("What was sent is too large. Files cannot be uploaded to this portal.")),
    429: (_l("Too many attempts"), _l("Please wait a few minutes and try again.")),
    500: (_l("Something went wrong"),
          _l("The portal could not finish this. Nothing you sent was shown to anyone else. Please try again.")),
}


def _render(code: int, detail=None):
    title, text = MESSAGES.get(code, MESSAGES[500])
    return render_template("errors/error.html", code=code, title=title, text=detail or text), code


def _http_error(error: HTTPException):
    code = error.code or 500
    return _render(code if code in MESSAGES else 500)


def _csrf_error(_error: CSRFError):
    return _render(400, _l("This form had expired or came from another site. Reload the page and send it again; "
                           "what you typed may still be there if you go back."))


def _is_disk_full(error: BaseException) -> bool:
    """SQLite's "database or disk is full", PostgreSQL's DiskFull, or ENOSPC from a file write."""
    import errno

    from sqlalchemy.exc import OperationalError

    if isinstance(error, OperationalError):
        orig = error.orig
        return "disk is full" in str(orig) or type(orig).__name__ == "DiskFull"
    return isinstance(error, OSError) and error.errno == errno.ENOSPC


def _storage_error(error: Exception):
    """The storage failed, not the request: a full disk, or a database that is restarting, unreachable or busy.
    Said plainly (503), with what to do, instead of a 500, on a page that needs nothing from the database."""
    from sqlalchemy.exc import InterfaceError, OperationalError

    from portal.extensions import db

    if _is_disk_full(error):
        log.error("the disk is full: a write was refused and rolled back")
        text = _l("The server's disk is full, so nothing you sent was saved. Please tell whoever runs the portal at "
                  "your school, and try again later. If someone is in danger, call %(police)s now.")
    elif isinstance(error, OperationalError | InterfaceError):
        log.error("the database did not answer (%s)", type(getattr(error, "orig", error)).__name__)
        text = _l("The portal's database did not answer, so this was not finished. Go back and try again in a "
                  "minute: a report sent again is not saved twice. If someone is in danger, call %(police)s now.")
    else:
        raise error
    g.portal_storage_error = error  # from here on nothing in this request asks the database (security._set_headers)
    jurisdiction.use(jurisdiction.current(load=False))
    try:
        db.session.rollback()
    except Exception:  # the connection is gone; the pool replaces it on the next request
        log.warning("rollback after a storage failure did not reach the database")
    # The language from the session or the browser only: the user's saved choice would need the database.
    lang = session.get("lang") if session.get("lang") in ("ko", "en") else \
        request.accept_languages.best_match(["ko", "en"]) or "ko"
    with force_locale(lang):
        page = render_template("errors/storage.html", lang=lang, title=str(MESSAGES[503][0]),
                               text=str(text) % jurisdiction.numbers())
    return page, 503


def _server_error(_error: Exception):
    return _render(500)


def _refuse_untrusted_host():
    """Answer a request for a host name the portal does not serve before any hook builds a URL from it.

    The page is plain bilingual text: with an untrusted Host no URL can be built, so no template can be rendered.
    """
    if not isinstance(request.routing_exception, SecurityError):
        return None
    lines = []
    for locale in ("ko", "en"):
        with force_locale(locale):
            lines.append(_("The portal does not answer at this address. Use the address your school gave you."))
    return Response("400\n" + "\n".join(lines) + "\n", status=400, content_type="text/plain; charset=utf-8")


class UnstorableCharacter(BadRequest):
    """A NUL character in the address or a form: no database stores it in text, and no person types it."""


def _refuse_nul():
    """Refuse a NUL anywhere a view could read it, before it reaches a query (PostgreSQL rejects it with 500)."""
    values = [request.path, *request.args.keys(), *request.args.values()]
    if request.method == "POST":
        values += [*request.form.keys(), *request.form.values()]
    if any("\x00" in value for value in values):
        raise UnstorableCharacter()
    return None


def _unstorable(_error):
    return _render(400, _l("What was sent contains a character that cannot be stored (a NUL character). "
                           "Remove it, or type the text again, and send it once more. Nothing was saved."))


def init_app(app: Flask) -> None:
    """Register the handlers; the host check runs before every other hook (CSRF and sessions included)."""
    app.before_request(_refuse_untrusted_host)
    app.before_request(_refuse_nul)
    app.register_error_handler(UnstorableCharacter, _unstorable)
    from sqlalchemy.exc import InterfaceError, OperationalError

    app.register_error_handler(OperationalError, _storage_error)
    app.register_error_handler(InterfaceError, _storage_error)
    app.register_error_handler(OSError, _storage_error)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(InternalServerError, _server_error)
