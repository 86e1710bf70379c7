"""Backups taken while the portal writes, checked, restored into a fresh instance; restores refused into used ones."""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import PG_URL, TEST_KEY, base_config
from sqlalchemy import create_engine, func, select, text

from portal import create_app
from portal.extensions import db
from portal.models import AuditEvent, Case, CaseStatus, User
from portal.services import audit, backup, cases

PORTAL = [sys.executable, "-c", "from portal.cli import main; main()"]
CANARY = "BACKUP-CANARY-41c7"


def needs_tools(database_url: str) -> None:
    if database_url.startswith("postgresql") and not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        if os.environ.get("CI"):
            pytest.fail("pg_dump and pg_restore are needed for the PostgreSQL backup tests")
        pytest.skip("pg_dump/pg_restore are not installed here")


def make_instance(path: Path, key: str = TEST_KEY, secret: str = "test-secret-key") -> Path:
    """An instance folder whose config holds the keys (as the operator copies config.py to a new server)."""
    path.mkdir(parents=True, exist_ok=True)
    config = path / "config.py"
    config.write_text(f"SECRET_KEY = {secret!r}\nDATA_KEY_ID = 't1'\nDATA_KEYS = {{'t1': {key!r}}}\n")
    config.chmod(0o600)
    return path


def run_portal(args, instance: Path, database_url: str):
    env = {**os.environ, "PORTAL_INSTANCE_PATH": str(instance), "PORTAL_DATABASE_URL": database_url}
    return subprocess.run([*PORTAL, *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture
def fresh_database(database_url, tmp_path):
    """The URL of a second, empty database on the same backend: where a backup is restored."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path}/restored.db"
        return
    name = f"portal_restore_{secrets.token_hex(4)}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield PG_URL.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def staff(app, make_user):
    return {"teacher": make_user(role="teacher"), "lead": make_user(role="counselor", lead=True)}


def acknowledged_case(app, staff, token: str) -> str:
    """File and acknowledge a case; once this returns, the case is committed: the portal told the user so."""
    with app.app_context():
        get = db.session.get
        case, _ = cases.submit_report(db.session, get(User, staff["teacher"]), cases.ReportData(
            ["distribution"], "student", description=f"{CANARY} {token}"), token)
        cases.acknowledge(db.session, get(User, staff["lead"]), case)
        db.session.commit()
        return case.reference


class Writer(threading.Thread):
    """Keeps filing cases and adding audit rows, as a busy portal does, until stopped."""

    def __init__(self, app, staff):
        super().__init__(daemon=True)
        self.app, self.staff = app, staff
        self.stop = threading.Event()
        self.done: list[str] = []
        self.errors: list[BaseException] = []

    def run(self):
        n = 0
        while not self.stop.is_set():
            n += 1
            try:
                self.done.append(acknowledged_case(self.app, self.staff, f"writer-{n:06d}-{secrets.token_hex(4)}"))
                with self.app.app_context():
                    audit.record(db.session, "writer_tick", address="test")
                    db.session.commit()
            except BaseException as error:  # reported by the test
                self.errors.append(error)
                return


def references(database_url: str, instance: Path) -> dict[str, tuple[str, str]]:
    """reference -> (status, decrypted description) in the database at this URL."""
    other = create_app({**base_config(database_url, instance), "SQLALCHEMY_DATABASE_URI": database_url})
    with other.app_context():
        found = {c.reference: (c.status, c.description) for c in db.session.scalars(select(Case))}
        db.session.remove()
        db.engine.dispose()
    return found


def test_backup_while_writing_then_restore_into_a_fresh_instance(app, staff, database_url, fresh_database, tmp_path,
                                                                 monkeypatch):
    needs_tools(database_url)
    before = [acknowledged_case(app, staff, f"before-{i:04d}-0000000000") for i in range(5)]
    writer = Writer(app, staff)
    writer.start()
    try:
        while len(writer.done) < 3 and not writer.errors:
            writer.stop.wait(0.05)
        acknowledged = before + list(writer.done)  # everything the portal confirmed before the backup began
        dest = tmp_path / "portal.backup"
        with app.app_context():
            result = backup.take(db.session, app, dest, address="test")
            db.session.commit()
        while len(writer.done) < len(acknowledged) - len(before) + 3 and not writer.errors:
            writer.stop.wait(0.05)  # writes carry on after the backup too
    finally:
        writer.stop.set()
        writer.join(60)
    assert writer.errors == []
    assert dest.exists() and stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert result.counts["cases"] >= len(acknowledged)
    assert not list(tmp_path.glob(".portal.backup.*"))  # no temporary file left behind
    raw = dest.read_bytes()
    assert CANARY.encode() not in raw  # case text is ciphertext in the backup
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(AuditEvent.action == "backup_taken")) == 1

    instance = make_instance(tmp_path / "new-instance")
    init = run_portal(["init"], instance, fresh_database)
    assert init.returncode == 0, init.stderr
    restored = run_portal(["restore", str(dest)], instance, fresh_database)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "Audit chain intact" in restored.stdout
    found = references(fresh_database, instance)
    for reference in acknowledged:
        assert found[reference][0] == CaseStatus.ACKNOWLEDGED, reference
        assert found[reference][1].startswith(CANARY)  # readable with the same key
    assert len(found) == result.counts["cases"]

    # The restored instance is used now: a second restore into it is refused.
    again = run_portal(["restore", str(dest)], instance, fresh_database)
    assert again.returncode != 0 and "not empty" in again.stderr


def test_restore_is_refused_into_an_instance_with_users(app, staff, database_url, tmp_path):
    needs_tools(database_url)
    acknowledged_case(app, staff, "refuse-000000000001")
    dest = tmp_path / "b.backup"
    with app.app_context():
        backup.take(db.session, app, dest)
        db.session.commit()
        cases_before = db.session.scalar(select(func.count()).select_from(Case))
    instance = make_instance(tmp_path / "used")
    result = run_portal(["restore", str(dest)], instance, database_url)
    assert result.returncode != 0
    assert "not empty" in result.stderr and "2 users" in result.stderr
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Case)) == cases_before


def test_backup_command_and_a_restore_without_the_key(app, staff, database_url, fresh_database, tmp_path):
    needs_tools(database_url)
    acknowledged_case(app, staff, "cli-0000000000000001")
    source_instance = make_instance(tmp_path / "source")
    dest = tmp_path / "nightly.backup"
    made = run_portal(["backup", str(dest)], source_instance, database_url)
    assert made.returncode == 0, made.stderr
    assert "integrity checked" in made.stdout and "DATA_KEYS" in made.stdout
    with app.app_context():
        row = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "backup_taken"))
        assert row.target == "nightly.backup" and row.address == "cli"

    other_key = make_instance(tmp_path / "other-key", key=base64.b64encode(b"z" * 32).decode())
    restored = run_portal(["restore", str(dest)], other_key, fresh_database)
    assert restored.returncode == 1
    assert "cannot read the case text in the backup, so nothing was restored" in restored.stderr
    # Nothing was left half-restored: with the right keys the same restore now works.
    right_key = make_instance(tmp_path / "other-key")
    again = run_portal(["restore", str(dest)], right_key, fresh_database)
    assert again.returncode == 0, again.stderr
    assert "Audit chain intact" in again.stdout
    # Restored with the data key but another SECRET_KEY and no AUDIT_KEY: the chain cannot be checked; says why.
    wrong_audit = make_instance(tmp_path / "wrong-audit", secret="another-secret")
    checked = run_portal(["audit", "verify"], wrong_audit, fresh_database)
    assert checked.returncode == 1 and "BROKEN" in checked.stderr


def test_backup_refuses_to_overwrite_the_live_database(app, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite only")
    with app.app_context():
        live = Path(db.engine.url.database)
        with pytest.raises(backup.BackupError):
            backup.take(db.session, app, live)


def test_a_file_that_is_not_a_backup_is_refused(app, database_url, fresh_database, tmp_path):
    needs_tools(database_url)
    junk = tmp_path / "junk.backup"
    junk.write_bytes(b"not a database at all" * 100)
    instance = make_instance(tmp_path / "junk-instance")
    result = run_portal(["restore", str(junk)], instance, fresh_database)
    assert result.returncode != 0 and "not a" in result.stderr
