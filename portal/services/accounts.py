"""Passwords, sign-in and account changes."""

from __future__ import annotations

import hashlib
import re
import secrets
from functools import cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.crypto import argon2_stand_in
from portal.models import ROLES, Role, School, User
from portal.models.base import utcnow
from portal.services.errors import ServiceError
from portal.services.mail import valid_address

# argon2-cffi's defaults are the RFC 9106 low-memory profile of argon2id (64 MiB, 3 passes).
_hasher = PasswordHasher()


class AccountError(ServiceError):
    """A request about an account that cannot be carried out; `code` names the reason."""


@cache
def _common_passwords() -> frozenset[str]:
    text = resources.files("portal").joinpath("data/common-passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


PASSWORD_PROBLEMS = ("too_short", "too_long", "too_common")  # the codes password_problem() returns


def password_problem(password: str, username: str = "", min_length: int = 10) -> str | None:
    """Name what is wrong with a new password, or None when it is acceptable."""
    if len(password) < min_length:
        return "too_short"
    if len(password) > 256:
        return "too_long"
    lowered = password.lower()
    if lowered in _common_passwords() or (username and username.lower() in lowered):
        return "too_common"
    if len(set(password)) < 4:
        return "too_common"
    return None


def hash_password(password: str) -> str:
    """An argon2id hash of the password."""
    return _hasher.hash(password)


def check_password(user: User | None, password: str) -> bool:
    """True when the password matches; spends the same time when the user does not exist."""
    real = user.password_hash if user is not None else None
    try:
        return _hasher.verify(real or argon2_stand_in(_hasher), password) and real is not None
    except (VerificationError, InvalidHashError):
        return False


def find_user(session: Session, username: str) -> User | None:
    """The user with this username, ignoring case and surrounding spaces."""
    return session.scalar(select(User).where(func.lower(User.username) == username.strip().lower()))


def check_credentials(session: Session, username: str, password: str) -> tuple[User | None, str | None]:
    """The active user these credentials belong to (or None) and, when its hash needs upgrading, a new hash.

    Reads only: the slow hash is checked (and any new one made) before the caller opens a write transaction,
    so on SQLite no sign-in holds the write lock while argon2 works.
    """
    user = find_user(session, username)
    if not check_password(user, password) or user is None or not user.active:
        return None, None
    if user.school is not None and not user.school.is_active:
        return None, None
    return user, hash_password(password) if _hasher.check_needs_rehash(user.password_hash) else None


def equalize_link_work() -> None:
    """Spend about what issuing and mailing a link costs (a token, its hash, two encryptions), for an answer that
    sends nothing: "forgot password" must take as long whether or not the account exists."""
    from portal import crypto

    hashlib.sha256(secrets.token_urlsafe(32).encode()).hexdigest()
    crypto.encrypt("x" * 60)
    crypto.encrypt("x" * 400)


def record_sign_in(user: User, new_hash: str | None) -> None:
    """Write what a successful sign-in changes: the upgraded hash, if any, and the time."""
    if new_hash:
        user.password_hash = new_hash
    user.last_login_at = utcnow()


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user these credentials belong to, or None; records the sign-in on the user row."""
    user, new_hash = check_credentials(session, username, password)
    if user is not None:
        record_sign_in(user, new_hash)
    return user


def set_password(user: User, password: str, min_length: int = 10) -> None:
    """Set a new password after checking it; ends every other session of the user."""
    problem = password_problem(password, user.username, min_length)
    if problem:
        raise AccountError(problem)
    user.password_hash = hash_password(password)
    user.end_sessions()


# Case references are CODE-YYYY-NNNN in a 40-character column, and usernames start with the code.
SCHOOL_CODE_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,23}")


def create_school(session: Session, code: str, name_ko: str, name_en: str, timezone: str = "Asia/Seoul",
                  jurisdiction: str = "KR") -> School:
    """Add a school; codes are lowercase and unique."""
    code = code.strip().lower()
    if not SCHOOL_CODE_RE.fullmatch(code):
        raise AccountError("bad_school_code")
    if session.scalar(select(School).where(School.code == code)):
        raise AccountError("code_taken")
    school = School(code=code, name_ko=name_ko.strip(), name_en=name_en.strip(), timezone=timezone,
                    jurisdiction=jurisdiction)
    session.add(school)
    session.flush()
    return school


def create_user(
    session: Session,
    username: str,
    role: str,
    school: School | None,
    password: str | None,
    display_name: str | None = None,
    email: str | None = None,
    min_length: int = 10,
) -> User:
    """Add a user after checking role, school and password."""
    username = username.strip().lower()
    if not username or len(username) > 64 or not all(c.isalnum() or c in "-_." for c in username):
        raise AccountError("bad_username")
    if role not in ROLES:
        raise AccountError("bad_role")
    if (role == Role.DISTRICT_ADMIN) != (school is None):
        raise AccountError("bad_school")
    if find_user(session, username):
        raise AccountError("username_taken")
    email = (email or "").strip() or None
    if email is not None and not valid_address(email):
        raise AccountError("bad_email")  # one plain address: a line break or a list would reach the mail headers
    user = User(username=username, role=role, school=school, display_name=display_name or username, email=email)
    if password is not None:
        set_password(user, password, min_length)
    session.add(user)
    session.flush()
    return user


# --- one-time set-password links ------------------------------------------------------------------------------

LINK_LIFETIME_HOURS = 72


def _token_hash(raw: str) -> str:
    import hashlib

    return hashlib.sha256(raw.encode()).hexdigest()


def issue_link(session: Session, user: User, created_by: User | None, purpose: str = "welcome", now=None) -> str:
    """Make a one-time link token for setting a password; only its hash is stored. Older links stop working."""
    import secrets
    from datetime import timedelta

    from sqlalchemy import update

    from portal.models import SetPasswordToken

    now = now or utcnow()
    session.execute(update(SetPasswordToken).where(SetPasswordToken.user_id == user.id,
                                                   SetPasswordToken.used_at.is_(None)).values(used_at=now))
    raw = secrets.token_urlsafe(32)
    session.add(SetPasswordToken(user_id=user.id, token_hash=_token_hash(raw), purpose=purpose, created_at=now,
                                 expires_at=now + timedelta(hours=LINK_LIFETIME_HOURS),
                                 created_by_id=created_by.id if created_by else None))
    session.flush()
    return raw


def link_user(session: Session, raw: str, now=None) -> User | None:
    """The user a still-valid link belongs to, or None."""
    from portal.models import SetPasswordToken

    token = session.scalar(select(SetPasswordToken).where(SetPasswordToken.token_hash == _token_hash(raw)))
    now = now or utcnow()
    if token is None or token.used_at is not None or token.expires_at <= now or not token.user.active:
        return None
    return token.user


def redeem_link(session: Session, raw: str, password: str, min_length: int = 10, now=None) -> User:
    """Set the password through a link; the link is used up. Raises AccountError("bad_link") or a password code."""
    from portal.models import SetPasswordToken

    now = now or utcnow()
    user = link_user(session, raw, now)
    if user is None:
        raise AccountError("bad_link")
    set_password(user, password, min_length)
    token = session.scalar(select(SetPasswordToken).where(SetPasswordToken.token_hash == _token_hash(raw)))
    token.used_at = now
    return user


def change_role(user: User, role: str) -> None:
    """Give a user another role; their sessions end, and a lead who stops being a counselor stops being lead."""
    if role not in ROLES or role == Role.DISTRICT_ADMIN:
        raise AccountError("bad_role")
    if user.role != role:
        user.role = role
        if role != Role.COUNSELOR:
            user.is_lead = False
        user.end_sessions()


def set_active(user: User, active: bool, now=None) -> None:
    """Deactivate (ending every session at once) or reactivate a user."""
    if user.active == active:
        return
    user.active = active
    user.deactivated_at = None if active else (now or utcnow())
    if not active:
        user.is_lead = False
        user.end_sessions()
