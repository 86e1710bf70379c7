"""The deployment guide's sample files (docs/deploy/), tried where a test reaches them: the example configuration
loads, the systemd units verify, and the nginx site file proxies TLS to a running `portal serve`, which sees the
client's own address."""

from __future__ import annotations

import datetime
import functools
import http.client
import ipaddress
import os
import re
import shutil
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import pytest

from portal import create_app
from portal.config import write_instance_config
from portal.testing import free_port, served

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "docs" / "deploy"
HOST = "portal.school.example"  # the sample's server_name and PUBLIC_URL
CLIENT = "127.0.0.2"  # the browser's address: not the one nginx uses to reach the portal (127.0.0.1)
UNITS = ("portal.service", "portal-backup.service", "portal-backup.timer")
DEMO_PASSWORD = "deploy-demo-passphrase"


def deployment_instance(folder: Path) -> Path:
    """An instance folder made as the guide says: the keys `portal init` writes, then the example's settings."""
    write_instance_config(folder)
    with open(folder / "config.py", "a", encoding="utf-8") as config:
        config.write("\n" + (DEPLOY / "config.py").read_text(encoding="utf-8"))
    return folder


def test_the_example_configuration_loads(tmp_path, monkeypatch):
    for name in [name for name in os.environ if name.startswith("PORTAL_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(deployment_instance(tmp_path / "instance")))
    config = create_app().config
    assert config["PUBLIC_URL"] == f"https://{HOST}" and HOST in config["TRUSTED_HOSTS"]
    assert config["HTTPS"] and config["SESSION_COOKIE_NAME"] == "__Host-portal" and config["PROXY_COUNT"] == 1
    assert config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")
    engine_options = config["SQLALCHEMY_ENGINE_OPTIONS"]
    assert engine_options["pool_size"] == 10 and engine_options["max_overflow"] == 0
    assert config["RATELIMIT_STORAGE_URI"].startswith("redis://")
    assert config["DATA_KEY_ID"] in config["DATA_KEYS"] and config["AUDIT_KEY"]  # the keys `portal init` wrote


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed (package systemd)")
def test_the_systemd_units_verify(tmp_path):
    # The units name the guide's install folder; here they point at this checkout, so that systemd-analyze finds
    # the programs they start.
    for unit in UNITS:
        text = (DEPLOY / unit).read_text(encoding="utf-8")
        text = text.replace("/opt/portal/.venv/bin", str(Path(sys.executable).parent)).replace("/opt/portal", str(ROOT))
        (tmp_path / unit).write_text(text, encoding="utf-8")
    result = subprocess.run(["systemd-analyze", "verify", *(str(tmp_path / unit) for unit in UNITS)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# --- nginx with TLS in front of `portal serve` --------------------------------------------------------------------

NGINX_CONF = """daemon off; pid {root}/nginx.pid; worker_processes 1; error_log {root}/error.log;
events {{ worker_connections 64; }}
http {{
  include /etc/nginx/mime.types; default_type application/octet-stream;
  gzip on;  # as Debian's nginx.conf has it
  client_body_temp_path {root}/body; proxy_temp_path {root}/proxy; fastcgi_temp_path {root}/fastcgi;
  uwsgi_temp_path {root}/uwsgi; scgi_temp_path {root}/scgi;
  include {root}/portal.conf;
}}
"""


def _self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST),
                                                               x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "fullchain.pem", folder / "privkey.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def _site_file(root: Path, portal_port: int, http_port: int, https_port: int) -> str:
    """The sample site file with this test's ports, certificate and log folder, and nothing else changed."""
    cert, key = _self_signed_certificate(root)
    site = (DEPLOY / "nginx-portal.conf").read_text(encoding="utf-8")
    for old, new in {
        "server 127.0.0.1:5000;": f"server 127.0.0.1:{portal_port};",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen [::]:80;": "",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "listen [::]:443 ssl http2;": "",
        f"/etc/letsencrypt/live/{HOST}/fullchain.pem": str(cert),
        f"/etc/letsencrypt/live/{HOST}/privkey.pem": str(key),
        "/var/log/nginx/": f"{root}/",
    }.items():
        assert old in site, f"the sample site file no longer has {old!r}: update this test"
        site = site.replace(old, new)
    return site


def _wait_for_port(port: int, proc: subprocess.Popen, log: Path) -> None:
    import socket

    for _ in range(100):
        if proc.poll() is not None:
            raise RuntimeError(log.read_text())
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("nginx did not start: " + log.read_text())


@pytest.fixture(scope="module")
def behind_nginx():
    """`portal serve --demo` with the example configuration (SQLite and in-memory limits instead of the example's
    PostgreSQL and Redis), behind nginx running the sample site file; yields (https base URL, http base URL,
    the portal's database file, `nginx -t` output)."""
    if not shutil.which("nginx"):
        if os.environ.get("CI"):
            pytest.fail("nginx is not installed")
        pytest.skip("nginx is not installed (apt-get install nginx)")
    root = Path(tempfile.mkdtemp(prefix="portal-deploy-"))
    os.chmod(root, 0o755)  # nginx's workers run as another user when started as root
    instance = deployment_instance(root / "instance")
    database = root / "portal.db"
    env = {name: value for name, value in os.environ.items() if not name.startswith("PORTAL_")}
    env.update(PORTAL_DATABASE_URL=f"sqlite:///{database}", PORTAL_REDIS_URL="memory://", PORTAL_MAIL_SERVER="",
               PORTAL_DEMO_PASSWORD=DEMO_PASSWORD)
    try:
        with served({**env, "PORTAL_INSTANCE_PATH": str(instance)}, "--demo", "--no-background",
                    log=instance / "server.log") as portal_url:
            http_port, https_port = free_port(), free_port()
            (root / "portal.conf").write_text(_site_file(root, int(portal_url.rsplit(":", 1)[1]), http_port,
                                                         https_port))
            conf = root / "nginx.conf"
            conf.write_text(NGINX_CONF.format(root=root))
            nginx = ["nginx", "-p", f"{root}/", "-c", str(conf), "-e", f"{root}/error.log"]
            checked = subprocess.run([*nginx, "-t"], capture_output=True, text=True, timeout=30)
            assert checked.returncode == 0, checked.stderr
            proc = subprocess.Popen(nginx, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                _wait_for_port(https_port, proc, root / "error.log")
                yield f"https://127.0.0.1:{https_port}", f"http://127.0.0.1:{http_port}", database, checked.stderr
            finally:
                proc.terminate()
                proc.wait(10)
    finally:
        shutil.rmtree(root, ignore_errors=True)


class _FromClientAddress(urllib.request.HTTPSHandler):
    """HTTPS from CLIENT's address, trusting the test's self-signed certificate."""

    def __init__(self):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        super().__init__(context=context)

    def https_open(self, req):
        connection = functools.partial(http.client.HTTPSConnection, source_address=(CLIENT, 0))
        return self.do_open(connection, req, context=self._context)


def _browser():
    """A browser at CLIENT's address, with its cookies."""
    return urllib.request.build_opener(_FromClientAddress(), urllib.request.HTTPCookieProcessor(CookieJar()))


def _open(browser, url: str, data: bytes | None = None, **headers):
    """The answer to a request for the portal's host name (errors included); redirects are followed."""
    request = urllib.request.Request(url, data, headers={"Host": HOST, **headers})
    try:
        return browser.open(request, timeout=10)
    except urllib.error.HTTPError as error:
        return error


def test_nginx_accepts_the_sample_site_file(behind_nginx):
    assert "test is successful" in behind_nginx[3]


def test_a_lesson_page_and_its_stylesheet_through_nginx_over_tls(behind_nginx):
    https, plain_http, _database, _checked = behind_nginx
    browser = _browser()
    page = _open(browser, f"{https}/lessons/a1-pictures-can-change", **{"Accept-Encoding": "gzip"})
    html = page.read().decode()
    assert page.status == 200 and 'lang="ko"' in html
    assert page.headers["Strict-Transport-Security"].startswith("max-age=31536000")  # HTTPS = True
    assert page.headers["Server"] == "nginx" and "Content-Encoding" not in page.headers  # no version, no gzip
    stylesheet = re.search(r'href="(/static/[^"]+\.css)"', html).group(1)
    css = _open(browser, https + stylesheet, **{"Accept-Encoding": "gzip"})
    assert css.status == 200 and css.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert css.headers["Content-Encoding"] == "gzip"
    connection = http.client.HTTPConnection(plain_http.removeprefix("http://"), timeout=10)
    connection.request("GET", "/lessons", headers={"Host": HOST})
    redirect = connection.getresponse()
    assert redirect.status == 301 and redirect.getheader("Location") == f"https://{HOST}/lessons"
    connection.close()


def test_the_portal_sees_the_client_address_not_nginx_or_a_forged_header(behind_nginx):
    https, _http, database, _checked = behind_nginx
    browser = _browser()
    login = _open(browser, f"{https}/login").read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', login).group(1)
    form = urllib.parse.urlencode({"csrf_token": token, "username": "hanbit-counselor1",
                                   "password": DEMO_PASSWORD}).encode()
    # A client that writes its own X-Forwarded-For: nginx appends the address it sees, and the portal reads only
    # that last entry (PROXY_COUNT = 1). Like a browser under the no-referrer policy, it sends no Referer.
    signed_in = _open(browser, f"{https}/login", form, **{"X-Forwarded-For": "203.0.113.9"})
    assert signed_in.status == 200 and signed_in.url.endswith("/dashboard/"), signed_in.read()[:300]
    with sqlite3.connect(database) as connection:
        address = connection.execute("SELECT address FROM audit_events WHERE action = 'login' "
                                     "ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert address == CLIENT


def test_nginx_refuses_a_body_over_the_portal_limit_and_the_portal_a_foreign_host(behind_nginx):
    https = behind_nginx[0]
    assert _open(_browser(), f"{https}/login", b"x" * (3 * 1024 * 1024)).status == 413
    assert _open(_browser(), f"{https}/", Host="evil.example").status == 400
