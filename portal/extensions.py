"""Extensions, created unbound; create_app() binds them."""

import functools
import logging
import threading

from flask_babel import Babel
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from limits.storage import MemoryStorage
from sqlalchemy.orm import DeclarativeBase

from portal import ratelimits  # noqa: F401  registers the "sqlite" scheme of shared rate-limit counters

REDIS_LIMITS = ("redis://", "rediss://")
# The storages whose counters every worker process shares: Redis (several machines), the instance's file (one).
SHARED_LIMITS = (*REDIS_LIMITS, ratelimits.PREFIX)


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

    def give_back(self, key: str) -> None:
        """One off a counter whose window is still running, never below zero (failures_only)."""
        if self.get(key) > 0:  # get() forgets a counter whose window has ended
            with self.locks[key]:
                if self.storage.get(key, 0) > 0:
                    self.storage[key] -= 1

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


def failures_only(failed):
    """For a view whose rate limits count failed attempts only (a wrong password or code): under its
    `limiter.limit(...)` decorators (given without deduct_when), so that Flask-Limiter counts every attempt before
    the view runs, and an attempt that did not fail (`failed(response)` is false) is given back after it.

    Not Flask-Limiter's deduct_when, which checks the count before the view and adds to it after: every attempt
    already under way has passed the check, so with N worker processes of two threads each up to 2N - 1 guesses
    got past a limit at once (tests/test_cli.py). Counted first, the limit holds however many run at once; a
    whole school signing in at 09:00 with right passwords still counts nothing once each is given back.
    """
    def decorate(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            from flask import make_response, request

            response = make_response(view(*args, **kwargs))
            if request.method == "POST" and not failed(response):
                _give_back()
            return response
        return wrapped
    return decorate


# Redis's give_back, in one step like the others': one off a counter that is still running, never below zero.
_GIVE_BACK_LUA = "local n = tonumber(redis.call('GET', KEYS[1]) or '0') if n > 0 then redis.call('DECR', KEYS[1]) end"


def _give_back() -> None:
    """Take this request's hit off each limit it was counted against (they are all failure-only limits). Only
    from a window still running and never below zero: given back after its window ended, the next window would
    start below zero, and right passwords for one's own account sent at a window's end would buy extra guesses."""
    if not limiter.enabled:  # RATELIMIT_ENABLED = False: nothing was counted
        return
    try:
        storage = limiter.limiter.storage  # the shared storage, or the memory fallback while that does not answer
        for applied in limiter.current_limits:
            give_back(storage, applied.key)
    except Exception:  # the storage failed meanwhile: the attempt stays counted, which only errs on the safe side
        logging.getLogger("portal.limits").warning("a successful attempt could not be taken off its rate limit")


def give_back(storage, key: str) -> None:
    """One off the counter `key` of a limits storage if its window is still running, never below zero."""
    if hasattr(storage, "give_back"):  # the instance's file, memory
        storage.give_back(key)
    else:  # limits' Redis storages
        storage.get_connection().register_script(_GIVE_BACK_LUA)([storage.prefixed_key(key)])


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
    return None if answers else ("file" if uri.startswith(ratelimits.PREFIX) else "redis")


db = SQLAlchemy(model_class=Base)
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(key_func=client_address)
