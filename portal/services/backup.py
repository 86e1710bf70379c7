"""Consistent backups taken while the portal serves, checked before they count, and restores into an empty instance.

Case text in a backup stays encrypted: reading it needs DATA_KEYS from instance/config.py, which is not in the backup.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask
from sqlalchemy import text
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from portal.services import audit

# Row counts compared between the database at copy time and the copy.
COUNTED_TABLES = ("users", "cases", "audit_events")


class BackupError(Exception):
    """A backup or restore that did not happen or did not check out; the message says why, in plain words."""


class NotEmpty(BackupError):
    """The instance to restore into already holds data."""


@dataclass
class BackupResult:
    """A finished, checked backup."""

    backend: str
    path: Path
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class RestoreResult:
    """A finished restore and what the restored database holds."""

    backend: str
    counts: dict[str, int] = field(default_factory=dict)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_beside(path: Path) -> Path:
    """A private temporary file next to `path`, renamed over it only once the copy checks out."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # backups hold account data: owner only
    return tmp


def _publish(tmp: Path, path: Path) -> None:
    _fsync(tmp)
    os.replace(tmp, path)
    _fsync(path.parent)


# --- SQLite -----------------------------------------------------------------------------------------------------


def _sqlite_counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in COUNTED_TABLES}  # noqa: S608


def _sqlite_check(conn: sqlite3.Connection) -> None:
    result = [row[0] for row in conn.execute("PRAGMA integrity_check").fetchall()]
    if result != ["ok"]:
        raise BackupError("integrity_check failed: " + "; ".join(result[:5]))


def _sqlite_backup(source: Path, dest: Path) -> dict[str, int]:
    tmp = _temp_beside(dest)
    try:
        src = sqlite3.connect(source, isolation_level=None, timeout=30)
        dst = sqlite3.connect(tmp, isolation_level=None)
        try:
            # One read transaction for the counts and the copy: both see the same committed state, while
            # the portal keeps writing (WAL readers do not block the writer).
            src.execute("BEGIN")
            counts = _sqlite_counts(src)
            src.backup(dst)
            src.execute("COMMIT")
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            _sqlite_check(dst)
            copied = _sqlite_counts(dst)
        finally:
            dst.close()
            src.close()
        if copied != counts:
            raise BackupError(f"row counts differ: database {counts}, copy {copied}")
        _publish(tmp, dest)
        return counts
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _sqlite_open_backup(path: Path) -> dict[str, int]:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            _sqlite_check(conn)
            return _sqlite_counts(conn)
        finally:
            conn.close()
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{path} is not a SQLite backup of the portal ({error})") from None


def _sqlite_restore(engine: Engine, source: Path) -> None:
    _sqlite_open_backup(source)
    target = Path(engine.url.database)
    engine.dispose()
    tmp = _temp_beside(target)
    try:
        shutil.copyfile(source, tmp)
        # A write-ahead log left from the old file would be replayed into the new one: remove it first.
        for suffix in ("-wal", "-shm"):
            Path(str(target) + suffix).unlink(missing_ok=True)
        _publish(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    conn = sqlite3.connect(target)
    try:
        _sqlite_check(conn)
    finally:
        conn.close()


# --- PostgreSQL -------------------------------------------------------------------------------------------------


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection URI for pg_dump and pg_restore; the password goes in the environment, not argv."""
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    if shutil.which(args[0]) is None:
        raise BackupError(f"{args[0]} is not installed (Debian: apt-get install postgresql-client)")
    result = subprocess.run(args, env=env, capture_output=True, text=True)  # noqa: S603 - fixed program, no shell
    if result.returncode != 0:
        raise BackupError(f"{args[0]} failed: {result.stderr.strip()[:2000]}")
    return result


def _dump_counts(path: Path, env: dict[str, str]) -> dict[str, int]:
    """Rows of each counted table inside a custom-format dump, read back with pg_restore."""
    counts = {}
    for table in COUNTED_TABLES:
        out = _run(["pg_restore", "--data-only", f"--table={table}", "--file=-", str(path)], env).stdout
        rows, inside = 0, False
        for line in out.splitlines():
            if line.startswith("COPY "):
                inside = True
            elif inside and line == "\\.":
                inside = False
            elif inside:
                rows += 1  # COPY text format escapes newlines inside values: one line per row
        counts[table] = rows
    return counts


def _pg_backup(engine: Engine, dest: Path) -> dict[str, int]:
    conninfo, env = _libpq(engine.url)
    tmp = _temp_beside(dest)
    try:
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin():
            # pg_dump joins this transaction's snapshot: the counts and the dump see exactly the same rows.
            snapshot = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
            counts = {t: conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar_one()  # noqa: S608
                      for t in COUNTED_TABLES}
            _run(["pg_dump", "--format=custom", f"--snapshot={snapshot}", f"--file={tmp}", f"--dbname={conninfo}"],
                 env)
        _run(["pg_restore", "--list", str(tmp)], env)
        dumped = _dump_counts(tmp, env)
        if dumped != counts:
            raise BackupError(f"row counts differ: database {counts}, dump {dumped}")
        _publish(tmp, dest)
        return counts
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _pg_restore(engine: Engine, source: Path) -> None:
    conninfo, env = _libpq(engine.url)
    try:
        _run(["pg_restore", "--list", str(source)], env)
    except BackupError:
        raise BackupError(f"{source} is not a PostgreSQL backup of the portal (pg_restore cannot read it)") from None
    engine.dispose()
    # --clean drops the empty tables `portal init` may have made; one transaction, so a failure changes nothing.
    _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction",
          "--exit-on-error", f"--dbname={conninfo}", str(source)], env)


# --- both -------------------------------------------------------------------------------------------------------


def _count(engine: Engine, table: str) -> int:
    """Rows in a table, or 0 when the table does not exist yet."""
    try:
        with engine.connect() as conn:
            return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()  # noqa: S608
    except DBAPIError:
        return 0


def _full_disk_says_so(dest: Path, copy):
    """Run a copy; a full disk becomes a plain BackupError (the half-written file is already removed)."""
    import errno

    try:
        return copy()
    except (OSError, sqlite3.Error) as error:
        if getattr(error, "errno", None) == errno.ENOSPC or "full" in str(error).lower():
            raise BackupError(f"the disk holding {dest.parent} is full: no backup was written") from None
        raise


def take(session: Session, app: Flask, dest: Path, address: str | None = None) -> BackupResult:
    """Write a checked copy of the configured database to `dest` and audit it (the caller commits)."""
    engine = session.get_bind()
    dest = Path(dest).resolve()
    if not dest.parent.is_dir():
        raise BackupError(f"folder {dest.parent} does not exist")
    if engine.dialect.name == "sqlite":
        source = Path(engine.url.database or "").resolve()
        if not engine.url.database or not source.is_file():
            raise BackupError("the SQLite database is not a file on disk")
        if dest in (source, Path(str(source) + "-wal")):
            raise BackupError("the backup would overwrite the live database")
        counts = _full_disk_says_so(dest, lambda: _sqlite_backup(source, dest))
    elif engine.dialect.name == "postgresql":
        counts = _full_disk_says_so(dest, lambda: _pg_backup(engine, dest))
    else:
        raise BackupError(f"no backup method for {engine.dialect.name}")
    audit.record(session, "backup_taken", target=dest.name[:120], address=address)
    return BackupResult(engine.dialect.name, dest, counts)


def _keys_read(session: Session) -> bool:
    """True when this instance's DATA_KEYS decrypt the restored case text (checked on one stored value)."""
    from portal import crypto
    from portal.services.keys import encrypted_columns

    for model, names in encrypted_columns():
        for name in names:
            column = model.__table__.c[name]
            raw = session.execute(text(f"SELECT {column.name} FROM {model.__table__.name} "  # noqa: S608
                                       f"WHERE {column.name} IS NOT NULL LIMIT 1")).scalar()
            if raw is not None:
                try:
                    crypto.decrypt(raw)
                except Exception:  # wrong or missing key: AES-GCM refuses, whatever the exact error
                    return False
                return True
    return True


def restore(session: Session, app: Flask, source: Path) -> RestoreResult:
    """Replace this instance's empty database with a backup; refuses when the instance has any users or cases."""
    engine = session.get_bind()
    source = Path(source).resolve()
    if not source.is_file():
        raise BackupError(f"{source} does not exist")
    session.close()
    users, cases = _count(engine, "users"), _count(engine, "cases")
    if users or cases:
        raise NotEmpty(f"this instance's database is not empty ({users} users, {cases} cases): restore only into "
                       "a new, empty instance")
    if engine.dialect.name == "sqlite":
        _sqlite_restore(engine, source)
    elif engine.dialect.name == "postgresql":
        _pg_restore(engine, source)
    else:
        raise BackupError(f"no restore method for {engine.dialect.name}")
    counts = {t: _count(engine, t) for t in COUNTED_TABLES}
    keys_ok = _keys_read(session)
    session.close()  # release the database before migrations run on it
    if not keys_ok:
        # Leave the instance as it was, empty, so the restore can simply be run again with the right keys.
        _empty(engine)
        raise BackupError("this instance's data keys cannot read the case text in the backup, so nothing was "
                          "restored. Copy DATA_KEYS and DATA_KEY_ID (and AUDIT_KEY, or SECRET_KEY if it has none) "
                          "from the original instance/config.py, then run portal restore again.")
    return RestoreResult(engine.dialect.name, counts)


def _empty(engine: Engine) -> None:
    """Remove everything a failed restore put in place."""
    engine.dispose()
    if engine.dialect.name == "sqlite":
        target = Path(engine.url.database)
        for path in (target, Path(str(target) + "-wal"), Path(str(target) + "-shm")):
            path.unlink(missing_ok=True)
        return
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
        conn.commit()
    engine.dispose()
