"""The data keys and AES-256-GCM for case text, with the key id stored beside every value so keys can be rotated.

A leaf module: the column type in portal.models.base and the key commands in portal.services.keys use it; it also
makes the argon2 stand-in that unknown usernames and receipt codes are checked against.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from argon2 import PasswordHasher
from argon2.low_level import ARGON2_VERSION
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app

PREFIX = "v1"
_AAD = b"school-deepfake-portal"


class MissingDataKey(Exception):
    """A value was encrypted with a key that is not configured."""


def _keys() -> tuple[str, dict[str, bytes]]:
    config = current_app.config
    keys = {kid: base64.b64decode(value) for kid, value in (config.get("DATA_KEYS") or {}).items()}
    active = config.get("DATA_KEY_ID") or next(iter(keys), None)
    if not keys or active not in keys or any(len(k) != 32 for k in keys.values()):
        raise RuntimeError("DATA_KEYS must hold 32-byte keys and DATA_KEY_ID must name one of them")
    return active, keys


def encrypt(plain: str) -> str:
    """Encrypt text under the active key: "v1:<key id>:<nonce>:<ciphertext>" in URL-safe base64."""
    key_id, keys = _keys()
    nonce = os.urandom(12)
    sealed = AESGCM(keys[key_id]).encrypt(nonce, plain.encode("utf-8"), _AAD)
    encode = base64.urlsafe_b64encode
    return f"{PREFIX}:{key_id}:{encode(nonce).decode()}:{encode(sealed).decode()}"


def decrypt(token: str) -> str:
    """Decrypt a value made by encrypt(); the GCM tag makes any change to it fail loudly."""
    prefix, key_id, nonce, sealed = token.split(":", 3)
    _, keys = _keys()
    if prefix != PREFIX or key_id not in keys:
        raise MissingDataKey(f"no key {key_id!r} configured")
    decode = base64.urlsafe_b64decode
    return AESGCM(keys[key_id]).decrypt(decode(nonce), decode(sealed), _AAD).decode("utf-8")


def key_id_of(token: str | None) -> str | None:
    """The id of the key a stored value was encrypted with."""
    return token.split(":", 2)[1] if token else None


def _hmac_key(name: str, label: bytes) -> bytes:
    """A 32-byte HMAC key from the setting `name` (base64) when configured (new instances get one); otherwise
    derived from SECRET_KEY under `label`, which every server of a deployment shares."""
    config = current_app.config
    if config.get(name):
        key = base64.b64decode(config[name])
        if len(key) != 32:
            raise RuntimeError(f"{name} must be 32 bytes in base64")
        return key
    return derived_key(config["SECRET_KEY"], label)


def derived_key(secret_key: str, label: bytes) -> bytes:
    """A 32-byte key derived from SECRET_KEY under `label`: the same on every server of a deployment."""
    return hmac.new(str(secret_key).encode(), label, hashlib.sha256).digest()


def audit_key() -> bytes:
    """The key of the audit chain's HMAC, kept outside the database like the data keys: AUDIT_KEY, or derived
    from SECRET_KEY. Set AUDIT_KEY before you ever change SECRET_KEY."""
    return _hmac_key("AUDIT_KEY", b"portal audit chain v1")


def audit_mac(message: str) -> str:
    """HMAC-SHA256 of a message under the audit key, as hex."""
    return hmac.new(audit_key(), message.encode("utf-8"), hashlib.sha256).hexdigest()


def signal_mac(normal: str) -> str:
    """HMAC-SHA256 of a normalised link or handle under SIGNAL_KEY, as hex: the district signal compares these,
    never the handles. Without the key (kept outside the database) a MAC cannot be tested against a guessed handle."""
    key = _hmac_key("SIGNAL_KEY", b"portal district signal v1")
    return hmac.new(key, normal.encode("utf-8"), hashlib.sha256).hexdigest()


def argon2_stand_in(hasher: PasswordHasher) -> str:
    """A hash to check a secret against when there is no real one (an unknown username, a code that opens no
    report), so that the answer takes as long as a wrong secret: the hasher's own parameters, a random salt and a
    random digest. Checking against it is one full argon2 run that never matches, and nothing is hashed to make it
    (hashing a made-up secret on first use gave each process's first unknown name or code two runs, twice as
    long as a wrong one). Written by hand: argon2-cffi encodes only hashes it computed."""
    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).rstrip(b"=").decode()

    return (f"$argon2{hasher.type.name.lower()}$v={ARGON2_VERSION}"
            f"$m={hasher.memory_cost},t={hasher.time_cost},p={hasher.parallelism}"
            f"${b64(os.urandom(hasher.salt_len))}${b64(os.urandom(hasher.hash_len))}")
