"""Faults of the parts the portal depends on: Redis dies, PostgreSQL restarts. Reporting must keep working."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest
from casehelpers import file_report, only_case
from conftest import PASSWORD, base_config, post, username_of

from portal import create_app

REDIS = shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    port = _free_port()
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
