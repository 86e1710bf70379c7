"""Several servers of one deployment: two `portal serve` processes (granian, two worker processes each) on one
PostgreSQL database and one Redis, sharing one instance folder and so one configuration file, keys included.

What a district relies on when it adds a server: a sign-in on one is a sign-in on all, a limit counts across all,
concurrent reports through all get distinct references, and the periodic checks run once a period, not once per
server. Needs PostgreSQL and Redis (both run in CI); skipped here when either is missing.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import secrets
import shutil
import threading
import time
from contextlib import ExitStack
from datetime import datetime

import pytest
from conftest import PASSWORD, PG_URL, _hash, _postgres_ready

from portal import testing
from portal.testing import Browser

REDIS_URL = os.environ.get("PORTAL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TEACHERS, REPORTS = 20, 100
INTERVAL = 2  # seconds between the periodic checks (a minute in production)
ADDRESS_LIMIT = 4  # failed sign-ins per address


def _redis_ready() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """Two servers, one configuration file, one database, one Redis; yields (database URL, instance folder,
    [base URLs])."""
    if not (_postgres_ready() and _redis_ready()):
        if os.environ.get("CI"):
            pytest.fail("several servers need PostgreSQL and Redis, and CI has both")
        pytest.skip("PostgreSQL or Redis is not running here")
    # A database of its own (one per xdist worker): the other tests drop and clean theirs.
    url = testing.fresh_database(PG_URL, "servers_" + os.environ.get("PYTEST_XDIST_WORKER", "main"))
    instance = tmp_path_factory.mktemp("shared-instance")
    # One config.py, keys included (SECRET_KEY, DATA_KEYS, AUDIT_KEY are made once), read by every server.
    testing.deployment(instance, {
        "SQLALCHEMY_DATABASE_URI": url,
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "RATELIMIT_KEY_PREFIX": "servers-test-" + secrets.token_hex(4),  # others may share this Redis database
        "RATELIMIT_LOGIN_PER_ADDRESS": f"{ADDRESS_LIMIT} per 15 minutes",
        "BACKGROUND_INTERVAL": INTERVAL,
        # Every run of the checks then appends the audit chain's head to instance/audit-checkpoints.log: one line
        # per run, which shows how often they ran.
        "AUDIT_CHECKPOINT_HOURS": 0,
    }, TEACHERS, _hash(PASSWORD))
    # The servers get nothing but the instance folder: everything else is in the shared file.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env["PORTAL_INSTANCE_PATH"] = str(instance)
    try:
        with ExitStack() as stack:
            bases = [stack.enter_context(testing.served(env, "--workers", "2", log=instance / f"server{n}.log"))
                     for n in range(2)]
            yield url, instance, bases
    finally:
        testing.drop_database(url)
        shutil.rmtree(instance, ignore_errors=True)


def _signed_in(base: str, username: str) -> Browser:
    browser = Browser(base)
    status, location, _page = browser.sign_in(username, PASSWORD)
    assert status == 302 and "/login" not in location, username
    return browser


def test_a_sign_in_on_one_server_holds_on_the_other(deployment):
    _url, _instance, (first, second) = deployment
    on_first = _signed_in(first, "hanbit-teacher0")
    on_second = on_first.on(second)
    status, _location, page = on_second.request("/reports/mine")
    assert status == 200 and 'action="/logout"' in page  # a signed-in page, not the sign-in form
    # Signing out on the second server ends the session everywhere (the session version is in the database).
    status, _location, _page = on_second.submit("/logout", {})
    assert status == 302
    status, location, _page = on_first.request("/reports/mine")
    assert status == 302 and "/login" in location


def test_concurrent_reports_through_both_servers_get_distinct_references(deployment):
    url, instance, bases = deployment
    browsers = [_signed_in(bases[n % 2], f"hanbit-teacher{n}") for n in range(TEACHERS)]
    answers: list[tuple[int, str]] = []
    references: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(REPORTS)

    def report(number: int) -> None:
        # Half the reports go through each server, every teacher's session used by several threads at once.
        cookies = http.cookiejar.CookieJar()
        for cookie in browsers[number % TEACHERS].cookies:
            cookies.set_cookie(cookie)
        browser = Browser(bases[number % 2], cookies)
        start.wait()
        status, location, page = browser.file_report(f"report {number}")
        reference = None
        if status == 302:
            match = re.search(r"HANBIT-\d{4}-\d{4}", browser.request(location.replace(browser.base, ""))[2])
            reference = match.group(0) if match else None
        with lock:
            answers.append((status, page[:300]))
            if reference:
                references.append(reference)

    threads = [threading.Thread(target=report, args=(n,)) for n in range(REPORTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert [a for a in answers if a[0] != 302] == []
    assert len(references) == REPORTS and len(set(references)) == REPORTS
    assert testing.count_cases(instance, url) == (REPORTS, REPORTS)  # cases, distinct references


def test_the_periodic_checks_run_once_a_period_across_servers(deployment):
    _app, instance, _bases = deployment
    log = instance / "audit-checkpoints.log"
    # Four worker processes each try every INTERVAL seconds; without the lease, runs would come in bursts of four.
    deadline = time.monotonic() + 8 * INTERVAL  # this test may be the first on a fresh deployment (xdist)
    while time.monotonic() < deadline and len(_lines(log)) < 3:
        time.sleep(0.5)
    runs = [datetime.fromisoformat(line.split()[0]) for line in _lines(log)]
    assert len(runs) >= 3
    gaps = [(later - earlier).total_seconds() for earlier, later in zip(runs, runs[1:], strict=False)]
    assert min(gaps) >= INTERVAL * 0.9 - 1, gaps  # the timestamps are whole seconds


def _lines(path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_failed_sign_ins_are_counted_across_servers(deployment):
    # Last in this file: once the address is over its limit, nobody signs in from it for 15 minutes.
    _url, _instance, (first, second) = deployment
    answers = [Browser((first, second)[n % 2]).sign_in(f"nobody{n}", "wrong-password-123")[0]
               for n in range(ADDRESS_LIMIT + 2)]
    # Half the failures went to each server, yet the limit was reached at the same count as on one server.
    assert answers[:ADDRESS_LIMIT] == [200] * ADDRESS_LIMIT
    assert answers[ADDRESS_LIMIT:] == [429, 429]
    status, _location, page = Browser(first).sign_in("hanbit-teacher1", PASSWORD)
    assert status == 429 and "시도 횟수가 너무 많습니다" in page
