"""The `portal` command, run the way an operator runs it."""

from __future__ import annotations

import os
import re
import sqlite3
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.cli import SCHEMA_HEAD
from portal.config import write_instance_config
from portal.extensions import db
from portal.models import Classroom, School, User
from portal.services import accounts
from portal.testing import free_port

PORTAL = [sys.executable, "-c", "from portal.cli import main; main()"]


def run_portal(args, instance: Path, database_url: str, input_text: str | None = None, env=None):
    environment = {**os.environ, "PORTAL_INSTANCE_PATH": str(instance), "PORTAL_DATABASE_URL": database_url,
                   **(env or {})}
    return subprocess.run([*PORTAL, *args], input=input_text, capture_output=True, text=True, env=environment,
                          timeout=120)


def test_first_run_creates_a_private_instance_folder(tmp_path):
    instance = tmp_path / "inst"
    result = run_portal(["init"], instance, f"sqlite:///{tmp_path}/x.db")
    assert result.returncode == 0, result.stderr
    config = instance / "config.py"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    text = config.read_text()
    assert "SECRET_KEY" in text and "DATA_KEYS" in text
    before = text
    run_portal(["init"], instance, f"sqlite:///{tmp_path}/x.db")
    assert config.read_text() == before  # keys are never replaced


def test_default_database_is_sqlite_in_the_instance_folder(tmp_path):
    instance = tmp_path / "inst"
    env = {k: v for k, v in os.environ.items() if k != "PORTAL_DATABASE_URL"}
    result = subprocess.run([*PORTAL, "init"], capture_output=True, text=True, timeout=120,
                            env={**env, "PORTAL_INSTANCE_PATH": str(instance)})
    assert result.returncode == 0, result.stderr
    assert (instance / "portal.db").exists()


def test_create_school_and_user_with_password_from_stdin(app, database_url, tmp_path):
    instance = tmp_path / "instance"
    result = run_portal(["create-school", "--code", "Namsan", "--name-ko", "남산중학교", "--name-en", "Namsan Middle"],
                        instance, database_url)
    assert result.returncode == 0, result.stderr
    result = run_portal(["create-user", "--role", "counselor", "--school", "namsan", "--lead", "namsan-c1"],
                        instance, database_url, input_text="a-long-secret-phrase\n")
    assert result.returncode == 0, result.stderr
    assert "a-long-secret-phrase" not in result.stdout + result.stderr
    with app.app_context():
        user = accounts.find_user(db.session, "namsan-c1")
        assert user.is_lead and user.school.code == "namsan"
        assert accounts.check_password(user, "a-long-secret-phrase")
    weak = run_portal(["create-user", "--role", "teacher", "--school", "namsan", "namsan-t1"], instance, database_url,
                      input_text="123456\n")
    assert weak.returncode != 0 and "too_short" in weak.stderr
    us = run_portal(["create-school", "--code", "lincoln", "--name-ko", "링컨고", "--name-en", "Lincoln High",
                     "--jurisdiction", "US"], instance, database_url)
    assert us.returncode == 0, us.stderr
    nowhere = run_portal(["create-school", "--code", "atlantis", "--name-ko", "아", "--name-en", "A",
                          "--jurisdiction", "XX"], instance, database_url)
    assert nowhere.returncode != 0 and "choose one of GB, KR, US" in nowhere.stderr
    with app.app_context():
        assert accounts.find_user(db.session, "namsan-c1").school.jurisdiction == "KR"
        assert db.session.scalar(select(School.jurisdiction).where(School.code == "lincoln")) == "US"
        assert db.session.scalar(select(School).where(School.code == "atlantis")) is None
    unknown = run_portal(["create-user", "--role", "teacher", "--school", "nowhere", "x1"], instance, database_url,
                         input_text="a-long-secret-phrase\n")
    assert unknown.returncode != 0 and "No school" in unknown.stderr


def test_demo_seed_twice_gives_the_same_data(app, database_url, tmp_path):
    instance = tmp_path / "instance"
    first = run_portal(["seed-demo"], instance, database_url)
    assert first.returncode == 0, first.stderr
    creds = instance / "demo-credentials.txt"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    password = next(line.split(": ", 1)[1] for line in creds.read_text().splitlines() if line.startswith("password"))
    assert password in first.stdout  # printed the first time

    def snapshot():
        with app.app_context():
            columns = (User.username, User.role, User.school_id, User.is_lead, User.password_hash)
            users = db.session.execute(select(*columns).order_by(User.username)).all()
            classes = db.session.execute(select(Classroom.name, Classroom.school_id, Classroom.teacher_id)
                                         .order_by(Classroom.id)).all()
            return users, classes, db.session.scalar(select(func.count()).select_from(School))

    before = snapshot()
    second = run_portal(["seed-demo"], instance, database_url)
    assert second.returncode == 0 and password not in second.stdout  # not printed again
    assert snapshot() == before
    users, classes, schools = before
    names = {u.username for u in users}
    assert schools == 2 and len(classes) == 4
    for code in ("hanbit", "saesol"):
        assert {f"{code}-admin", f"{code}-counselor1", f"{code}-counselor2", f"{code}-teacher1", f"{code}-teacher3",
                f"{code}-student01"} <= names
    assert "district-admin" in names
    leads = [u.username for u in users if u.is_lead]
    assert sorted(leads) == ["hanbit-counselor1", "saesol-counselor1"]
    with app.app_context():
        assert accounts.authenticate(db.session, "hanbit-teacher1", password)


def test_demo_password_from_environment(app, database_url, tmp_path):
    result = run_portal(["seed-demo"], tmp_path / "instance", database_url,
                        env={"PORTAL_DEMO_PASSWORD": "env-demo-pass"})
    assert result.returncode == 0 and "env-demo-pass" not in result.stdout
    with app.app_context():
        assert accounts.authenticate(db.session, "saesol-counselor2", "env-demo-pass")


@pytest.mark.parametrize(("public_url", "why"), [
    ("portal.school.kr", "must start with https://"),
    ("https://portal.school.kr:443x", "port is not a number"),
    ("https://portal.school.kr/?school=hanbit", "no user, query or fragment"),
    ("https://" + "a" * 64 + ".school.kr", "longer than DNS allows"),
    ("https://" + ("a" * 63 + ".") * 4 + "kr", "longer than DNS allows"),  # 258 characters
])
def test_a_public_url_users_could_not_open_stops_every_command_with_its_reason(tmp_path, public_url, why):
    """Links in mail are built from PUBLIC_URL and only its host is answered: a wrong one would make every page a
    400 and every mailed link dead (and a host longer than DNS allows, every report refused), so no command
    starts with it, and the operator reads which setting and why, not a traceback."""
    result = run_portal(["audit", "verify"], tmp_path / "i", f"sqlite:///{tmp_path}/x.db",
                        env={"PORTAL_PUBLIC_URL": public_url})
    assert result.returncode == 2
    assert result.stderr.startswith(f"Error: PUBLIC_URL {public_url!r} cannot be used: ") and why in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x.db").exists()


def test_demo_refuses_a_public_address(tmp_path):
    result = run_portal(["serve", "--demo", "--host", "0.0.0.0"], tmp_path / "i", f"sqlite:///{tmp_path}/x.db")
    assert result.returncode != 0 and "loopback" in result.stderr



@pytest.mark.usefixtures("app")
def test_serve_demo_answers_with_the_banner(tmp_path, database_url):
    port = free_port()
    env = {**os.environ, "PORTAL_INSTANCE_PATH": str(tmp_path / "instance"), "PORTAL_DATABASE_URL": database_url}
    proc = subprocess.Popen([*PORTAL, "serve", "--demo", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(200):
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read().decode()
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("the portal did not start")
        assert "체험 모드" in body
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0]
    assert f"http://127.0.0.1:{port}/" in out and "hanbit-counselor1" in out
    # One process per core, even without Redis (the rate limits are shared through the instance folder).
    assert f"{os.cpu_count() or 1} worker process(es), 2 threads each" in out


def test_audit_verify_command(app, database_url, tmp_path):
    from portal.services import audit

    instance = tmp_path / "instance"
    # The chain is keyed: the command must run with the same keys as the portal that wrote the rows.
    (instance / "config.py").write_text(f"SECRET_KEY = {app.config['SECRET_KEY']!r}\n"
                                        f"DATA_KEYS = {app.config['DATA_KEYS']!r}\nDATA_KEY_ID = 't1'\n")
    with app.app_context():
        for i in range(3):
            audit.record(db.session, "test_event", target=f"t{i}")
        db.session.commit()
    ok = run_portal(["audit", "verify"], instance, database_url)
    assert ok.returncode == 0 and "3 rows" in ok.stdout
    point = run_portal(["audit", "checkpoint"], instance, database_url)
    printed = point.stdout.split()[3]  # "Audit checkpoint <time>: <id>:<hash>"
    assert point.returncode == 0 and printed.startswith("3:")
    assert run_portal(["audit", "verify", "--expect", printed], instance, database_url).returncode == 0
    # Someone with the database only deletes the newest row and sets the head back: the chain still adds up,
    # but the checkpoint outside the database no longer holds.
    with app.app_context():
        row2 = db.session.get(audit.AuditEvent, 2)
        db.session.execute(db.text("DELETE FROM audit_events WHERE id = 3"))
        db.session.execute(db.text("UPDATE audit_head SET last_id = 2, last_hash = :h"), {"h": row2.hash})
        db.session.commit()
    truncated = run_portal(["audit", "verify"], instance, database_url)
    assert truncated.returncode == 1 and "removed or rewritten after the checkpoint" in truncated.stderr
    # A changed checkpoint line is caught too.
    log = instance / "audit-checkpoints.log"
    log.write_text(log.read_text().replace(" 3 ", " 2 "))
    tampered = run_portal(["audit", "verify"], instance, database_url)
    assert tampered.returncode == 1 and "was changed" in tampered.stderr
    log.unlink()
    with app.app_context():
        db.session.execute(db.text("DELETE FROM audit_events"))
        db.session.execute(db.text("DELETE FROM audit_head"))
        for i in range(3):
            audit.record(db.session, "test_event", target=f"t{i}")
        db.session.commit()
    with app.app_context():
        db.session.execute(db.text("UPDATE audit_events SET target = 'changed' WHERE id = 2"))
        db.session.commit()
    broken = run_portal(["audit", "verify"], tmp_path / "instance", database_url)
    assert broken.returncode == 1 and "row 2" in broken.stderr


def test_translate_commands(tmp_path, monkeypatch):
    result = subprocess.run([*PORTAL, "translate", "--help"], capture_output=True, text=True,
                            env={**os.environ, "PORTAL_INSTANCE_PATH": str(tmp_path)})
    assert result.returncode == 0
    for sub in ("extract", "update", "compile"):
        assert sub in result.stdout


def test_keys_rotate_command_reencrypts_and_keeps_the_old_key(app, database_url, tmp_path):
    from portal.models import User
    from portal.services import cases

    instance = tmp_path / "instance"
    keys = app.config['DATA_KEYS']
    (instance / "config.py").write_text(f"SECRET_KEY = 'x'\nDATA_KEY_ID = 't1'\nDATA_KEYS = {keys!r}\n")
    with app.app_context():
        school = School(code="hanbit", name_ko="한빛", name_en="Hanbit")
        db.session.add(school)
        db.session.flush()
        teacher = User(username="t-rot", role="teacher", school_id=school.id, display_name="T")
        db.session.add_all([teacher, User(username="c-rot", role="counselor", school_id=school.id, display_name="C",
                                          is_lead=True)])
        db.session.flush()
        cases.submit_report(db.session, teacher, cases.ReportData(["other"], "unknown", description="rotate me"),
                            "rotate-token-000000001")
        db.session.commit()
    result = run_portal(["keys", "rotate"], instance, database_url)
    assert result.returncode == 0, result.stderr
    assert "0 values under older keys" in result.stdout
    text = (instance / "config.py").read_text()
    assert "'t1'" in text and "DATA_KEY_ID = 't1'" not in text


def test_tick_command_runs_the_checks_once_a_minute_for_the_deployment(app, database_url, tmp_path):
    result = run_portal(["tick"], tmp_path / "instance", database_url)
    assert result.returncode == 0, result.stderr
    assert "escalate: 0" in result.stdout
    again = run_portal(["tick"], tmp_path / "instance", database_url)
    assert "nothing was done" in again.stdout and "escalate" not in again.stdout
    forced = run_portal(["tick", "--force"], tmp_path / "instance", database_url)
    assert "escalate: 0" in forced.stdout


def test_of_processes_claiming_the_checks_at_once_exactly_one_runs_them(app):
    import threading
    from datetime import timedelta

    from portal.models.base import utcnow
    from portal.services import background

    now = utcnow()
    results, ready = [], threading.Barrier(6)

    def try_claim():
        ready.wait()
        results.append(background.claim(app, timedelta(seconds=50), now))

    threads = [threading.Thread(target=try_claim) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 5 + [True]
    assert not background.claim(app, timedelta(seconds=50), now + timedelta(seconds=49))
    assert background.claim(app, timedelta(seconds=50), now + timedelta(seconds=50))  # the next period


def test_several_workers_with_rate_limits_kept_in_memory_are_refused(tmp_path):
    result = run_portal(["serve", "--server", "granian", "--workers", "2", "--port", "1"], tmp_path / "inst",
                        f"sqlite:///{tmp_path}/x.db", env={"PORTAL_REDIS_URL": "memory://"})
    assert result.returncode != 0 and "per process" in result.stderr


def _served_instance(instance: Path, settings: dict) -> dict[str, str]:
    """An instance folder with one school and its teacher hanbit-teacher0 (the tests' password), and the
    environment a `portal serve` of it runs with: nothing of this process's PORTAL_ settings."""
    from conftest import PASSWORD, _hash

    from portal import testing

    testing.deployment(instance, settings, 1, _hash(PASSWORD))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env["PORTAL_INSTANCE_PATH"] = str(instance)
    return env


def test_the_processes_of_one_machine_share_rate_limits_through_the_instance_folder(tmp_path):
    """Without Redis, `portal serve` runs a worker process per core, and failed sign-ins count the same whichever
    process answers them: two servers on one instance folder (as two workers are) stop the fifth failure from one
    address, half of them sent to each. Counted in memory, each would have seen three and allowed them all."""
    from conftest import PASSWORD

    from portal import testing

    instance = tmp_path / "inst"
    env = _served_instance(instance, {"RATELIMIT_LOGIN_PER_ADDRESS": "4 per 15 minutes"})
    env["PORTAL_RATELIMIT_SECRET"] = "ab" * 32  # the one secret `portal serve` gives all its workers (else its own)
    with (testing.served(env, "--no-background", log=tmp_path / "first.log") as first,
          testing.served(env, "--no-background", "--workers", "1", log=tmp_path / "second.log") as second):
        answers = [testing.Browser((first, second)[n % 2]).sign_in("hanbit-teacher0", "not-the-password")[0]
                   for n in range(6)]
        refused_right_one = testing.Browser(second).sign_in("hanbit-teacher0", PASSWORD)[0]
    assert answers == [200] * 4 + [429, 429]
    assert refused_right_one == 429  # the address is stopped, not only the wrong password
    counters = instance / "ratelimits.db"
    assert stat.S_IMODE(counters.stat().st_mode) == 0o600
    with sqlite3.connect(counters) as conn:  # an HMAC of each key: no address, no account name in the file
        keys = [key for (key,) in conn.execute("SELECT key FROM counters")]
    assert keys and all(re.fullmatch(r"[0-9a-f]{64}", key) for key in keys)
    assert b"127.0.0.1" not in counters.read_bytes() and b"hanbit-teacher0" not in counters.read_bytes()
    cores = os.cpu_count() or 1
    assert f"{cores} worker process(es)" in (tmp_path / "first.log").read_text()


def test_wrong_passwords_sent_at_once_never_get_past_the_limit(tmp_path):
    """Every sign-in attempt is counted before its password is checked and given back if it was right: eight wrong
    passwords at once, three times over, to a server of two processes with two threads each, get exactly the
    account's three checks. (Counted after the check, as before, each attempt under way had passed it: up to six.)"""
    import threading

    from conftest import PASSWORD

    from portal import testing

    env = _served_instance(tmp_path / "inst", {"RATELIMIT_LOGIN_PER_ACCOUNT": "3 per 15 minutes"})
    with testing.served(env, "--no-background", "--workers", "2", log=tmp_path / "server.log") as base:
        answers: list[int] = []
        for _round in range(3):
            # Each its own session and CSRF token first, so that only the POSTs race.
            forms = [(browser, testing.CSRF.search(browser.request("/login")[2]).group(1))
                     for browser in (testing.Browser(base) for _ in range(8))]
            start = threading.Barrier(len(forms))

            def guess(browser, token, start=start):
                start.wait()
                answers.append(browser.request("/login", {"csrf_token": token, "username": "hanbit-teacher0",
                                                          "password": "not-the-password"})[0])

            threads = [threading.Thread(target=guess, args=form) for form in forms]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        right_one = testing.Browser(base).sign_in("hanbit-teacher0", PASSWORD)[0]
    assert sorted(answers) == [200] * 3 + [429] * 21
    assert right_one == 429  # the account is locked for the window, even with its password


def test_the_migrations_build_exactly_the_models(app):
    """A database made by the migrations has every table, column and index the models declare, and no more."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from portal.extensions import db

    with app.app_context():
        with db.engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), db.metadata)
    assert diff == [], diff


def test_the_schema_head_the_server_checks_is_the_newest_migration():
    """`portal serve` skips Alembic when the database records SCHEMA_HEAD: a new migration must move it too."""
    from alembic.script import ScriptDirectory
    from flask_migrate import Config

    from portal.cli import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_HEAD


def test_a_restart_finds_the_schema_current_without_loading_the_migrations(tmp_path):
    """A new database is built by the migrations; on the next start one query finds it at the newest one, and
    Alembic is not even imported (a tenth of a second of every restart)."""
    upgrade = ("import sys\nfrom portal import create_app\nfrom portal.cli import upgrade_database\n"
               "app = create_app()\nwith app.app_context():\n    upgrade_database()\n"
               "print('alembic imported' if 'alembic' in sys.modules else 'alembic not imported')")
    environment = {**os.environ, "PORTAL_INSTANCE_PATH": str(tmp_path), "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    write_instance_config(tmp_path)
    runs = [subprocess.run([sys.executable, "-c", upgrade], capture_output=True, text=True, env=environment,
                           timeout=120, check=True).stdout.strip() for _ in range(2)]
    assert runs == ["alembic imported", "alembic not imported"]
    with sqlite3.connect(tmp_path / "x.db") as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [(SCHEMA_HEAD,)]
        assert connection.execute("SELECT count(*) FROM sqlite_master WHERE name = 'cases'").fetchone() == (1,)


def test_upgrading_counts_the_dashboards_figures_of_existing_cases(tmp_path, monkeypatch):
    """A school that upgrades keeps its dashboard: the migration that adds the running counts counts the cases it
    finds; `portal figures rebuild` counts them again the same way."""
    from datetime import timedelta

    from conftest import base_config

    from portal import create_app
    from portal.cli import upgrade_database
    from portal.models import Case, CaseFigure
    from portal.models.base import utcnow

    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path))
    url = f"sqlite:///{tmp_path}/old.db"
    app = create_app(base_config(url, tmp_path))
    opened = utcnow().replace(day=3, hour=1)
    with app.app_context():
        upgrade_database(revision="0009")
        school = School(code="hanbit", name_ko="한빛중학교", name_en="Hanbit")
        db.session.add(school)
        db.session.flush()
        for number in range(3):
            db.session.execute(Case.__table__.insert().values(
                public_id=f"old-{number}", school_id=school.id, reference=f"HANBIT-2026-{number:04d}",
                kind="incident", categories="threat", platforms="telegram,discord", victim_kind="staff",
                urgent=False, victim_knows="unknown", guardians_told="unknown", police_told=False, status="closed",
                submission_token=f"old-token-{number}", created_at=opened, updated_at=opened,
                acknowledged_at=opened + timedelta(hours=2)))
        db.session.commit()
        upgrade_database()
        rows = set(db.session.execute(select(CaseFigure.figure, CaseFigure.count)).all())
        assert rows == {("opened", 3), ("category:threat", 3), ("platform:telegram", 3), ("platform:discord", 3),
                        ("ack:20", 3)}
        db.engine.dispose()
    result = run_portal(["figures", "rebuild"], tmp_path, url)
    assert result.returncode == 0 and "3 cases" in result.stdout


def test_upgrading_gives_cases_waiting_to_be_acknowledged_that_deadline_in_the_inbox_order(tmp_path, monkeypatch):
    """Cases opened before 0013 stored no acknowledgement deadline as their first one (a student's request none at
    all): the upgrade sets it on the cases still waiting, and leaves the others alone."""
    from datetime import timedelta

    from conftest import base_config

    from portal import create_app
    from portal.cli import upgrade_database
    from portal.models import Case
    from portal.models.base import utcnow

    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path))
    app = create_app(base_config(f"sqlite:///{tmp_path}/old.db", tmp_path))
    opened = utcnow().replace(microsecond=0)
    with app.app_context():
        upgrade_database(revision="0012")
        school = School(code="hanbit", name_ko="한빛중학교", name_en="Hanbit")
        db.session.add(school)
        db.session.flush()
        rows = {"request": ("new", None), "earlier": ("new", opened + timedelta(minutes=5)),
                "acknowledged": ("acknowledged", None)}
        for name, (status, due) in rows.items():
            db.session.execute(Case.__table__.insert().values(
                public_id=name, school_id=school.id, reference=f"HANBIT-2026-{name}", kind="student_request",
                categories="", platforms="", victim_kind="student", urgent=False, victim_knows="unknown",
                guardians_told="unknown", police_told=False, status=status, submission_token=f"token-{name}",
                created_at=opened, updated_at=opened, next_due_at=due))
        db.session.commit()
        upgrade_database()
        stored = dict(db.session.execute(select(Case.public_id, Case.next_due_at)).all())
        assert stored == {"request": opened + timedelta(hours=school.ack_normal_hours),
                          "earlier": opened + timedelta(minutes=5), "acknowledged": None}
        db.engine.dispose()
