"""Faults while teachers submit reports: the portal killed, Redis killed, PostgreSQL restarted, the mail server
stopped. Nothing acknowledged may be lost, and no request may fail with a 5xx once the failed part is back.

Not a test (each run takes about half a minute and starts its own services): run it by hand, or before a release.

    .venv/bin/python bench/faults.py --fault kill      [--backend sqlite|postgresql] [--kills 3] [--writers 8]
    .venv/bin/python bench/faults.py --fault redis     # Redis SIGKILLed mid-run, then started again
    .venv/bin/python bench/faults.py --fault postgres  # the PostgreSQL cluster restarted mid-run
    .venv/bin/python bench/faults.py --fault mail      # the SMTP server stopped mid-run, then started again

Each writer signs in as its own teacher and keeps sending reports through the real form. A report counts as
acknowledged when the portal answered with the redirect to its receipt. At the end every acknowledged report must
be in the database exactly once, `portal audit verify` must pass and SQLite's integrity_check must say ok; with
`--fault mail`, every notice must have been delivered after the mail server came back (`portal tick`).

Every service is the script's own, on free loopback ports, and removed afterwards: a throwaway PostgreSQL cluster
(initdb, as the postgres user when run as root), a redis-server, an aiosmtpd server. The machine's shared services
are never touched.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
PASSWORD = "crash-test-passphrase-" + secrets.token_hex(4)
TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
SUBMISSION = re.compile(r'name="submission_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="submission_token"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def portal(env: dict, *args: str, input_text: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "-c", "from portal.cli import main; main()", *args], env=env, input=input_text,
                          capture_output=True, text=True, timeout=300, check=False)


class Postgres:
    """A throwaway PostgreSQL cluster on a free loopback port."""

    def __init__(self, base: Path):
        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not versions:
            raise SystemExit("initdb not found: apt-get install postgresql")
        self.bin = versions[-1].parent
        self.data = base / "pgdata"
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0

    def _run(self, *cmd: str) -> None:
        command = [str(self.bin / cmd[0]), *cmd[1:]]
        if self.as_postgres:
            command = ["su", "postgres", "-c", " ".join(command)]
        subprocess.run(command, check=True, capture_output=True, text=True)

    def start(self) -> str:
        self.data.mkdir()
        if self.as_postgres:
            shutil.chown(self.data, "postgres", "postgres")
            shutil.chown(self.data.parent, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.data / "log"), "-w", "-o",
                  f"'-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1'", "start")
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "crash")
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/crash"

    def restart(self) -> None:
        # -l again: without a log file the server would keep this command's output pipes open, and it would wait.
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.data / "log"), "-m", "fast", "-w", "restart")

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        except subprocess.CalledProcessError:
            pass


class Redis:
    """A redis-server of the script's own, without persistence."""

    def __init__(self):
        self.port, self.process = free_port(), None

    def start(self) -> str:
        self.process = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save",
                                         "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return f"redis://127.0.0.1:{self.port}/0"
            time.sleep(0.05)
        raise SystemExit("redis-server did not start")

    def kill(self) -> None:
        if self.process:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


class Mail:
    """An SMTP server (aiosmtpd) that counts what it receives; it can be stopped and started on the same port."""

    def __init__(self):
        self.port, self.controller, self.received = free_port(), None, 0

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        outer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                outer.received += 1
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller:
            self.controller.stop()
            self.controller = None


class Server:
    """`portal serve` in its own process, killed with SIGKILL and started again."""

    def __init__(self, env: dict, port: int):
        self.env, self.port, self.process = env, port, None

    def start(self) -> None:
        self.process = subprocess.Popen([PYTHON, "-c", "from portal.cli import main; main()", "serve", "--port",
                                         str(self.port), "--no-background", "--threads", "8"], env=self.env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True)
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1)
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("the portal did not start")

    def kill(self) -> None:
        # The server and its worker processes at once, as a crash or the OOM killer takes a service's cgroup.
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


class Writer(threading.Thread):
    """A teacher who keeps sending reports; records what the portal acknowledged."""

    def __init__(self, base: str, username: str, stop: threading.Event):
        super().__init__(daemon=True)
        self.base, self.username, self.stop = base, username, stop
        self.acknowledged: set[str] = set()
        self.acknowledged_at: list[float] = []
        self.errors = 0
        self.refused: dict[int, int] = {}
        self.server_errors: list[float] = []  # when a 5xx was answered

    def _opener(self):
        jar = http.cookiejar.CookieJar()
        return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect())

    def _get(self, opener, path: str) -> str:
        return opener.open(self.base + path, timeout=10).read().decode()

    def _post(self, opener, path: str, data: dict) -> tuple[int, str]:
        body = urllib.parse.urlencode(data, doseq=True).encode()
        try:
            response = opener.open(urllib.request.Request(self.base + path, data=body), timeout=10)
            return response.status, ""
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Location", "")

    def run(self) -> None:
        opener = None
        while not self.stop.is_set():
            try:
                if opener is None:
                    opener = self._opener()
                    token = TOKEN.search(self._get(opener, "/login")).group(1)
                    status, _ = self._post(opener, "/login", {"username": self.username, "password": PASSWORD,
                                                              "csrf_token": token})
                    if status != 302:
                        opener = None
                        time.sleep(0.2)
                        continue
                page = self._get(opener, "/reports/new/form")
                csrf = TOKEN.search(page).group(1)
                match = SUBMISSION.search(page)
                submission = match.group(1) or match.group(2)
                status, location = self._post(opener, "/reports/new/form", {
                    "csrf_token": csrf, "submission_token": submission, "action": "submit",
                    "categories": "distribution", "victim_kind": "student", "urgent": "no", "police_told": "no",
                    "description": f"crash test {submission}"})
                if status == 302 and "/receipt" in location:
                    self.acknowledged.add(location.split("/")[-2])  # the case's public id
                    self.acknowledged_at.append(time.monotonic())
                else:
                    self.refused[status] = self.refused.get(status, 0) + 1
                    if status >= 500:
                        self.server_errors.append(time.monotonic())
            except urllib.error.HTTPError as error:  # a GET answered with an error page
                if error.code >= 500:
                    self.server_errors.append(time.monotonic())
                opener = None
                time.sleep(0.1)
            except (OSError, AttributeError):  # the server is down (killed) or answered half a page
                self.errors += 1
                opener = None
                time.sleep(0.1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fault", choices=("kill", "redis", "postgres", "mail"), default="kill")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--kills", type=int, default=3, help="how many times the server is killed (--fault kill)")
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--interval", type=float, default=4.0, help="seconds between faults")
    args = parser.parse_args()
    # A terminated run still removes its services (the finally below), never leaving a cluster behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    if args.fault == "postgres":
        args.backend = "postgresql"

    base_dir = Path(tempfile.mkdtemp(prefix="portal-faults-"))
    if os.geteuid() == 0:
        os.chmod(base_dir, 0o755)
    postgres = Postgres(base_dir) if args.backend == "postgresql" else None
    redis = Redis() if args.fault == "redis" else None
    mail = Mail() if args.fault == "mail" else None
    server = None
    try:
        url = postgres.start() if postgres else f"sqlite:///{base_dir}/instance/portal.db"
        env = {**os.environ, "PORTAL_INSTANCE_PATH": str(base_dir / "instance"), "PORTAL_DATABASE_URL": url,
               "PORTAL_REQUIRE_TWO_FACTOR": "false"}
        if redis:
            env["PORTAL_REDIS_URL"] = redis.start()
        if mail:
            mail.start()
            env.update(PORTAL_MAIL_SERVER="127.0.0.1", PORTAL_MAIL_PORT=str(mail.port))
        for step in (["init"], ["create-school", "--code", "crash", "--name-ko", "충돌", "--name-en", "Crash"]):
            result = portal(env, *step)
            if result.returncode:
                raise SystemExit(result.stderr)
        portal(env, "create-user", "--role", "counselor", "--school", "crash", "--lead", "--email",
               "lead@school.test", "crash-lead", input_text=PASSWORD + "\n")
        names = [f"crash-teacher{n}" for n in range(args.writers)]
        for name in names:
            portal(env, "create-user", "--role", "teacher", "--school", "crash", name, input_text=PASSWORD + "\n")

        port = free_port()
        server = Server(env, port)
        server.start()
        stop = threading.Event()
        writers = [Writer(f"http://127.0.0.1:{port}", name, stop) for name in names]
        for writer in writers:
            writer.start()
        back_at = time.monotonic()  # from when no 5xx is acceptable
        down_window = (0.0, 0.0)
        time.sleep(args.interval)
        if args.fault == "kill":
            for _ in range(args.kills):
                server.kill()
                time.sleep(0.5)
                server.start()
                time.sleep(args.interval)
            back_at = 0.0  # a killed server answers nothing, never a 5xx
        elif args.fault == "redis":
            redis.kill()
            down_window = (time.monotonic(), 0.0)
            time.sleep(args.interval)  # reporting must go on while Redis is down
            down_window = (down_window[0], time.monotonic())
            redis.start()
            back_at = 0.0  # Redis down must never cause a 5xx
            time.sleep(args.interval)
        elif args.fault == "postgres":
            postgres.restart()
            back_at = time.monotonic() + 1.0
            time.sleep(args.interval)
        else:
            mail.stop()
            time.sleep(args.interval)
            mail.start()
            back_at = 0.0
            time.sleep(args.interval)
        stop.set()
        for writer in writers:
            writer.join(30)
        server.kill()
        if mail:
            # The periodic check retries with backoff; pass the clock over the backoff, then run the check once.
            from sqlalchemy import create_engine, text

            clock = create_engine(url)
            with clock.begin() as conn:
                conn.execute(text("UPDATE outbox_mails SET next_attempt_at = '2000-01-01 00:00:00', "
                                  "claimed_until = NULL WHERE sent_at IS NULL"))
            clock.dispose()
            tick = portal(env, "tick")
            print(f"portal tick: {(tick.stdout + tick.stderr).strip()[-300:]}")

        acknowledged = set().union(*(w.acknowledged for w in writers))
        from sqlalchemy import create_engine, text

        engine = create_engine(url)
        with engine.connect() as conn:
            stored = [row[0] for row in conn.execute(text("SELECT public_id FROM cases"))]
            tokens = conn.execute(text("SELECT count(*) - count(DISTINCT submission_token) FROM cases")).scalar()
            unsent = conn.execute(text("SELECT count(*) FROM outbox_mails WHERE sent_at IS NULL")).scalar()
            integrity = conn.execute(text("PRAGMA integrity_check")).scalar() if args.backend == "sqlite" else "n/a"
        engine.dispose()
        lost = acknowledged - set(stored)
        duplicates = len(stored) - len(set(stored)) + tokens
        late_errors = [t for w in writers for t in w.server_errors if t >= back_at]
        while_down = sum(1 for w in writers for t in w.acknowledged_at if down_window[0] <= t <= down_window[1])
        verify = portal(env, "audit", "verify")
        refused: dict[int, int] = {}
        for writer in writers:
            for status, n in writer.refused.items():
                refused[status] = refused.get(status, 0) + n
        print(f"fault: {args.fault}; backend: {args.backend}; writers: {args.writers}")
        print(f"acknowledged reports: {len(acknowledged)}; stored: {len(stored)}; lost: {len(lost)}; "
              f"duplicates: {duplicates}")
        print(f"requests cut off: {sum(w.errors for w in writers)}; other answers: {refused or 'none'}; "
              f"5xx once the part was back: {len(late_errors)}")
        if redis:
            print(f"reports acknowledged while Redis was down: {while_down}")
        if mail:
            print(f"mail received: {mail.received}; still unsent after the check: {unsent}")
        print(f"audit verify: {(verify.stdout or verify.stderr).strip()}")
        print(f"integrity check: {integrity}")
        ok = (acknowledged and not lost and not duplicates and not late_errors and verify.returncode == 0
              and integrity in ("ok", "n/a") and (not redis or while_down > 0) and (not mail or unsent == 0))
        print("RESULT:", "OK" if ok else "FAILED")
        return 0 if ok else 1
    finally:
        if server and server.process and server.process.poll() is None:
            server.kill()
        if mail:
            mail.stop()
        if redis:
            redis.kill()
        if postgres:
            postgres.stop()
        shutil.rmtree(base_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
