"""Every performance figure of the README in one run, each against a reference measured in the same run.

    .venv/bin/python bench/run.py [--smoke] [--duration 8] [--connections 50] [--server granian|waitress]
                                  [--submitters 16] [--postgres-url URL] [--reports-only] [--pages-on-postgres]
                                  [--only WORDS]

Starts `portal serve --demo` on a free loopback port (a fresh instance folder, its own demo password) and nginx
serving, from memory-backed files, the identical bytes of each page the portal is asked for; drives both with wrk
and prints one table: the measure, the portal's figure, nginx's figure on the same bytes, the ratio, and the
machine. `--smoke` runs each measure for a second with a few connections: it checks that the script works (CI runs
it) and its figures mean nothing. Needs wrk and nginx (apt-get install wrk nginx; installed here when run as root).

The last rows are reports per second: `--submitters` teachers (16) send the report form at once to `portal serve`
with its defaults, on SQLite and on PostgreSQL (`--postgres-url`, a server where it creates and drops a database of
its own), counted as cases in the database; `--reports-only` runs just those. With `--pages-on-postgres` the pages
are served from a database of their own on that server instead of SQLite (a district's set-up). `--only WORDS`
measures only the pages whose row name contains WORDS ("case file"), without the reports and restart rows.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from portal.testing import (
    CSRF,
    Browser,
    compile_bytecode,
    count_cases,
    deployment,
    drop_database,
    free_port,
    fresh_database,
    report_fields,
    served,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[1]
LESSON = "a1-pictures-can-change"
CASES = 30  # reports filed before the counselor's pages are measured
NGINX_CONF = """daemon off; pid {tmp}/nginx.pid; worker_processes auto; error_log {tmp}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{ access_log off; etag on;
  server {{ listen 127.0.0.1:{port}; root {tmp}/www; location / {{ default_type text/html; }} }} }}
"""


def ensure_tools() -> None:
    missing = [tool for tool in ("wrk", "nginx") if not shutil.which(tool)]
    if missing and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, stdout=subprocess.DEVNULL)
        missing = [tool for tool in missing if not shutil.which(tool)]
    if missing:
        sys.exit(f"missing: {' '.join(missing)} (apt-get install {' '.join(missing)})")


@contextmanager
def portal(server: str | None, postgres_url: str | None = None):
    """The demo portal on a free port, on SQLite in its instance folder or on a database of its own on the
    PostgreSQL server of `postgres_url`; yields (base URL, demo password, its log, its process, the instance, the
    database URL or None)."""
    password = "bench-" + secrets.token_urlsafe(12)
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as instance:
        env = {k: v for k, v in os.environ.items() if k != "PORTAL_DATABASE_URL"}
        # wrk is one client address: the default per-address limit (3000 a minute) would answer it with 429s.
        env.update(PORTAL_INSTANCE_PATH=instance, PORTAL_DEMO_PASSWORD=password,
                   PORTAL_RATELIMIT_DEFAULT="100000000 per minute")
        url = fresh_database(postgres_url, "pages") if postgres_url else None
        if url:
            env["PORTAL_DATABASE_URL"] = url
        log = Path(instance) / "server.log"
        started: list[subprocess.Popen] = []
        try:
            with served(env, "--demo", "--no-background", *(["--server", server] if server else []), log=log,
                        started=started) as base:
                yield base, password, log, started[0], Path(instance), url
        finally:
            if url:
                drop_database(url)


@contextmanager
def nginx():
    """nginx serving files written into its root; yields (base URL, root folder)."""
    # In memory where the machine has it, so that nginx's figure is not a disk's. TemporaryDirectory makes a
    # private, randomly named folder there.
    shm = "/dev/shm"  # noqa: S108
    with tempfile.TemporaryDirectory(prefix="nginx-bench-", dir=shm if Path(shm).is_dir() else None) as tmp:
        port = free_port()
        os.chmod(tmp, 0o755)  # nginx's workers run as another user (www-data) when started as root
        (Path(tmp) / "www").mkdir(mode=0o755)
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=tmp, port=port))
        proc = subprocess.Popen(["nginx", "-c", str(conf), "-e", f"{tmp}/nginx-error.log"],  # noqa: S603, S607
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            (Path(tmp) / "www" / "ping").write_text("ok")
            wait_for(base + "/ping", proc, Path(tmp) / "nginx-error.log")
            yield base, Path(tmp) / "www"
        finally:
            proc.terminate()
            proc.wait(10)


THINK_SCRIPT = "function delay() return math.random(500, 1500) end\n"  # a person reads before the next page


def wrk(url: str, duration: int, connections: int, headers: dict[str, str] | None = None,
        think: bool = False) -> dict[str, float]:
    """Requests per second and p99 latency (ms) of one wrk run; non-2xx answers are an error. With `think`, each
    connection is a person who waits 0.5-1.5 s between pages (wrk's latency never counts the wait)."""
    args = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{duration}s", "--latency"]
    if think:
        script = Path(tempfile.gettempdir()) / "portal-bench-think.lua"
        script.write_text(THINK_SCRIPT)
        args += ["-s", str(script)]
    for name, value in (headers or {}).items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout  # noqa: S603
    if "Non-2xx" in out:
        raise RuntimeError(f"{url} answered errors under load:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()
    p99 = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    return {"rate": rate, "p99": p99}


def cold_start(instance: Path, server: str | None, database_url: str | None = None) -> dict[str, float]:
    """Seconds from starting `portal serve` on an instance that already exists (a restart: no migration to apply,
    no demo to seed) to its first 200 on /healthz and on a lesson page."""
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if k != "PORTAL_DATABASE_URL"}, "PORTAL_INSTANCE_PATH": str(instance)}
    if database_url:
        env["PORTAL_DATABASE_URL"] = database_url
    command = [sys.executable, "-c", "from portal.cli import main; main()", "serve", "--port", str(port),
               "--no-background", *(["--server", server] if server else [])]
    base, found = f"http://127.0.0.1:{port}", {}
    began = time.perf_counter()
    proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    try:
        for name, path in (("healthz", "/healthz"), ("lesson", f"/lessons/{LESSON}/step/1")):
            while name not in found:
                try:
                    urllib.request.urlopen(base + path, timeout=1)  # noqa: S310  our own loopback server
                    found[name] = time.perf_counter() - began
                except OSError:
                    if proc.poll() is not None or time.perf_counter() - began > 60:
                        raise RuntimeError("the restarted portal did not answer") from None
                    time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(15)
    return found


def median_run(runs: list[dict], key: str = "p99") -> dict:
    """The run whose `key` is the median of `runs` (wrk results, restarts), with the lowest and highest of them."""
    ordered = sorted(runs, key=lambda run: run[key])
    return {**ordered[len(ordered) // 2], "low": ordered[0][key], "high": ordered[-1][key], "runs": len(ordered)}


def memory(pid: int) -> list[tuple[str, int, int | None]]:
    """(command, RSS in MB, PSS in MB or None) of a process and every process under it: RSS as `ps` shows it, and
    the proportional set size from /proc (Linux), which divides each page among the processes sharing it. Worker
    processes are forked from the server, which made the app first, so much of their RSS is the same pages."""
    rows = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,rss=,comm="], capture_output=True, text=True,  # noqa: S607
                          check=True).stdout.split("\n")
    table = [row.split(None, 3) for row in rows if row.strip()]
    wanted, found = {pid}, []
    for _ in range(4):  # the server, its workers, anything they started
        wanted |= {int(p) for p, parent, _rss, _name in table if int(parent) in wanted}
    for p, _parent, rss, name in table:
        if int(p) in wanted:
            found.append((name, round(int(rss) / 1024), _pss_mb(int(p))))
    return found


def _pss_mb(pid: int) -> int | None:
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    match = re.search(r"^Pss:\s+(\d+) kB", rollup, re.MULTILINE)
    return round(int(match.group(1)) / 1024) if match else None


def signed_in_cookie(base: str, username: str, password: str) -> str:
    """Sign in through the form like a browser and return the session cookie header."""
    browser = Browser(base)
    browser.sign_in(username, password)
    return browser.session_cookie()


def fetch(url: str, headers: dict[str, str] | None = None) -> bytes:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310
    return urllib.request.urlopen(request).read()  # noqa: S310


# --- Reports per second: concurrent teachers sending the report form, counted in the database -------------------

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"  # the tests' default server (tests/conftest.py)
REPORT_GOAL = 200  # durably committed reports per second (issue 12), on SQLite (synchronous=FULL) and PostgreSQL
REPORT_PASSWORD = "bench-reporter-" + secrets.token_hex(4)


def _submit_reports(base: str, username: str, start: threading.Barrier, clock: dict, outcome: dict,
                    lock: threading.Lock) -> None:
    """One teacher, signed in once, sending reports until the clock's end: the form's CSRF token is read once (it
    belongs to the session), each report has a new submission token, as each load of the form gives."""
    browser = Browser(base)
    signed_in = browser.sign_in(username, REPORT_PASSWORD)[0] == 302
    csrf = CSRF.search(browser.request("/reports/new/form")[2]).group(1) if signed_in else ""
    start.wait()  # everyone is signed in (argon2 is not what is measured): the clock starts now
    while signed_in and time.monotonic() < clock["end"]:
        started = time.perf_counter()
        try:
            status, location, _page = browser.request(
                "/reports/new/form", report_fields(csrf, secrets.token_urlsafe(24), f"bench report {username}"))
        except OSError:
            status, location = 0, ""
        with lock:
            outcome["latencies"].append(time.perf_counter() - started)
            if status == 302 and "/receipt" in location:
                outcome["filed"] += 1
            elif 400 <= status < 500:
                outcome["refused"] += 1  # a clear answer (the form again, a 429): counted, not an error
            else:
                outcome["errors"] += 1  # a 5xx or no answer at all
    if not signed_in:
        with lock:
            outcome["errors"] += 1


def server_cpu_seconds(leader: int) -> float:
    """CPU seconds (user and system) used so far by the `portal serve` whose process is `leader` and its worker
    processes: what a report costs the server, whatever else the machine is running (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for proc in Path("/proc").iterdir():
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if proc.name.isdigit() and int(fields[2]) == leader:  # the server's process group (start_new_session)
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def report_rate(backend: str, postgres_url: str, submitters: int, seconds: float) -> dict:
    """Reports per second that `submitters` teachers get filed and committed through one `portal serve` (its
    defaults: granian, one process without Redis), and how many of their answers were errors."""
    from argon2 import PasswordHasher

    with tempfile.TemporaryDirectory(prefix="portal-bench-reports-") as folder:
        instance = Path(folder)
        url = fresh_database(postgres_url, "bench") if backend == "postgresql" else None
        try:
            # One client address sends everything: the per-address limit (3000 requests a minute) is lifted.
            settings = {"RATELIMIT_DEFAULT": "100000000 per minute"}
            if url:
                settings["SQLALCHEMY_DATABASE_URI"] = url
            deployment(instance, settings, submitters, PasswordHasher().hash(REPORT_PASSWORD))
            # The set-up's Redis, when it has one, is kept: `portal serve` then runs one worker per core.
            env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_") or k == "PORTAL_REDIS_URL"}
            env["PORTAL_INSTANCE_PATH"] = folder
            outcome, lock, clock = {"filed": 0, "refused": 0, "errors": 0, "latencies": []}, threading.Lock(), {}
            started: list[subprocess.Popen] = []
            with served(env, "--no-background", log=instance / "server.log", started=started) as base:
                leader = started[0].pid
                start = threading.Barrier(submitters, action=lambda: clock.update(
                    start=time.monotonic(), end=time.monotonic() + seconds, cpu=server_cpu_seconds(leader)))
                threads = [threading.Thread(target=_submit_reports, args=(
                    base, f"hanbit-teacher{n}", start, clock, outcome, lock)) for n in range(submitters)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                elapsed = time.monotonic() - clock["start"]
                cpu = server_cpu_seconds(leader) - clock["cpu"]
                time.sleep(1)  # the courier's last round: mail leaves after the commits
            committed, references = count_cases(instance, url)
            durability = _durability(url)
            locked = (instance / "server.log").read_text().count("database is locked")
        finally:
            if url:
                drop_database(url)
    latencies = sorted(outcome["latencies"]) or [0.0]
    return {"rate": committed / elapsed, "p99": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
            "cpu_ms": 1000 * cpu / max(committed, 1), "durability": durability,
            "filed": outcome["filed"], "refused": outcome["refused"], "errors": outcome["errors"],
            "committed": committed, "distinct": references == committed, "locked": locked}


def _durability(url: str | None) -> str:
    """The database as the table names it, with the settings that make a commit durable as the server has them."""
    if url is None:
        return "SQLite, synchronous=FULL"  # portal/database.py sets it on every connection
    engine = create_engine(url)
    with engine.connect() as conn:
        fsync, commit = (conn.execute(text(f"SHOW {name}")).scalar() for name in ("fsync", "synchronous_commit"))
    engine.dispose()
    return f"PostgreSQL, fsync={fsync}, synchronous_commit={commit}"


def report_rows(postgres_url: str, submitters: int, seconds: float, rounds: int = 1) -> list[str]:
    """The table rows of the reports-per-second measure, one per database. Each runs `rounds` times, the two
    databases taking turns (a VM's speed drifts within minutes: the same code gave 152-198 a second from one run to
    the next), and shows its median run with the range; refusals, errors and "database is locked" are those of
    every run."""
    runs: dict[str, list[dict]] = {"sqlite": [], "postgresql": []}
    unreachable = None
    for _ in range(rounds):
        for backend in runs:
            if backend == "postgresql" and unreachable:
                continue
            try:
                runs[backend].append(report_rate(backend, postgres_url, submitters, seconds))
            except OperationalError as error:  # PostgreSQL is not reachable: the table says so
                unreachable = type(error).__name__
    rows = []
    for results in runs.values():
        if not results:
            rows.append(f"| reports filed, PostgreSQL | – | {submitters} | not measured: {unreachable} | | | | |")
            continue
        results.sort(key=lambda result: result["rate"])
        middle = results[len(results) // 2]
        spread = f" ({results[0]['rate']:,.0f}–{results[-1]['rate']:,.0f}, {len(results)} runs)" if rounds > 1 else ""
        refused, errors, locked = (sum(result[key] for result in results) for key in ("refused", "errors", "locked"))
        every = " in every run" if rounds > 1 else ""
        rows.append(
            f"| reports filed and committed, {middle['durability']} | – | {submitters} | "
            f"{middle['rate']:,.0f}{spread} | "
            f"{middle['p99']:.1f} ms | goal {REPORT_GOAL} | – | {100 * middle['rate'] / REPORT_GOAL:.0f} % of goal; "
            f"{middle['committed']:,} cases in the database for {middle['filed']:,} receipts; "
            f"{refused} refused, {errors} errors, {locked} \"database is locked\"{every}; "
            f"server CPU {middle['cpu_ms']:.1f} ms a report |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="one second per measure: check that it runs")
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--server", choices=("granian", "waitress"), default=None)
    parser.add_argument("--submitters", type=int, default=16, help="teachers sending reports at once")
    parser.add_argument("--postgres-url", default=os.environ.get("PORTAL_TEST_POSTGRES_URL", POSTGRES_URL),
                        help="a PostgreSQL the reports measure may create its own database in")
    parser.add_argument("--reports-only", action="store_true", help="only the reports-per-second rows")
    parser.add_argument("--pages-on-postgres", action="store_true",
                        help="serve the pages from a database on --postgres-url instead of SQLite")
    parser.add_argument("--only", metavar="WORDS", help="only the page measures whose name contains WORDS, "
                        "e.g. --only 'case file' (no reports or restart rows)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each \"users reading\" row, of each "
                        "reports row and of the restart: the table shows the median and the range (2 in a smoke run)")
    args = parser.parse_args()
    rounds = min(args.rounds, 2) if args.smoke else max(args.rounds, 1)
    compile_bytecode()  # the servers this run starts and restarts, as an installed portal
    duration, connections, signed_in_connections = (1, 4, 4) if args.smoke else (args.duration, args.connections, 32)
    report_lines = [] if args.only else report_rows(args.postgres_url, 4 if args.smoke else args.submitters, duration,
                                                    rounds)
    if args.reports_only:
        print("| measure | bytes | connections | portal req/s | portal p99 | nginx req/s | nginx p99 | portal/nginx |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        print("\n".join(report_lines))
        return
    ensure_tools()
    rows = []
    pages_url = args.postgres_url if args.pages_on_postgres else None
    with portal(args.server, pages_url) as (base, password, log, proc, instance, url), nginx() as (reference, www):
        server = re.search(r"\((granian[^;]*|waitress)", log.read_text())
        # A teacher files reports first, so that the counselor's pages show cases, as at a school.
        teacher = Browser(base)
        teacher.sign_in("hanbit-teacher1", password)
        for number in range(3 if args.smoke else CASES):
            teacher.file_report(f"benchmark report {number}")
        cookie = signed_in_cookie(base, "hanbit-counselor1", password)
        signed_in = {"Cookie": cookie}
        inbox = fetch(base + "/cases/", signed_in).decode()
        case_file = re.search(r'href="(/cases/[A-Za-z0-9_-]{16,})"', inbox).group(1)
        lesson_page = fetch(f"{base}/lessons/{LESSON}/step/1").decode()
        stylesheet = re.search(r'href="(/static/[^"]+\.css)"', lesson_page).group(1)  # its fingerprinted URL
        measures = [
            ("lesson page, visitor", f"/lessons/{LESSON}/step/1", {}, connections, False),
            ("stylesheet, fingerprinted", stylesheet, {}, connections, False),
            ("health check (whole Flask stack)", "/healthz", {}, connections, False),
            ("counselor's dashboard, signed in, no pause", "/dashboard/", signed_in, signed_in_connections, False),
            ("case inbox, signed in, no pause", "/cases/", signed_in, signed_in_connections, False),
            ("counselor's dashboard, 32 users reading", "/dashboard/", signed_in, signed_in_connections, True),
            ("case inbox, 32 users reading", "/cases/", signed_in, signed_in_connections, True),
            # Each view of a case file writes its audit row before the page renders.
            ("case file, 32 users reading", case_file, signed_in, signed_in_connections, True),
        ]
        if args.only:
            measures = [measure for measure in measures if args.only in measure[0]]
        for number, (label, path, headers, conns, think) in enumerate(measures):
            body = fetch(base + path, headers)
            name = f"page{number}.html"
            (www / name).write_bytes(body)  # nginx serves the identical bytes
            wrk(base + path, 1, conns, headers)  # warm up: the first render fills the page cache
            # A reader sends a page every second or so: 32 readers give ~30 pages a second, and the p99 of an 8-second
            # run is its 3rd-slowest page (it varied 48-92 ms between runs); 20 seconds make it the 6th of ~600.
            seconds = max(duration, 4 if args.smoke else 20) if think else duration
            # Even so one run's p99 moves a lot (the same page gave 42-86 ms in runs one after the other): a paced
            # row is run several times and shows its median run with the range.
            ours = median_run([wrk(base + path, seconds, conns, headers, think) for _ in range(rounds if think else 1)])
            theirs = wrk(f"{reference}/{name}", seconds, conns, think=think)
            rows.append((label, len(body), conns, ours, theirs, think))
        processes = memory(proc.pid)
        restarts = [] if args.only else [cold_start(instance, args.server, url) for _ in range(rounds)]
    machine = f"{os.cpu_count()} CPU(s), {platform.system()} {platform.release()}, " \
              f"{server.group(1) if server else 'server ?'}, pages on {'PostgreSQL' if pages_url else 'SQLite'}"
    print(f"machine: {machine}; wrk -t2 -d{duration}s; nginx serves the same bytes in the same run; the default "
          "per-address rate limit is lifted (wrk is one address); \"users reading\" wait 0.5-1.5 s between pages"
          + (" (smoke run: the figures mean nothing)" if args.smoke else ""))
    print("| measure | bytes | connections | portal req/s | portal p99 | nginx req/s | nginx p99 | portal/nginx |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, size, conns, ours, theirs, think in rows:
        # Readers set the pace, so both answer the same number of pages: compare the time to answer instead.
        ratio = "paced: compare p99" if think or not theirs["rate"] else f"{100 * ours['rate'] / theirs['rate']:.1f} %"
        spread = f" ({ours['low']:.1f}–{ours['high']:.1f}, {ours['runs']} runs)" if ours["runs"] > 1 else ""
        print(f"| {label} | {size:,} | {conns} | {ours['rate']:,.0f} | {ours['p99']:.1f} ms{spread} | "
              f"{theirs['rate']:,.0f} | {theirs['p99']:.1f} ms | {ratio} |")
    if report_lines:
        print("\n".join(report_lines))
    print("\nmemory after the runs (RSS, as ps shows each process whole): "
          + ", ".join(f"{name} {mb} MB" for name, mb, _pss in processes)
          + f"; largest {max(mb for _name, mb, _pss in processes)} MB")
    if all(pss is not None for _name, _mb, pss in processes):
        print("the same processes' proportional set size (shared pages divided among them): "
              + ", ".join(f"{pss} MB" for _name, _mb, pss in processes)
              + f"; the deployment in all {sum(pss for _name, _mb, pss in processes)} MB")
    if restarts:
        def seconds(key: str) -> str:
            middle = median_run(restarts, key)
            spread = f" ({middle['low']:.2f}–{middle['high']:.2f})" if middle["runs"] > 1 else ""
            return f"{middle[key]:.2f} s{spread}"

        print(f"restart (an existing instance, median of {len(restarts)}): first 200 on /healthz after "
              f"{seconds('healthz')}, on a lesson page after {seconds('lesson')}")


if __name__ == "__main__":
    main()
