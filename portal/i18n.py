"""Language and time-zone choice, and the formatting helpers templates use."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cached_property, lru_cache

from babel import Locale, dates, support
from flask import Flask, Request, current_app, g, has_request_context, request, session
from flask_babel import Babel, Domain, get_domain, get_locale, get_timezone
from flask_login import current_user
from jinja2 import pass_eval_context
from markupsafe import Markup, escape
from wtforms.i18n import messages_path

HANGUL = "\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3"
# A run of Korean words, with the spaces and punctuation between them, e.g. "교육지원청 관리자".
KOREAN_RUN = re.compile(f"[{HANGUL}]+(?:[\\s·,.()-]*[{HANGUL}]+)*")
TAG = re.compile(r"(<[^>]*>)")


def select_locale() -> Locale:
    """The user's saved choice, then the page address's (?lang=, for visitors' pages that set no cookie), then
    this session's choice, then the browser's, then Korean."""
    return _locale(_chosen_language(current_app.config["LANGUAGES"]))


def _chosen_language(languages) -> str:
    if current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    if request.args.get("lang") in languages:
        return request.args["lang"]
    if session.get("lang") in languages:
        return session["lang"]
    return request.accept_languages.best_match(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]


@lru_cache(maxsize=16)
def _locale(code: str) -> Locale:
    """One Locale object for each language, for every request of the process. The catalogs, vocabularies and
    formatted dates are kept in dicts keyed by the request's locale, and a dict finds the very same object by
    identity; a new Locale each request was compared with Locale.__eq__ instead (2.7 µs, on every translated
    string: 0.3 ms of a case file)."""
    return Locale.parse(code)


def select_timezone() -> str:
    """The signed-in user's school time zone; Asia/Seoul otherwise."""
    if current_user.is_authenticated and current_user.school is not None:
        return current_user.school.timezone
    return current_app.config["BABEL_DEFAULT_TIMEZONE"]


def current_locale():
    """flask-babel's get_locale(), in one look-up once the request's locale is chosen: a page asks hundreds of
    times (each translated string), and get_locale() makes three context look-ups a call (1.6 µs)."""
    try:
        locale = g._flask_babel.babel_locale  # where get_locale() and force_locale() keep it
    except (AttributeError, RuntimeError):  # not chosen yet, or no app context (get_locale() says None)
        locale = None
    return locale if locale is not None else get_locale()


def locale_code() -> str:
    """The current locale as a short language code ("ko" or "en")."""
    locale = current_locale()
    return locale.language if locale else "ko"


# flask-babel finds the catalog again on every call (several context look-ups, about 4 µs), and a page of 50
# cases asks hundreds of times. The catalogs never change while the process runs, so each language's is kept
# here, found by the locale: force_locale (a mail in its reader's language) still gets its own.
_CATALOGS: dict = {}


def translations():
    """The current language's catalog."""
    locale = current_locale()
    catalog = _CATALOGS.get(locale)
    if catalog is None:
        catalog = _CATALOGS[locale] = Domain.get_translations(get_domain())
    return catalog


class CatalogDomain(Domain):
    """flask-babel's domain, finding its catalog through translations(): lazy strings (form labels, messages)
    and gettext in views then cost what a template's translated string does."""

    def get_translations(self):
        return translations() if has_request_context() else super().get_translations()


# Jinja's "new style" gettext (what flask-babel installs), without its per-call overhead (4 µs of 6): the same
# result, a translated string that is always a format string (a literal % is written %%). They take the evaluation
# context (is the template autoescaped?), not the whole context as Jinja's own do: called inside a loop, a function
# that takes the context gets a new one made for it, a copy of every variable and block (a seventh of a case
# file's rendering went there).
@pass_eval_context
def _template_gettext(eval_context, string, **variables):
    text = translations().ugettext(string)
    return _formatted_markup(eval_context, text, variables)


@pass_eval_context
def _template_ngettext(eval_context, singular, plural, num, **variables):
    variables.setdefault("num", num)
    return _formatted_markup(eval_context, translations().ungettext(singular, plural, num), variables)


@pass_eval_context
def _template_pgettext(eval_context, string_context, string, **variables):
    variables.setdefault("context", string_context)
    return _formatted_markup(eval_context, translations().upgettext(string_context, string), variables)


@pass_eval_context
def _template_npgettext(eval_context, string_context, singular, plural, num, **variables):
    variables.setdefault("context", string_context)
    variables.setdefault("num", num)
    text = translations().unpgettext(string_context, singular, plural, num)
    return _formatted_markup(eval_context, text, variables)


def _formatted_markup(eval_context, text: str, variables: dict):
    if eval_context.autoescape:
        text = Markup(text)  # noqa: S704  a translation of our own template's text; variables are escaped by %
    return text % variables if variables or "%" in text else text


@lru_cache(maxsize=8)
def _wtforms_catalog(locale):
    return support.Translations.load(messages_path(), [locale], domain="wtforms")


class PortalRequest(Request):
    """Flask's request, with WTForms' own messages (a field that is required, a bad choice) in the page's
    language kept per language: Flask-WTF reads and parses that catalog from disk once per request otherwise
    (0.7 ms a form page). Flask-WTF looks for `request.wtforms_translations` before it loads the catalog."""

    @cached_property
    def wtforms_translations(self):
        return _wtforms_catalog(current_locale())


def localized(value: dict[str, str] | None) -> str:
    """Pick the current language's text out of a {"ko": ..., "en": ...} mapping."""
    if not value:
        return ""
    return value.get(locale_code()) or value.get("ko") or next(iter(value.values()))


def mark_korean(html: str, language: str) -> str:
    """In HTML that is not in Korean, wrap each run of Korean text (never a tag) in <span lang="ko">."""
    if language == "ko" or not KOREAN_RUN.search(html):
        return html
    parts = TAG.split(html)
    parts[::2] = [KOREAN_RUN.sub(lambda m: f'<span lang="ko">{m.group(0)}</span>', text) for text in parts[::2]]
    return "".join(parts)


def inline_lang(value: object) -> Markup:
    """Escape a value for the page and mark the Korean in it when the page is in another language, so that a
    screen reader reads names, places and terms in Korean with a Korean voice (WCAG 3.1.2)."""
    return Markup(mark_korean(str(escape("" if value is None else value)), locale_code()))  # noqa: S704  escaped


def lang_attrs(text: object) -> dict[str, str]:
    """Attributes that mark a whole element (a select option, say) as Korean on a page in another language."""
    return {"lang": "ko"} if locale_code() != "ko" and KOREAN_RUN.search(str(text or "")) else {}


# How each language writes a date and time, always with a four-digit year (CLDR's short Korean form "26. 11. 30."
# is ambiguous on a record that is kept for years). Times are in the school's time zone.
DATETIME_PATTERNS = {"ko": "yyyy. M. d. a h:mm", "en": "d MMM yyyy, h:mm a"}
DATE_PATTERNS = {"ko": "yyyy년 M월 d일", "en": "d MMMM yyyy"}


def show_datetime(value, _fmt: str = "short") -> str:
    """A date and time as the page's language writes it, with a four-digit year."""
    return _formatted(value, "datetime", current_locale(), get_timezone()) if value else ""


def show_date(value, _fmt: str = "long") -> str:
    """A date as the page's language writes it, with a four-digit year."""
    return _formatted(value, "date", current_locale(), get_timezone()) if value else ""


# Babel takes about 7 µs a date and an inbox page shows a hundred; the same moments come back page after page (a
# case's opening time, its deadlines), so each is formatted once per language and time zone. Formatted as
# flask-babel's format_datetime and format_date do, in the school's time zone.
@lru_cache(maxsize=4096)
def _formatted(value, kind: str, locale, zone) -> str:
    language = locale.language if locale else "ko"
    if kind == "datetime":
        return dates.format_datetime(value, DATETIME_PATTERNS.get(language, DATETIME_PATTERNS["en"]), tzinfo=zone,
                                     locale=locale)
    if isinstance(value, datetime):  # the day it is at the school
        value = zone.normalize((value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(zone))
    return dates.format_date(value, DATE_PATTERNS.get(language, DATE_PATTERNS["en"]), locale=locale)


def _keep_visitor_language(endpoint: str, values: dict) -> None:
    """A visitor who chose a language by the address (?lang=) keeps it on every link the page makes."""
    if endpoint == "static" or "lang" in values or not has_request_context():
        return
    # Every link of every page asks: the cheapest questions first. `in`, not get(): a MultiDict's get() raises and
    # catches a BadRequestKeyError for each miss (60 of them an inbox page).
    args = request.args
    if "lang" in args and args["lang"] in current_app.config["LANGUAGES"] and not current_user.is_authenticated:
        values["lang"] = args["lang"]


def init_app(app: Flask, babel: Babel) -> None:
    """Bind flask-babel and expose the helpers to templates."""
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.request_class = PortalRequest
    babel.domain_instance = CatalogDomain()  # in place of flask-babel's (a cached property, set once)
    app.jinja_env.globals.update(  # flask-babel's, with the catalog kept per language (above)
        gettext=_template_gettext, _=_template_gettext, ngettext=_template_ngettext,
        pgettext=_template_pgettext, npgettext=_template_npgettext,
    )
    app.url_defaults(_keep_visitor_language)
    # flask-babel 4 does not put get_locale into Jinja by itself.
    app.jinja_env.globals.update(
        get_locale=get_locale, locale_code=locale_code, localized=localized, lang_attrs=lang_attrs,
    )
    app.jinja_env.filters["inline_lang"] = inline_lang
    app.jinja_env.filters["datetime"] = show_datetime
    app.jinja_env.filters["date"] = show_date
