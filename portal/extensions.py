"""Extensions, created unbound; create_app() binds them."""

import threading

from flask_babel import Babel
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from limits.storage import MemoryStorage
from sqlalchemy.orm import DeclarativeBase

from portal import ratelimits  # noqa: F401  registers the "sqlite" scheme of shared rate-limit counters

# The storages whose counters every worker process shares: Redis (several machines), the instance's file (one).
SHARED_LIMITS = ("redis://", "rediss://", f"{ratelimits.SCHEME}:")


def shares_limits(storage_uri: str) -> bool:
    """Whether every worker process counts in the same place with this RATELIMIT_STORAGE_URI."""
    return storage_uri.startswith(SHARED_LIMITS)


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


def shared_limits_down() -> str | None:
    """Which shared storage of rate limits does not answer ("redis", or "file": the instance's), each process then
    counting on its own; None when they are shared as meant, or kept in memory on purpose."""
    from flask import current_app

    uri = current_app.config["RATELIMIT_STORAGE_URI"]
    if not shares_limits(uri):
        return None
    try:
        answers = limiter.storage.check()
    except Exception:  # any failure to reach the storage means the same: not shared right now
        answers = False
    return None if answers else ("file" if uri.startswith(f"{ratelimits.SCHEME}:") else "redis")


db = SQLAlchemy(model_class=Base)
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(key_func=client_address)
