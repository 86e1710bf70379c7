"""Language and time-zone choice, and the formatting helpers templates use."""

from __future__ import annotations

from flask import Flask, current_app, request, session
from flask_babel import Babel, format_date, format_datetime, get_locale
from flask_login import current_user


def select_locale() -> str:
    """The user's saved choice, then this session's choice, then the browser's, then Korean."""
    languages = current_app.config["LANGUAGES"]
    if current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
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


def init_app(app: Flask, babel: Babel) -> None:
    """Bind flask-babel and expose the helpers to templates."""
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    # flask-babel 4 does not put get_locale into Jinja by itself.
    app.jinja_env.globals.update(
        get_locale=get_locale, locale_code=locale_code, localized=localized,
    )
    app.jinja_env.filters["datetime"] = lambda value, fmt="medium": format_datetime(value, fmt) if value else ""
    app.jinja_env.filters["date"] = lambda value, fmt="medium": format_date(value, fmt) if value else ""
