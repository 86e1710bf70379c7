"""Language and time-zone choice, and the formatting helpers templates use."""

from __future__ import annotations

import re

from flask import Flask, current_app, has_request_context, request, session
from flask_babel import Babel, format_date, format_datetime, get_locale
from flask_login import current_user
from markupsafe import Markup, escape

HANGUL = "\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3"
# A run of Korean words, with the spaces and punctuation between them, e.g. "교육지원청 관리자".
KOREAN_RUN = re.compile(f"[{HANGUL}]+(?:[\\s·,.()-]*[{HANGUL}]+)*")
TAG = re.compile(r"(<[^>]*>)")


def select_locale() -> str:
    """The user's saved choice, then the page address's (?lang=, for visitors' pages that set no cookie), then
    this session's choice, then the browser's, then Korean."""
    languages = current_app.config["LANGUAGES"]
    if current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    if request.args.get("lang") in languages:
        return request.args["lang"]
    if session.get("lang") in languages:
        return session["lang"]
    return request.accept_languages.best_match(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    """The signed-in user's school time zone; Asia/Seoul otherwise."""
    if current_user.is_authenticated and current_user.school is not None:
        return current_user.school.timezone
    return current_app.config["BABEL_DEFAULT_TIMEZONE"]


def locale_code() -> str:
    """The current locale as a short language code ("ko" or "en")."""
    return str(get_locale() or "ko").split("_")[0]


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
    return format_datetime(value, DATETIME_PATTERNS.get(locale_code(), DATETIME_PATTERNS["en"])) if value else ""


def show_date(value, _fmt: str = "long") -> str:
    """A date as the page's language writes it, with a four-digit year."""
    return format_date(value, DATE_PATTERNS.get(locale_code(), DATE_PATTERNS["en"])) if value else ""


def _keep_visitor_language(endpoint: str, values: dict) -> None:
    """A visitor who chose a language by the address (?lang=) keeps it on every link the page makes."""
    if not has_request_context():
        return
    lang = request.args.get("lang")
    if endpoint != "static" and "lang" not in values and lang in current_app.config["LANGUAGES"] \
            and not current_user.is_authenticated:
        values["lang"] = lang


def init_app(app: Flask, babel: Babel) -> None:
    """Bind flask-babel and expose the helpers to templates."""
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.url_defaults(_keep_visitor_language)
    # flask-babel 4 does not put get_locale into Jinja by itself.
    app.jinja_env.globals.update(
        get_locale=get_locale, locale_code=locale_code, localized=localized, lang_attrs=lang_attrs,
    )
    app.jinja_env.filters["inline_lang"] = inline_lang
    app.jinja_env.filters["datetime"] = show_datetime
    app.jinja_env.filters["date"] = show_date
