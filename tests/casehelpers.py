"""Helpers for tests that file reports and work cases through the real forms."""

from __future__ import annotations

import re
import time

from conftest import post
from sqlalchemy import text

from portal.extensions import db
from portal.models import Case

TOKEN_RE = re.compile(r'name="submission_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="submission_token"')

REPORT = {
    "categories": ["creation", "distribution"],
    "victim_kind": "student",
    "victim_count": "1",
    "victim_names": "Kim Minji, 2-3",
    "suspects": "a classmate",
    "platforms": ["telegram"],
    "links": "t.me/example-channel @account",
    "first_seen": "2026-11-20T08:30",
    "how_learned": "a student told me at lunch",
    "urgent": "no",
    "victim_knows": "yes",
    "guardians_told": "no",
    "police_told": "no",
    "description": "A fake image of a student was posted in a group chat.",
}


def form_token(client) -> str:
    page = client.get("/reports/new/form").get_data(as_text=True)
    match = TOKEN_RE.search(page)
    assert match, "no submission token on the form"
    return match.group(1) or match.group(2)


def file_report(client, token: str | None = None, **overrides):
    """Fill the form, review, and send; returns the response to the final POST."""
    data = {**REPORT, **overrides}
    data["submission_token"] = token or form_token(client)
    review = post(client, "/reports/new/form", {**data, "action": "review"}, token_from="/reports/new/form")
    assert review.status_code == 200, review.get_data(as_text=True)[:2000]
    return post(client, "/reports/new/form", {**data, "action": "submit"}, token_from="/reports/new/form")


def signed_in(app, login, user_id):
    """A test client signed in as this user."""
    client = app.test_client()
    login(client, user_id)
    return client


def case_url(case, suffix=""):
    return f"/cases/{case.public_id}{suffix}"


def only_case(app) -> Case:
    with app.app_context():
        found = db.session.scalars(db.select(Case)).all()
        assert len(found) == 1
        return found[0]


def assert_not_in_sqlite_files(database_url: str, *needles: str) -> None:
    """None of these strings is in the SQLite database file or its write-ahead log (raw bytes, no decryption)."""
    if not database_url.startswith("sqlite"):
        return
    path = database_url.removeprefix("sqlite:///")
    for suffix in ("", "-wal"):
        try:
            data = open(path + suffix, "rb").read()
        except FileNotFoundError:
            continue
        for needle in needles:
            assert needle.encode() not in data, f"{needle!r} in the database file{suffix}"


# What the daily purge does first, as a test holds it: the audit chain's head, locked until the connection commits.
HOLD_HEAD = "SELECT last_id FROM audit_head WHERE id = 1 FOR UPDATE"


def wait_until_it_waits_for_a_lock(watch, thread, seconds: float = 20) -> None:
    """Poll PostgreSQL (on the `watch` connection) until a session of this database waits for a row lock, so that a
    test of lock order cannot pass by the thread arriving late."""
    waiting = text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                   "AND wait_event_type = 'Lock'")
    deadline = time.monotonic() + seconds
    while watch.execute(waiting).scalar() == 0:
        assert time.monotonic() < deadline and thread.is_alive()
        watch.rollback()
        time.sleep(0.02)
