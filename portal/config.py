"""Configuration: safe defaults here, then instance/config.py, then PORTAL_* environment variables."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigurationError(RuntimeError):
    """A setting the portal cannot run with: every command stops at start and says which one and why."""


class Defaults:
    """Defaults for a single school server; production settings come from the instance config."""

    SQLALCHEMY_DATABASE_URI = None  # filled in from the instance path when not configured
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    CONTENT_PATH = str(PROJECT_ROOT / "content")
    BABEL_DEFAULT_LOCALE = "ko"
    BABEL_DEFAULT_TIMEZONE = "Asia/Seoul"
    # The law and help lines of pages that belong to no school (a visitor's lessons, the home page); a school's
    # own pages follow the jurisdiction in its settings (content/duties/ and content/help/ hold one pack each).
    DEFAULT_JURISDICTION = "KR"
    BABEL_TRANSLATION_DIRECTORIES = str(PROJECT_ROOT / "translations")
    LANGUAGES = ("ko", "en")

    # Sessions: the cookie only carries ids; the session version on the user row ends sessions on the server.
    SESSION_COOKIE_HTTPONLY = True  # scripts cannot read the session cookie
    SESSION_COOKIE_SAMESITE = "Lax"  # the cookie is not sent on cross-site POSTs
    SESSION_COOKIE_SECURE = False  # turned on with PREFERRED_URL_SCHEME = "https" (see finalize)
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)  # absolute lifetime; idle limits are per role
    IDLE_TIMEOUT_STAFF = timedelta(minutes=30)
    IDLE_TIMEOUT_STUDENT = timedelta(minutes=60)
    ABSOLUTE_SESSION_TIMEOUT = timedelta(hours=12)
    REMEMBER_COOKIE_DURATION = timedelta(seconds=0)
    HTTPS = False  # set True behind a TLS proxy: Secure cookies with the __Host- prefix, HSTS

    WTF_CSRF_TIME_LIMIT = 3600 * 4  # a long incident report must not lose its token mid-way
    # Flask-WTF's extra check over HTTPS wants a Referer from the same host, and the no-referrer policy of every page
    # stops browsers from sending one: behind TLS every form would be refused with 400. The session-bound token does
    # the work, and the session cookie (__Host-, Secure, SameSite=Lax) cannot be planted by another site or by a
    # plain-HTTP page.
    WTF_CSRF_SSL_STRICT = False

    # Rate limits. A whole school shares one NAT address, so per-address limits are generous and
    # per-account limits are tight (DESIGN.md principle 8).
    # None: a file in the instance folder that every worker process shares (ratelimits.db); PORTAL_REDIS_URL
    # (redis://…) shares them across several servers; "memory://" keeps them in each process (one worker only).
    RATELIMIT_STORAGE_URI = None
    RATELIMIT_HEADERS_ENABLED = False
    # Both count failed attempts only (a correct password never counts), and a browser that has signed in to the
    # account before is exempt from both (auth/devices.py): a whole school signing in at 09:00 is never refused,
    # and a student's guessing cannot lock a counselor out of their own computer.
    RATELIMIT_LOGIN_PER_ACCOUNT = "10 per 15 minutes"
    RATELIMIT_LOGIN_PER_ADDRESS = "300 per 15 minutes"
    # Wrong receipt codes per address on a school's public page (only failures count; each code also pauses
    # itself after 10 wrong tries): high enough that a whole school behind one address never meets it by mistake.
    RATELIMIT_RECEIPT_PER_ADDRESS = "60 per hour"
    # Reports sent through schools' public pages per address: a few outsiders cannot use up a school's hourly
    # limit (schools/anonymous_hourly_limit) from one address.
    RATELIMIT_CHANNEL_PER_ADDRESS = "10 per hour"
    # Reverse proxies in front of the portal (nginx: 1). With N > 0 the client address is taken from the
    # X-Forwarded-For header the last N proxies set (werkzeug's ProxyFix); 0 trusts no header.
    PROXY_COUNT = 0
    RATELIMIT_DEFAULT = "3000 per minute"
    # Redis down must never block a report: counting falls back to this process's memory (logged, and shown on the
    # school admin's dashboard) until Redis answers again; the same limits apply, per process.
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_SWALLOW_ERRORS = True

    PASSWORD_MIN_LENGTH = 10
    DEMO_MODE = False
    REQUIRE_TWO_FACTOR = True
    DATA_KEYS: dict[str, str] = {}  # key id -> base64 AES-256 key; the first listed key encrypts
    DATA_KEY_ID: str | None = None
    AUDIT_KEY: str | None = None  # base64; unset: derived from SECRET_KEY (see portal/crypto.py)
    # base64; keys the district signal's HMAC of each channel (see portal/crypto.py); unset: derived from SECRET_KEY
    SIGNAL_KEY: str | None = None
    AUDIT_CHECKPOINT_HOURS = 24  # the periodic check writes the chain's head to instance/audit-checkpoints.log

    MAX_CONTENT_LENGTH = 2 * 1024 * 1024  # forms and roster CSVs only; the portal never takes images

    MAIL_SERVER: str | None = None
    MAIL_PORT = 25
    MAIL_USE_STARTTLS = False
    MAIL_USERNAME: str | None = None
    MAIL_PASSWORD: str | None = None
    MAIL_FROM = "portal@localhost"
    MAIL_TIMEOUT = 10  # seconds per SMTP exchange; delivery runs after commit, so no user waits for it
    MAIL_COURIER = True  # deliver right after the commit that queued mail (else only the periodic check sends)
    PUBLIC_URL = "http://127.0.0.1:5000"  # every link in mail is built from this, never from the request
    # Host header values answered; None means PUBLIC_URL's host and loopback. Anything else gets 400.
    TRUSTED_HOSTS: list[str] | None = None

    # Seconds between runs of the periodic checks (escalations, retention, mail retries) in `portal serve`; one
    # process of the deployment runs them per interval, whichever takes the lease first.
    BACKGROUND_INTERVAL = 60

    ACK_DEADLINE_URGENT_HOURS = 1
    ACK_DEADLINE_NORMAL_HOURS = 24

    # Lesson progress of a deactivated student is deleted this many days after deactivation.
    STUDENT_DATA_RETENTION_DAYS = 365


ENV_PREFIX = "PORTAL_"
# Environment variables that map to config keys with other names.
ENV_ALIASES = {
    "DATABASE_URL": "SQLALCHEMY_DATABASE_URI",
    "REDIS_URL": "RATELIMIT_STORAGE_URI",
    "SECRET_KEY": "SECRET_KEY",
}


def load_environment(config: dict) -> None:
    """Apply PORTAL_* environment variables on top of the file configuration."""
    for name, value in os.environ.items():
        if not name.startswith(ENV_PREFIX) or name in ("PORTAL_INSTANCE_PATH", "PORTAL_DEMO_PASSWORD"):
            continue
        key = name[len(ENV_PREFIX):]
        key = ENV_ALIASES.get(key, key)
        config[key] = _coerce(value, config.get(key), key)


LIST_KEYS = ("TRUSTED_HOSTS",)


def _coerce(value: str, current: object, key: str = "") -> object:
    """Turn an environment string into the type of the setting it replaces."""
    if isinstance(current, bool):
        return value.lower() in ("1", "true", "yes", "on")
    if isinstance(current, int):
        return int(value)
    if isinstance(current, timedelta):
        return timedelta(minutes=float(value))  # PORTAL_IDLE_TIMEOUT_STAFF=20 means 20 minutes
    if isinstance(current, list | tuple) or key in LIST_KEYS:
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def write_instance_config(instance_path: Path) -> Path:
    """Create instance/config.py with a random secret key and data key (mode 0600) if it is missing."""
    instance_path.mkdir(parents=True, exist_ok=True)
    os.chmod(instance_path, 0o700)
    path = instance_path / "config.py"
    if path.exists():
        return path
    import base64

    key_id = "k" + secrets.token_hex(4)
    data_key = base64.b64encode(secrets.token_bytes(32)).decode()
    text = (
        "# Made on first run. Keep this file private: it holds the keys that protect case records.\n"
        "# A backup of the database cannot be read without DATA_KEYS.\n"
        f"SECRET_KEY = {secrets.token_urlsafe(48)!r}\n"
        f"DATA_KEY_ID = {key_id!r}\n"
        f"DATA_KEYS = {{{key_id!r}: {data_key!r}}}\n"
        "# The audit log's chain is keyed with this (outside the database): keep it with the data keys.\n"
        f"AUDIT_KEY = {base64.b64encode(secrets.token_bytes(32)).decode()!r}\n"
        "# The district signal compares channels by an HMAC under this key, never by the link itself.\n"
        f"SIGNAL_KEY = {base64.b64encode(secrets.token_bytes(32)).decode()!r}\n"
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path
