"""For the tests and the benchmarks: a deployment's instance folder and database, `portal serve` in a child process
on a free loopback port, and a browser-like client for it (one copy instead of one per script)."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PORTAL = [sys.executable, "-c", "from portal.cli import main; main()"]
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
SUBMISSION = re.compile(r'name="submission_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="submission_token"')


def fresh_database(url: str, suffix: str) -> str:
    """A new, empty PostgreSQL database named after the one in `url` plus `suffix` (dropped first if it exists):
    a test or benchmark of its own, never the database other tests drop and clean. Returns its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"{make_url(url).database}_{suffix}"
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    """Drop a database that fresh_database made."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    engine = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    engine.dispose()


def deployment(instance: Path, settings: dict, teachers: int, password_hash: str) -> None:
    """An instance folder whose config.py (made with fresh keys, then `settings` appended) every server of a
    deployment reads, and its database migrated with one school ("hanbit"), its lead counselor and `teachers`
    teachers named hanbit-teacher0, hanbit-teacher1, … who all have the password of `password_hash`."""
    from portal import create_app
    from portal.cli import upgrade_database
    from portal.config import write_instance_config
    from portal.extensions import db
    from portal.models import Role, School, User

    config = write_instance_config(instance)
    with config.open("a", encoding="utf-8") as handle:
        handle.writelines(f"{key} = {value!r}\n" for key, value in settings.items())
    old = os.environ.get("PORTAL_INSTANCE_PATH")
    os.environ["PORTAL_INSTANCE_PATH"] = str(instance)  # create_app reads the instance folder from here only
    try:
        app = create_app()
    finally:
        os.environ.pop("PORTAL_INSTANCE_PATH")
        if old is not None:
            os.environ["PORTAL_INSTANCE_PATH"] = old
    with app.app_context():
        upgrade_database()
        school = School(code="hanbit", name_ko="한빛중학교", name_en="Hanbit Middle School")
        db.session.add(school)
        db.session.flush()
        # The counselor has an address, so each report also queues a mail (sent after its commit), as at a school.
        db.session.add(User(username="hanbit-counselor", role=Role.COUNSELOR, school_id=school.id, is_lead=True,
                            display_name="Counselor", email="counselor@hanbit.example", password_hash=password_hash))
        db.session.add_all(User(username=f"hanbit-teacher{n}", role=Role.TEACHER, school_id=school.id,
                                display_name=f"Teacher {n}", password_hash=password_hash) for n in range(teachers))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def count_cases(instance: Path, url: str | None = None) -> tuple[int, int]:
    """(cases, distinct references) in the deployment's database, counted in the database itself."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url or f"sqlite:///{instance / 'portal.db'}")
    with engine.connect() as conn:
        counts = conn.execute(text("SELECT count(*), count(DISTINCT reference) FROM cases")).one()
    engine.dispose()
    return counts[0], counts[1]


def compile_bytecode() -> None:
    """Write the portal's bytecode, as installing it does (pip compiles what it installs). The benchmarks start
    processes and time them: where PYTHONDONTWRITEBYTECODE is set, as on the development VMs, each would compile
    ~90 modules from source, a tenth of a second of every restart and `portal tick` measured."""
    import compileall

    compileall.compile_dir(ROOT / "portal", quiet=1)


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, log: Path, seconds: float = 30) -> None:
    """Return once `url` answers; raise with the server's log if the process ends or it never answers."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)  # noqa: S310  our own loopback server
            return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(log.read_text()) from None
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer:\n{log.read_text()}")


@contextmanager
def served(env: dict[str, str], *args: str, log: Path, started: list | None = None) -> Iterator[str]:
    """`portal serve --port <free port> *args` with this environment until the block ends; yields its base URL
    once /healthz answers. Its output goes to `log`. The server and its worker processes are stopped together.
    The server's process is appended to `started` when given (the benchmark reads its memory)."""
    port = free_port()
    with log.open("w") as out:
        proc = subprocess.Popen([*PORTAL, "serve", "--port", str(port), *args], env=env, cwd=ROOT,  # noqa: S603
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        if started is not None:
            started.append(proc)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for(base + "/healthz", proc, log)
            yield base
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """One browser: its own cookies, redirects not followed (a test reads where they point)."""

    def __init__(self, base: str, cookies: http.cookiejar.CookieJar | None = None):
        self.base = base
        self.cookies = cookies if cookies is not None else http.cookiejar.CookieJar()
        self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirect())

    def on(self, base: str) -> Browser:
        """The same browser (the same cookies) talking to another server of the deployment."""
        return Browser(base, self.cookies)

    def request(self, path: str, data: dict | None = None) -> tuple[int, str, str]:
        """(status, Location header, body) of a GET, or of a form POST when `data` is given."""
        body = urllib.parse.urlencode(data, doseq=True).encode() if data is not None else None
        try:
            request = urllib.request.Request(self.base + path, data=body)  # noqa: S310  our own loopback server
            with self._opener.open(request, timeout=30) as response:
                return response.status, response.headers.get("Location", ""), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Location", ""), error.read().decode()

    def submit(self, path: str, data: dict) -> tuple[int, str, str]:
        """Load the page and post its form with the page's CSRF token, as a person would."""
        _status, _location, page = self.request(path)
        match = CSRF.search(page)
        return self.request(path, {"csrf_token": match.group(1) if match else "", **data})

    def sign_in(self, username: str, password: str) -> tuple[int, str, str]:
        """The sign-in form; a 302 means signed in."""
        return self.submit("/login", {"username": username, "password": password})

    def session_cookie(self) -> str:
        """The session cookie as a Cookie header (for wrk)."""
        return "; ".join(f"{c.name}={c.value}" for c in self.cookies if c.name.startswith(("portal", "__Host-portal")))

    def file_report(self, description: str = "a report") -> tuple[int, str, str]:
        """A teacher's incident report, sent from its form in one step; a 302 to the receipt means it was filed."""
        status, location, page = self.request("/reports/new/form")
        csrf, submission = CSRF.search(page), SUBMISSION.search(page)
        if not (csrf and submission):
            return status, location, page
        token = submission.group(1) or submission.group(2)
        return self.request("/reports/new/form", report_fields(csrf.group(1), token, description))


def report_fields(csrf_token: str, submission_token: str, description: str) -> dict[str, str]:
    """What the report form posts when a teacher sends it at once (no review step)."""
    return {"csrf_token": csrf_token, "submission_token": submission_token, "action": "submit",
            "categories": "distribution", "victim_kind": "student", "urgent": "no", "police_told": "no",
            "description": description}
