"""Rotating keys: a new data key re-encrypts every stored value; a new signal key re-computes every channel's MAC."""

from __future__ import annotations

import base64
import os
import re
import secrets
from pathlib import Path

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from portal.crypto import key_id_of
from portal.extensions import db
from portal.models.base import EncryptedText
from portal.services import district_signal


def encrypted_columns() -> list[tuple[type, list[str]]]:
    """Every model with encrypted columns, and those columns' attribute names."""
    found = []
    for mapper in db.Model.registry.mappers:
        names = [c.key for c in mapper.columns if isinstance(c.type, EncryptedText)]
        if names:
            found.append((mapper.class_, names))
    return found


def new_key() -> str:
    """A random 32-byte key in base64, as the config holds keys."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def write_settings(config_path: Path, settings: dict[str, object]) -> None:
    """Set these settings in instance/config.py, each on its own line (replaced where it is, else added), and write
    the file whole (mode 0600), so a crash leaves the old file or the new one."""
    text = config_path.read_text(encoding="utf-8")
    for name, value in settings.items():
        line = f"{name} = {value!r}"
        text, found = re.subn(rf"^{name} = .*$", lambda _match, line=line: line, text, flags=re.M)
        if not found:
            text += ("" if text.endswith("\n") or not text else "\n") + line + "\n"
    tmp = config_path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, config_path)


def write_key_to_config(config_path: Path, key_id: str, key_b64: str) -> None:
    """Add a key to instance/config.py and make it the active one; older keys stay for old backups."""
    text = config_path.read_text(encoding="utf-8")
    namespace: dict = {}
    exec(compile(text, str(config_path), "exec"), namespace)  # noqa: S102 - our own instance config file
    keys = dict(namespace.get("DATA_KEYS") or {})
    keys[key_id] = key_b64
    write_settings(config_path, {"DATA_KEY_ID": key_id, "DATA_KEYS": keys})


def rotate(app: Flask, session: Session) -> tuple[str, int]:
    """Make a new active key and re-encrypt every value in one transaction; returns (key id, values)."""
    key_id = "k" + secrets.token_hex(4)
    app.config["DATA_KEYS"] = {**app.config["DATA_KEYS"], key_id: new_key()}
    app.config["DATA_KEY_ID"] = key_id
    count = 0
    for model, names in encrypted_columns():
        for row in session.scalars(select(model)).yield_per(500):
            for name in names:
                if getattr(row, name) is not None:
                    flag_modified(row, name)
                    count += 1
            if hasattr(row, "updated_at"):
                # Re-encryption is not a change: keep updated_at, which starts a closed case's retention clock.
                flag_modified(row, "updated_at")
    session.flush()
    return key_id, count


def rotate_signal(app: Flask, session: Session) -> int:
    """Make a new SIGNAL_KEY and set every takedown item's MAC again under it (decrypting the links), in the
    session's transaction; returns how many MACs are set. No old key is kept: a MAC is only compared with MACs."""
    app.config["SIGNAL_KEY"] = new_key()
    return district_signal.recompute(session)


def stale_values(session: Session, key_id: str) -> int:
    """How many stored values are not encrypted under `key_id` (read raw, without decrypting)."""
    stale = 0
    for model, names in encrypted_columns():
        table = model.__table__
        for name in names:
            column = table.c[name]
            for (raw,) in session.execute(select(column.cast(db.Text)).where(column.isnot(None))):
                stale += key_id_of(raw) != key_id
    return stale
