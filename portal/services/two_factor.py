"""Two-factor sign-in: TOTP codes (RFC 6238), single-use recovery codes, and an admin reset."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime

import pyotp
import segno
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from portal.models import RecoveryCode, Role, User
from portal.models.base import utcnow
from portal.services import audit
from portal.services.accounts import AccountError, hash_password
from portal.services.errors import ServiceError

# Roles that must use a second factor outside demo mode (DESIGN.md, Roles).
REQUIRED_ROLES = frozenset({Role.COUNSELOR, Role.SCHOOL_ADMIN, Role.DISTRICT_ADMIN})
ISSUER = "School Deepfake Response Portal"
RECOVERY_CODE_COUNT = 10
# Codes of the step before and after the current one are accepted: phone clocks drift.
VALID_WINDOW = 1
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: codes are copied by hand


def _check_hash(code_hash: str, code: str) -> bool:
    try:
        return PasswordHasher().verify(code_hash, code)
    except (VerificationError, InvalidHashError):
        return False


class TwoFactorError(ServiceError):
    """A code that cannot be accepted; `code` names the reason for a translated message."""


def step_for(user: User, config) -> str | None:
    """What the user must do after the password: "verify" a code, "enrol" first, or None."""
    if config.get("DEMO_MODE"):
        return None
    if user.totp_enabled_at is not None and user.totp_secret:
        return "verify"
    if config.get("REQUIRE_TWO_FACTOR") and user.role in REQUIRED_ROLES:
        return "enrol"
    return None


def enrolment_secret(secret_key: str, user: User, nonce: str) -> str:
    """The secret offered while enrolling, derived on the server so it never travels in the session cookie."""
    message = f"totp-enrol:{user.id}:{user.session_version}:{nonce}".encode()
    digest = hmac.new(secret_key.encode(), message, hashlib.sha256).digest()
    return base64.b32encode(digest[:20]).decode()  # 160 bits, as RFC 4226 recommends


def provisioning_uri(user: User, secret: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)


def qr_code(uri: str) -> tuple[str, int]:
    """The QR code as an SVG data: URI and its width in pixels, made on the server (no outside service)."""
    qr = segno.make(uri, error="m")
    return qr.svg_data_uri(scale=5, border=4), qr.symbol_size(scale=5, border=4)[0]


def grouped(secret: str) -> str:
    """The secret in groups of four, for typing it into an app by hand."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def _normalise_code(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def _matching_step(secret: str, code: str, now: datetime) -> tuple[int | None, int]:
    """The time step the code belongs to (within the window) and the current step."""
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    code = _normalise_code(code)
    if len(code) != totp.digits or not code.isdigit():
        return None, current
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step, current
    return None, current


def _lock(session: Session, user: User) -> None:
    # Two requests with the same code for one user run one after the other, so only one can use it. FOR NO KEY
    # UPDATE: it does not wait for the key-share locks that new reports routed to this user hold on the row.
    session.execute(select(User.id).where(User.id == user.id).with_for_update(key_share=True))


def check_code(session: Session, user: User, code: str, now: datetime | None = None) -> int:
    """The time step of a valid, unused code from the user's app; raises TwoFactorError("wrong_code").

    A code works once (ASVS 6.5.1): its step must be newer than the last accepted one, which is then recorded.
    """
    now = now or utcnow()
    if not user.totp_secret:
        raise TwoFactorError("wrong_code")
    _lock(session, user)
    step, _current = _matching_step(user.totp_secret, code, now)
    if step is None or (user.totp_last_step is not None and step <= user.totp_last_step):
        raise TwoFactorError("wrong_code")
    user.totp_last_step = step
    return step


def new_recovery_codes() -> list[str]:
    """Ten random codes of 10 characters (50 bits each), shown as xxxxx-xxxxx."""
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def enable(session: Session, user: User, secret: str, code: str, *, address: str | None = None,
           now: datetime | None = None) -> list[str]:
    """Turn on two-factor sign-in once the user proved their app works; returns the recovery codes to show once."""
    now = now or utcnow()
    _lock(session, user)
    step, _current = _matching_step(secret, code, now)
    if step is None:
        raise TwoFactorError("wrong_code")
    user.totp_secret = secret
    user.totp_enabled_at = now
    user.totp_last_step = step
    user.end_sessions()  # sessions from before the second factor existed stop working
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = new_recovery_codes()
    for plain in codes:
        session.add(RecoveryCode(user_id=user.id, code_hash=hash_password(_normalise_code(plain))))
    audit.record(session, "two_factor_enrolled", actor=user, target=f"totp:{step}", address=address)
    return codes


def use_recovery_code(session: Session, user: User, code: str, *, address: str | None = None,
                      now: datetime | None = None) -> int:
    """Spend one recovery code; returns how many are left. Raises TwoFactorError("wrong_code")."""
    code = _normalise_code(code)
    if len(code) != 10:
        raise TwoFactorError("wrong_code")
    _lock(session, user)
    unused = session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id,
                                                        RecoveryCode.used_at.is_(None))).all()
    match = next((row for row in unused if _check_hash(row.code_hash, code)), None)
    if match is None:
        raise TwoFactorError("wrong_code")
    match.used_at = now or utcnow()
    audit.record(session, "recovery_code_used", actor=user, target=f"recovery:{match.id}", address=address)
    return len(unused) - 1


def verify(session: Session, user: User, code: str, *, address: str | None = None,
           now: datetime | None = None) -> str:
    """Check a code from the app or a recovery code at sign-in and record the sign-in; returns which kind it was."""
    if len(_normalise_code(code)) == 10:
        use_recovery_code(session, user, code, address=address, now=now)
        audit.record(session, "login", actor=user, target="recovery_code", address=address)
        return "recovery_code"
    step = check_code(session, user, code, now)
    audit.record(session, "login", actor=user, target=f"totp:{step}", address=address)
    return "totp"


def remaining_recovery_codes(session: Session, user: User) -> int:
    """How many unused recovery codes the user has."""
    return len(session.scalars(select(RecoveryCode.id).where(RecoveryCode.user_id == user.id,
                                                             RecoveryCode.used_at.is_(None))).all())


def record_failure(session: Session, user: User, address: str | None = None) -> None:
    """Audit a wrong code; the person is not signed in yet, so the user is the target, not the actor."""
    audit.record(session, "two_factor_failed", school_id=user.school_id, target=user.username, address=address)


def may_reset(admin: User, user: User) -> bool:
    """District admins may reset anyone; school admins people of their own school who are not district admins."""
    if admin.role == Role.DISTRICT_ADMIN:
        return True
    return (admin.role == Role.SCHOOL_ADMIN and admin.school_id is not None and user.school_id == admin.school_id
            and user.role != Role.DISTRICT_ADMIN)


def reset_two_factor(session: Session, admin: User, user: User, *, address: str | None = None) -> None:
    """Clear a user's second factor and recovery codes and end their sessions; they enrol again at next sign-in."""
    if not may_reset(admin, user):
        raise AccountError("not_allowed")
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    user.end_sessions()
    audit.record(session, "two_factor_reset", actor=admin, school_id=user.school_id, target=user.username,
                 address=address)
