"""Teachers sending reports at the same moment to one `portal serve` on the default SQLite database: every one is
filed (or refused with a clear message), none meets "database is locked" or a server error."""

from __future__ import annotations

import os
import threading

import pytest
from conftest import PASSWORD, _hash

from portal import testing
from portal.testing import Browser

TEACHERS, EACH = 8, 6


@pytest.fixture
def server(tmp_path):
    """One server with its defaults (granian, one process, SQLite with synchronous=FULL)."""
    testing.deployment(tmp_path, {"RATELIMIT_DEFAULT": "100000 per minute"}, TEACHERS, _hash(PASSWORD))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env["PORTAL_INSTANCE_PATH"] = str(tmp_path)
    with testing.served(env, "--no-background", log=tmp_path / "server.log") as base:
        yield base, tmp_path


def test_concurrent_reports_on_sqlite_are_all_filed_and_none_meets_a_locked_database(server):
    base, instance = server
    browsers = []
    for n in range(TEACHERS):
        browser = Browser(base)
        assert browser.sign_in(f"hanbit-teacher{n}", PASSWORD)[0] == 302
        browsers.append(browser)
    answers: list[tuple[int, str, str]] = []
    lock, start = threading.Lock(), threading.Barrier(TEACHERS)

    def send(browser: Browser) -> None:
        start.wait()
        for number in range(EACH):
            answer = browser.file_report(f"report {number}")
            with lock:
                answers.append(answer)

    threads = [threading.Thread(target=send, args=(browser,)) for browser in browsers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(answers) == TEACHERS * EACH
    assert [(status, page[:200]) for status, location, page in answers
            if not (status == 302 and "/receipt" in location)] == []
    assert testing.count_cases(instance) == (TEACHERS * EACH, TEACHERS * EACH)
    log = (instance / "server.log").read_text()
    assert "database is locked" not in log and "did not answer" not in log and "Traceback" not in log
