"""Extensions, created unbound; create_app() binds them."""

from flask_babel import Babel
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base for every model."""


def client_address() -> str:
    """The client address as the WSGI server (or a configured proxy fix) reports it."""
    from flask import request

    return request.remote_addr or "unknown"


def shared_limits_down() -> bool:
    """True when rate limits are meant to be shared through Redis and Redis does not answer (each process then
    counts on its own)."""
    from flask import current_app

    if not current_app.config["RATELIMIT_STORAGE_URI"].startswith(("redis://", "rediss://")):
        return False
    try:
        return not limiter.storage.check()
    except Exception:  # any failure to reach the storage means the same: not shared right now
        return True


db = SQLAlchemy(model_class=Base)
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(key_func=client_address)
