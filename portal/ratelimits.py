"""Rate-limit counters in a SQLite file of the instance folder ("sqlite:///<path>"), shared by every worker
process of one machine, for a school server without Redis.

Without shared counters each worker process would count on its own and allow the full number of failed sign-ins,
so `portal serve` ran a single process without Redis: one core of the machine for every page and report. Redis
shares them across machines (a district's several servers); this file shares them across the processes of one.
limits has no storage of this kind (memory, Redis, Memcached, MongoDB only), so it is written here, against limits'
documented base class: its fixed-window counters (the only strategy the portal uses) need incr, get and
get_expiry, each one statement.

Each counter is a row (key, count, expires), changed by one atomic statement, so two processes never lose a hit.
A key names a client address or an account (the anonymous page counts its senders' addresses too, and promises to
store nothing about them): the file holds only an HMAC of each key, under a secret that `portal serve` makes at
each start and gives its worker processes only (RATELIMIT_SECRET; derived from SECRET_KEY when another server
runs portal.wsgi), so that the file, a copy of it or of the whole instance folder cannot tell whether an address
was counted. Rows whose window has ended are deleted and overwritten, and the write-ahead log is emptied then too.
The file is written without waiting for the disk (synchronous=OFF): a power cut may forget the last second's
counts, which is a few failed sign-ins more for someone, never a lost report; the database of cases is a separate
file with its own, full durability.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
import threading
import time

from limits.storage import Storage

SCHEME = "sqlite"
PREFIX = f"{SCHEME}:"  # how a RATELIMIT_STORAGE_URI naming such a file begins
# The secret of each file's keys, by its RATELIMIT_STORAGE_URI, which create_app records here. Not passed through
# RATELIMIT_STORAGE_OPTIONS: Flask-Limiter adds each app's options to the ones before, so in a process that made
# several apps (the tests) a Redis storage was handed this secret and could not connect.
SECRETS: dict[str, str] = {}
_SETUP = (
    "PRAGMA journal_mode=WAL",  # readers of a count do not wait for a writer
    "PRAGMA synchronous=OFF",
    "PRAGMA secure_delete=ON",  # a deleted counter is overwritten in the file
    "PRAGMA journal_size_limit=0",  # and the log that held it is emptied at each sweep's checkpoint
    "CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, count INTEGER NOT NULL, expires REAL NOT NULL)",
)
# A window that has run out starts again at this hit, as limits' own storages do; otherwise the hit is added.
# SQLite computes every SET from the row as it was, so `expires` in the second line is still the old one.
_HIT = """
INSERT INTO counters (key, count, expires) VALUES (:key, :amount, :now + :expiry)
ON CONFLICT (key) DO UPDATE SET
    count = CASE WHEN counters.expires <= :now THEN excluded.count ELSE counters.count + excluded.count END,
    expires = CASE WHEN counters.expires <= :now THEN excluded.expires ELSE counters.expires END
RETURNING count
"""


# A row of its own (no HMAC is "probe"), expired at once: the next sweep deletes it.
_PROBE = "INSERT INTO counters (key, count, expires) VALUES ('probe', 0, 0) ON CONFLICT (key) DO UPDATE SET count = 0"


class SharedFileCounters(Storage):
    """limits' storage for "sqlite:///<absolute path>": one connection per thread of each process."""

    STORAGE_SCHEME = [SCHEME]
    SWEEP_SECONDS = 60.0  # how often a process deletes the counters whose window has run out
    # A statement waits this long for another process's, which takes microseconds; longer means the file is held
    # (an operator's sqlite3 shell, a stuck process) and Flask-Limiter counts in memory until check() writes again.
    BUSY_MILLISECONDS = 250
    FRESH_SECONDS = 0.5  # a write this recent shows the file can be written (check())

    def __init__(self, uri: str, wrap_exceptions: bool = False, key_secret: str = "", **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions)  # other options are another storage's (Redis's)
        key_secret = key_secret or SECRETS.get(uri, "")
        if not key_secret:  # create_app records it in SECRETS (hex)
            raise ValueError("the rate-limit file needs a secret: its keys are stored as HMACs only")
        self._secret = bytes.fromhex(key_secret)
        self.path = uri.removeprefix(f"{PREFIX}///")
        self._local = threading.local()
        self._next_sweep = 0.0
        self._written_at = float("-inf")  # when this process last wrote to the file (time.monotonic)

    @property
    def base_exceptions(self):
        return sqlite3.Error, OSError  # OSError: the file cannot be made (a missing folder, another owner)

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection; a new one in a forked worker (a connection must not cross a fork)."""
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            # Made 0600 before SQLite opens it, which gives its -wal and -shm files the same mode.
            os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
            conn = sqlite3.connect(self.path, timeout=self.BUSY_MILLISECONDS / 1000, isolation_level=None,
                                   check_same_thread=False)
            for statement in _SETUP:
                conn.execute(statement)
            local.conn, local.pid = conn, os.getpid()
        return local.conn

    def _row_key(self, key: str) -> str:
        return hmac.new(self._secret, key.encode("utf-8"), hashlib.sha256).hexdigest()

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        now = time.time()
        conn = self._connection()
        values = {"key": self._row_key(key), "amount": amount, "now": now, "expiry": expiry}
        try:
            count = conn.execute(_HIT, values).fetchone()[0]
        except sqlite3.Error:
            self._written_at = float("-inf")
            raise
        self._written_at = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + self.SWEEP_SECONDS
            try:
                conn.execute("DELETE FROM counters WHERE expires <= ?", (now,))
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:  # the hit is counted; the next sweep deletes what this one could not
                self._written_at = float("-inf")
        return count

    def give_back(self, key: str) -> None:
        """One off a counter whose window is still running, never below zero (extensions.failures_only)."""
        self._connection().execute("UPDATE counters SET count = count - 1 WHERE key = ? AND expires > ? AND count > 0",
                                   (self._row_key(key), time.time()))

    def get(self, key: str) -> int:
        row = self._connection().execute(
            "SELECT count FROM counters WHERE key = ? AND expires > ?", (self._row_key(key), time.time())).fetchone()
        return row[0] if row else 0

    def get_expiry(self, key: str) -> float:
        now = time.time()
        row = self._connection().execute(
            "SELECT expires FROM counters WHERE key = ? AND expires > ?", (self._row_key(key), now)).fetchone()
        return row[0] if row else now

    def check(self) -> bool:
        """Whether a hit can be counted now: a write, as a hit is (in WAL mode a read succeeds while writes wait
        or fail, on a held lock or a full disk). Flask-Limiter asks before it leaves its memory fallback, and so
        does the health check; a hit this process wrote in the last half second answers for it, so that a busy
        server or a load balancer's polling adds no writes."""
        if time.monotonic() - self._written_at < self.FRESH_SECONDS:
            return True
        try:
            self._connection().execute(_PROBE)
        except (sqlite3.Error, OSError):
            self._written_at = float("-inf")
            return False
        self._written_at = time.monotonic()
        return True

    def reset(self) -> int | None:
        return self._connection().execute("DELETE FROM counters").rowcount

    def clear(self, key: str) -> None:
        self._connection().execute("DELETE FROM counters WHERE key = ?", (self._row_key(key),))
