"""Every performance figure of the README in one run, each against a reference measured in the same run.

    .venv/bin/python bench/run.py [--smoke] [--duration 8] [--connections 50] [--server granian|waitress]

Starts `portal serve --demo` on a free loopback port (a fresh instance folder, its own demo password) and nginx
serving, from memory-backed files, the identical bytes of each page the portal is asked for; drives both with wrk
and prints one table: the measure, the portal's figure, nginx's figure on the same bytes, the ratio, and the
machine. `--smoke` runs each measure for a second with a few connections: it checks that the script works (CI runs
it) and its figures mean nothing. Needs wrk and nginx (apt-get install wrk nginx; installed here when run as root).
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LESSON = "a1-pictures-can-change"
NGINX_CONF = """daemon off; pid {tmp}/nginx.pid; worker_processes auto; error_log {tmp}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{ access_log off; etag on;
  server {{ listen 127.0.0.1:{port}; root {tmp}/www; location / {{ default_type text/html; }} }} }}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, log: Path) -> None:
    for _ in range(300):
        try:
            urllib.request.urlopen(url, timeout=1)  # noqa: S310  our own loopback server
            return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(log.read_text()) from None
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer:\n{log.read_text()}")


def ensure_tools() -> None:
    missing = [tool for tool in ("wrk", "nginx") if not shutil.which(tool)]
    if missing and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, stdout=subprocess.DEVNULL)
        missing = [tool for tool in missing if not shutil.which(tool)]
    if missing:
        sys.exit(f"missing: {' '.join(missing)} (apt-get install {' '.join(missing)})")


@contextmanager
def portal(server: str | None):
    """The demo portal on a free port; yields (base URL, demo password)."""
    password = "bench-" + secrets.token_urlsafe(12)
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as instance:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k != "PORTAL_DATABASE_URL"}
        # wrk is one client address: the default per-address limit (3000 a minute) would answer it with 429s.
        env.update(PORTAL_INSTANCE_PATH=instance, PORTAL_DEMO_PASSWORD=password,
                   PORTAL_RATELIMIT_DEFAULT="100000000 per minute")
        log = Path(instance) / "server.log"
        command = [sys.executable, "-c", "from portal.cli import main; main()", "serve", "--demo", "--port",
                   str(port), "--no-background", *(["--server", server] if server else [])]
        with log.open("w") as out:
            proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
            base = f"http://127.0.0.1:{port}"
            try:
                wait_for(base + "/healthz", proc, log)
                yield base, password, log, proc, Path(instance)
            finally:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()


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


def cold_start(instance: Path, server: str | None) -> dict[str, float]:
    """Seconds from starting `portal serve` on an instance that already exists (a restart: no migration to apply,
    no demo to seed) to its first 200 on /healthz and on a lesson page."""
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if k != "PORTAL_DATABASE_URL"}, "PORTAL_INSTANCE_PATH": str(instance)}
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


def memory(pid: int) -> list[tuple[str, int]]:
    """(command, RSS in MB) of a process and every process under it, as `ps` shows them."""
    rows = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,rss=,comm="], capture_output=True, text=True,  # noqa: S607
                          check=True).stdout.split("\n")
    table = [row.split(None, 3) for row in rows if row.strip()]
    wanted, found = {pid}, []
    for _ in range(4):  # the server, its workers, anything they started
        wanted |= {int(p) for p, parent, _rss, _name in table if int(parent) in wanted}
    for p, _parent, rss, name in table:
        if int(p) in wanted:
            found.append((name, round(int(rss) / 1024)))
    return found


def signed_in_cookie(base: str, username: str, password: str) -> str:
    """Sign in through the form like a browser and return the session cookie header."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(base + "/login").read().decode()  # noqa: S310
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"csrf_token": token, "username": username, "password": password}).encode()
    opener.open(base + "/login", data)  # noqa: S310
    return "; ".join(f"{c.name}={c.value}" for c in jar if c.name.startswith(("portal", "__Host-portal")))


def fetch(url: str, headers: dict[str, str] | None = None) -> bytes:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310
    return urllib.request.urlopen(request).read()  # noqa: S310


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="one second per measure: check that it runs")
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--server", choices=("granian", "waitress"), default=None)
    args = parser.parse_args()
    duration, connections, signed_in_connections = (1, 4, 4) if args.smoke else (args.duration, args.connections, 32)
    ensure_tools()
    rows = []
    with portal(args.server) as (base, password, log, proc, instance), nginx() as (reference, www):
        server = re.search(r"\((granian[^;]*|waitress)", log.read_text())
        cookie = signed_in_cookie(base, "hanbit-counselor1", password)
        signed_in = {"Cookie": cookie}
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
        ]
        for number, (label, path, headers, conns, think) in enumerate(measures):
            body = fetch(base + path, headers)
            name = f"page{number}.html"
            (www / name).write_bytes(body)  # nginx serves the identical bytes
            wrk(base + path, 1, conns, headers)  # warm up: the first render fills the page cache
            seconds = max(duration, 4) if think else duration  # a reader sends a page every second or so
            ours = wrk(base + path, seconds, conns, headers, think)
            theirs = wrk(f"{reference}/{name}", seconds, conns, think=think)
            rows.append((label, len(body), conns, ours, theirs, think))
        processes = memory(proc.pid)
        restart = cold_start(instance, args.server)
    machine = f"{os.cpu_count()} CPU(s), {platform.system()} {platform.release()}, " \
              f"{server.group(1) if server else 'server ?'}"
    print(f"machine: {machine}; wrk -t2 -d{duration}s; nginx serves the same bytes in the same run; the default "
          "per-address rate limit is lifted (wrk is one address); \"users reading\" wait 0.5-1.5 s between pages"
          + (" (smoke run: the figures mean nothing)" if args.smoke else ""))
    print("| measure | bytes | connections | portal req/s | portal p99 | nginx req/s | nginx p99 | portal/nginx |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, size, conns, ours, theirs, think in rows:
        # Readers set the pace, so both answer the same number of pages: compare the time to answer instead.
        ratio = "paced: compare p99" if think or not theirs["rate"] else f"{100 * ours['rate'] / theirs['rate']:.1f} %"
        print(f"| {label} | {size:,} | {conns} | {ours['rate']:,.0f} | {ours['p99']:.1f} ms | {theirs['rate']:,.0f} | "
              f"{theirs['p99']:.1f} ms | {ratio} |")
    print("\nmemory after the runs (RSS, as ps shows each process whole): "
          + ", ".join(f"{name} {mb} MB" for name, mb in processes)
          + f"; largest {max(mb for _name, mb in processes)} MB")
    print(f"restart (an existing instance): first 200 on /healthz after {restart['healthz']:.2f} s, "
          f"on a lesson page after {restart['lesson']:.2f} s")


if __name__ == "__main__":
    main()
