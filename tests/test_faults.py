"""Faults of the parts the portal depends on: Redis dies, PostgreSQL restarts. Reporting must keep working."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time

import pytest
from casehelpers import file_report, only_case
from conftest import PASSWORD, base_config, post, username_of

from portal import create_app
from portal.extensions import db, limiter
from portal.testing import free_port

REDIS = shutil.which("redis-server")



def _start_redis(port: int) -> subprocess.Popen:
    """A Redis of this test's own (never the machine's shared one), on loopback, without persistence."""
    process = subprocess.Popen([REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                                "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("redis-server did not start")


@pytest.mark.skipif(REDIS is None, reason="redis-server is not installed (apt-get install redis-server)")
def test_reporting_and_sign_in_keep_working_when_redis_dies(app, database_url, tmp_path, make_user, login):
    port = free_port()
    redis = _start_redis(port)
    try:
        config = {**base_config(database_url, tmp_path), "RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:{port}/0"}
        shared = create_app(config)
        teacher, counselor = make_user(role="teacher"), make_user(role="counselor", lead=True)
        admin = make_user(role="school_admin")
        assert shared.test_client().get("/healthz").get_json()["rate_limits"] == "ok"
        redis.kill()  # SIGKILL: Redis is gone mid-day
        redis.wait(10)
        client = shared.test_client()
        response = post(client, "/login", {"username": username_of(app, teacher), "password": PASSWORD},
                        token_from="/login")
        assert response.status_code == 302  # sign-in works
        assert file_report(client, urgent="yes").status_code == 302  # and so does reporting
        assert only_case(app).urgent
        assert shared.test_client().get("/healthz").get_json()["rate_limits"] == "per-process fallback"
        boss = shared.test_client()
        login(boss, admin)
        page = boss.get("/admin/").get_data(as_text=True)
        assert "Redis" in page and "응답하지 않습니다" in page
        # The limits still hold, counted in this process: guessing the counselor's password is still stopped.
        guesser = shared.test_client()
        statuses = [post(guesser, "/login", {"username": username_of(app, counselor), "password": f"guess-{i}-xx"},
                         token_from="/login").status_code for i in range(11)]
        assert statuses[-1] == 429 and 500 not in statuses
    finally:
        redis.kill()
        redis.wait(10)


def test_sign_in_keeps_working_and_the_school_admin_is_told_when_the_rate_limit_file_cannot_be_used(
        app, database_url, tmp_path, make_user, login):
    """The instance folder's counters file cannot be opened (here: its folder is a file): sign-in still works, each
    process counts on its own, the health check and the school admin's dashboard say so."""
    (tmp_path / "not-a-folder").write_text("")
    config = {**base_config(database_url, tmp_path),
              "RATELIMIT_STORAGE_URI": f"sqlite:///{tmp_path}/not-a-folder/ratelimits.db"}
    shared = create_app(config)
    teacher, counselor = make_user(role="teacher"), make_user(role="counselor", lead=True)
    admin = make_user(role="school_admin")
    client = shared.test_client()
    response = post(client, "/login", {"username": username_of(app, teacher), "password": PASSWORD},
                    token_from="/login")
    assert response.status_code == 302
    assert shared.test_client().get("/healthz").get_json()["rate_limits"] == "per-process fallback"
    boss = shared.test_client()
    login(boss, admin)
    page = boss.get("/admin/").get_data(as_text=True)
    assert "ratelimits.db" in page and "사용할 수 없습니다" in page and "Redis" not in page
    guesser = shared.test_client()
    statuses = [post(guesser, "/login", {"username": username_of(app, counselor), "password": f"guess-{i}-xx"},
                     token_from="/login").status_code for i in range(11)]
    assert statuses[-1] == 429 and 500 not in statuses
    # Flask-Limiter asks the storage, from time to time, whether it can leave memory: the answer is no, not an
    # error (an error there let that request through with no limit at all).
    assert limiter.storage.check() is False


def test_a_held_rate_limit_file_costs_a_sign_in_a_quarter_second_and_the_health_check_says_so(
        app, database_url, tmp_path, make_user):
    """Someone holds the counters file's write lock (an operator's sqlite3 shell, a stuck process): a sign-in waits
    a quarter of a second for it, then counts in memory, and the health check says the limits are per process
    until the file can be written again. (Before, each request waited as long as the lock was held.)"""
    import sqlite3

    config = {**base_config(database_url, tmp_path), "RATELIMIT_STORAGE_URI": f"sqlite:///{tmp_path}/ratelimits.db"}
    shared = create_app(config)
    # The process's one Limiter still counts in memory if an earlier test left its storage failing (Flask-Limiter
    # forgets that only when the Limiter is made): start from a storage that answers, as a server does.
    limiter._storage_dead = False
    teacher = make_user(role="teacher")
    assert shared.test_client().get("/healthz").get_json()["rate_limits"] == "ok"  # the file exists now
    holder = sqlite3.connect(tmp_path / "ratelimits.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        response = post(shared.test_client(), "/login", {"username": username_of(app, teacher), "password": PASSWORD},
                        token_from="/login")
        waited = time.monotonic() - started
        health = shared.test_client().get("/healthz").get_json()["rate_limits"]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert response.status_code == 302 and waited < 2
    assert health == "per-process fallback"
    assert shared.test_client().get("/healthz").get_json()["rate_limits"] == "ok"  # written again: shared again


def _can_mount() -> bool:
    import os

    return os.geteuid() == 0 and shutil.which("mount") is not None


@pytest.mark.skipif(not _can_mount(), reason="mounting a small tmpfs needs root")
def test_a_full_disk_gives_a_clear_page_and_saves_nothing_half_way(tmp_path, monkeypatch):
    """The SQLite instance on a small disk that fills up: the report is refused with a plain 503 page, nothing of
    it is stored, and once there is room again the same report goes through."""
    import os

    from sqlalchemy import func, select

    from portal.extensions import db
    from portal.models import Case, Role, School, User
    from portal.services import accounts

    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)], check=True)
    try:
        monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(disk))
        app = create_app({**base_config(f"sqlite:///{disk}/portal.db", disk), "RATELIMIT_STORAGE_URI": "memory://"})
        with app.app_context():
            from portal.cli import upgrade_database

            upgrade_database()
            school = School(code="disk", name_ko="디스크", name_en="Disk")
            db.session.add(school)
            db.session.flush()
            for role, name in ((Role.TEACHER, "disk-teacher"), (Role.COUNSELOR, "disk-counselor")):
                user = User(username=name, role=role, school_id=school.id, display_name=name, is_lead=True,
                            password_hash=accounts.hash_password(PASSWORD))
                db.session.add(user)
            db.session.commit()
        client = app.test_client()
        assert post(client, "/login", {"username": "disk-teacher", "password": PASSWORD},
                    token_from="/login").status_code == 302
        filler = disk / "filler"
        # Fill the disk to the last block. Unbuffered: a buffered file would raise ENOSPC again when it closes.
        with open(filler, "wb", buffering=0) as handle:
            try:
                while True:
                    handle.write(b"\0" * 65536)
            except OSError:
                pass
        response = file_report(client, description="written while the disk is full " + "x" * 5000)
        assert response.status_code == 503
        text = response.get_data(as_text=True)
        assert "디스크가 가득" in text and "저장되지 않았습니다" in text and "112" in text
        os.unlink(filler)
        with app.app_context():
            assert db.session.scalar(select(func.count()).select_from(Case)) == 0
        assert file_report(client).status_code == 302  # room again: it works
        with app.app_context():
            assert db.session.scalar(select(func.count()).select_from(Case)) == 1
            db.session.remove()
            db.engine.dispose()
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_postgresql_restart_costs_no_request(app, database_url, make_user, login):
    """Every pooled connection dies (as in a PostgreSQL restart); the next request still answers, because each
    connection is checked as the pool hands it out."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's pooled connections")
    from sqlalchemy import create_engine, text

    client = app.test_client()
    login(client, make_user(role="teacher"))
    assert client.get("/dashboard/").status_code == 200  # the pool now holds a live connection
    killer = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with killer.connect() as conn:
        # Each server process is waited for (up to 5 s) until it has ended, as after a restart.
        ended = conn.execute(text("SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
                                  "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar()
    killer.dispose()
    assert ended >= 1
    assert client.get("/dashboard/").status_code == 200


def test_a_row_postgresql_refuses_leaves_none_of_its_values_in_the_error_a_log_would_print(app, database_url,
                                                                                          make_user):
    """PostgreSQL details a refused row in its error ("Failing row contains (…)"), which is the text of the
    exception a traceback in the log prints: the portal withholds it, and keeps the error's type and `diag`."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's error details (SQLite's name the column only)")
    import traceback

    from sqlalchemy.exc import IntegrityError

    from portal.models import Case, User
    from portal.models.base import utcnow

    teacher = make_user(role="teacher")
    with app.app_context():
        school_id = db.session.get(User, teacher).school_id
        row = {column.key: None for column in Case.__table__.columns if column.key != "id"}
        row.update(school_id=school_id, reference="CANARY-REFERENCE", categories="CANARY-CATEGORY", kind="incident",
                   platforms="", victim_kind="student", urgent=False, victim_knows="unknown", guardians_told="unknown",
                   police_told=False, status="new", submission_token="canary-token", created_at=utcnow(),
                   updated_at=utcnow())  # public_id left NULL: refused
        with pytest.raises(IntegrityError) as refused:
            db.session.execute(Case.__table__.insert(), row)
        db.session.rollback()
    printed = "".join(traceback.format_exception(refused.value))
    assert "CANARY" not in printed and "not-null constraint" in printed
    assert type(refused.value.orig).__name__ == "NotNullViolation"
    assert "CANARY-CATEGORY" in refused.value.orig.diag.message_detail  # the server did send the values


def test_a_live_pooled_connection_is_handed_out_again_without_a_round_trip(app, database_url):
    """The check before use asks the connection's socket, not the server: a live connection is used again as it is,
    and the server sees no statement for the check (SQLAlchemy's pool_pre_ping sent one for every checkout); TCP
    keepalives make a silently vanished server show on that socket too."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's pooled connections")
    from sqlalchemy import create_engine, text

    with app.app_context():
        pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar()
        db.session.commit()  # the connection goes back to the pool
        db.session.connection()  # and is handed out again: checked, no statement sent yet
        watcher = create_engine(database_url)
        with watcher.connect() as conn:
            last = conn.execute(text("SELECT query FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}).scalar()
        watcher.dispose()
        assert db.session.execute(text("SELECT pg_backend_pid()")).scalar() == pid
        # Kept alive on the wire: probed after 30 s idle, so a firewall between keeps it, and a server that vanished
        # without closing it (a host crash, a failover) is found out within a minute.
        wire = socket.socket(fileno=os.dup(db.session.connection().connection.dbapi_connection.fileno()))
        try:
            assert wire.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            assert wire.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 30
        finally:
            wire.close()
        db.session.rollback()
    assert last == "COMMIT"


def test_a_database_that_does_not_answer_gets_a_plain_503(tmp_path, monkeypatch):
    """PostgreSQL stopped or restarting: a page that needs the database says so (503, in the visitor's language,
    with 112) instead of a 500, and the page itself needs nothing from the database."""
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path))
    port = free_port()  # nothing listens here
    app = create_app({**base_config(f"postgresql+psycopg://postgres@127.0.0.1:{port}/none", tmp_path),
                      "PROPAGATE_EXCEPTIONS": False})
    client = app.test_client()
    with client.session_transaction() as session:  # a teacher who was signed in before the database went away
        session.update({"_user_id": "1.0", "auth_at": int(time.time()), "seen": int(time.time())})
    response = client.get("/dashboard/")
    text = response.get_data(as_text=True)
    assert response.status_code == 503 and "데이터베이스가 응답하지 않아" in text and "112" in text
    assert response.headers["Cache-Control"] == "no-store"
    anonymous = app.test_client()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', anonymous.get("/login").get_data(as_text=True))
    response = anonymous.post("/login", data={"username": "someone", "password": "anything-at-all",
                                              "csrf_token": token.group(1)}, headers={"Accept-Language": "en"})
    assert response.status_code == 503 and "database did not answer" in response.get_data(as_text=True)


@pytest.mark.skipif(not _can_mount(), reason="mounting a small tmpfs needs root")
def test_a_backup_to_a_full_disk_says_so_and_leaves_no_file(app, database_url, make_user, tmp_path):
    from portal.extensions import db
    from portal.services import backup

    if not database_url.startswith("sqlite"):
        pytest.skip("the SQLite copy; pg_dump's own errors are reported as they are")
    make_user(role="teacher")
    disk = tmp_path / "backups"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], check=True)
    try:
        with app.app_context():
            with pytest.raises(backup.BackupError, match="is full: no backup was written"):
                backup.take(db.session, app, disk / "nightly.backup")
        assert list(disk.iterdir()) == []
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
