"""Extensions, created unbound; create_app() binds them."""

import threading

from flask_babel import Babel
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from limits.storage import MemoryStorage
from sqlalchemy.orm import DeclarativeBase


class _MemoryCounters(MemoryStorage):
    """limits' in-memory counters ("memory://", one process), sweeping expired counters at most once a second.

    limits' own class starts a thread to sweep 10 ms after a hit whenever its last sweep has ended: with requests
    more than 10 ms apart, a thread for each request (6 % of a report's time). A counter past its window is reset
    when it is next read anyway (limits' get()), so the sweep only frees memory, and once a second is enough.
    """

    STORAGE_SCHEME = ["memory"]  # takes the scheme over from limits' class (its registry keeps the last one)
    SWEEP_SECONDS = 1.0

    def _MemoryStorage__schedule_expiry(self) -> None:  # limits' private hook, by the name Python gives it
        if not self.timer.is_alive():
            self.timer = threading.Timer(self.SWEEP_SECONDS, self._MemoryStorage__expire_events)
            self.timer.daemon = True
            self.timer.start()


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
