"""Signing in and out, sessions ending on the server, passwords and rate limits."""

from __future__ import annotations

import time

import pytest
from conftest import PASSWORD, csrf_token, post, username_of

from portal.extensions import db
from portal.models import User
from portal.services import accounts


def test_sign_in_lands_on_the_role_dashboard(client, make_user, login):
    for role in ("student", "teacher", "counselor", "school_admin", "district_admin"):
        user_id = make_user(role=role)
        c = client.application.test_client()
        response = login(c, user_id)
        assert response.headers["Location"].endswith("/dashboard/")
        page = c.get("/dashboard/").get_data(as_text=True)
        assert f"{role} " in page  # the display name the factory gave
        assert 'class="lead"' in page


def test_wrong_password_is_refused_with_a_message(app, client, make_user):
    user_id = make_user()
    response = post(client, "/login", {"username": username_of(app, user_id), "password": "wrong-password-1"},
                    token_from="/login")
    assert response.status_code == 200
    assert "아이디 또는 비밀번호가 올바르지 않습니다" in response.get_data(as_text=True)
    assert client.get("/dashboard/").status_code == 302


def test_unknown_user_gets_the_same_message(client):
    response = post(client, "/login", {"username": "nobody-here", "password": "whatever-123"}, token_from="/login")
    assert "아이디 또는 비밀번호가 올바르지 않습니다" in response.get_data(as_text=True)


def test_next_only_redirects_within_the_site(app, client, make_user):
    user_id = make_user()
    name = username_of(app, user_id)
    for target, expected in [("/account/", "/account/"), ("https://evil.example/", "/dashboard/"),
                             ("//evil.example/x", "/dashboard/"), ("/\\evil.example", "/dashboard/")]:
        c = app.test_client()
        response = post(c, "/login", {"username": name, "password": PASSWORD, "next": target}, token_from="/login")
        assert response.headers["Location"] == expected


def test_deactivated_user_cannot_sign_in(app, client, make_user):
    user_id = make_user(active=False)
    response = post(client, "/login", {"username": username_of(app, user_id), "password": PASSWORD},
                    token_from="/login")
    assert response.status_code == 200


def _signed_in_clients(app, login, user_id, n=2):
    clients = [app.test_client() for _ in range(n)]
    for c in clients:
        login(c, user_id)
        assert c.get("/account/").status_code == 200
    return clients


def test_logout_ends_every_session_of_the_user(app, make_user, login):
    user_id = make_user()
    first, second = _signed_in_clients(app, login, user_id)
    response = post(first, "/logout", token_from="/account/")
    assert response.status_code == 302
    assert first.get("/account/").status_code == 302
    assert second.get("/account/").status_code == 302  # the other browser is signed out too


def test_password_change_ends_other_sessions_but_keeps_this_one(app, make_user, login):
    user_id = make_user()
    first, second = _signed_in_clients(app, login, user_id)
    new = "a-much-better-passphrase"
    response = post(first, "/account/", {"current": PASSWORD, "new": new, "confirm": new}, token_from="/account/")
    assert response.status_code == 302
    assert first.get("/account/").status_code == 200
    assert second.get("/account/").status_code == 302
    with app.app_context():
        assert accounts.check_password(db.session.get(User, user_id), new)


@pytest.mark.parametrize("change", ["deactivate", "role"])
def test_deactivation_and_role_change_end_sessions(app, make_user, login, change):
    user_id = make_user(role="counselor")
    (c,) = _signed_in_clients(app, login, user_id, 1)
    with app.app_context():
        user = db.session.get(User, user_id)
        if change == "deactivate":
            user.active = False
        else:
            user.role = "teacher"
        user.end_sessions()
        db.session.commit()
    assert c.get("/account/").status_code == 302


@pytest.mark.parametrize("new,message", [
    ("short1", "10자 이상"),
    ("password123", "너무 쉽게 추측할 수 있는 비밀번호입니다"),
])
def test_weak_passwords_are_refused(app, make_user, login, new, message):
    user_id = make_user()
    (c,) = _signed_in_clients(app, login, user_id, 1)
    response = post(c, "/account/", {"current": PASSWORD, "new": new, "confirm": new}, token_from="/account/")
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert accounts.check_password(db.session.get(User, user_id), PASSWORD)


def test_password_containing_username_is_refused():
    assert accounts.password_problem("hanbit-teacher1-long", "hanbit-teacher1") == "too_common"
    assert accounts.password_problem("a-long-unusual-phrase", "someone") is None


def test_passwords_are_argon2id(app, make_user):
    user_id = make_user()
    with app.app_context():
        assert db.session.get(User, user_id).password_hash.startswith("$argon2id$")


def test_idle_session_times_out(app, make_user, login, monkeypatch):
    user_id = make_user(role="teacher")
    (c,) = _signed_in_clients(app, login, user_id, 1)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 31 * 60)
    response = c.get("/account/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_activity_is_recorded_to_the_minute_without_resending_the_cookie_each_page(app, make_user, login,
                                                                                  monkeypatch):
    (c,) = _signed_in_clients(app, login, make_user(role="teacher"), 1)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 61)
    assert "Set-Cookie" in c.get("/account/").headers  # a minute later: activity recorded
    assert "Set-Cookie" not in c.get("/account/").headers  # again at once: nothing to record
    monkeypatch.setattr(time, "time", lambda: real() + 25 * 60)
    assert c.get("/account/").status_code == 200  # active 24 minutes ago: still signed in


def test_student_idle_limit_is_longer(app, make_user, login, monkeypatch):
    user_id = make_user(role="student")
    (c,) = _signed_in_clients(app, login, user_id, 1)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 45 * 60)
    assert c.get("/account/").status_code == 200
    monkeypatch.setattr(time, "time", lambda: real() + 45 * 60 + 61 * 60)
    assert c.get("/account/").status_code == 302


def test_absolute_session_limit(app, make_user, login, monkeypatch):
    user_id = make_user(role="student")
    (c,) = _signed_in_clients(app, login, user_id, 1)
    real = time.time
    for hours in range(1, 12):  # keep it active every 50 minutes for almost 12 hours
        monkeypatch.setattr(time, "time", lambda h=hours: real() + h * 50 * 60)
        assert c.get("/account/").status_code == 200
    monkeypatch.setattr(time, "time", lambda: real() + 12 * 3600 + 60)
    assert c.get("/account/").status_code == 302


def test_flood_against_one_account_locks_that_account_only(app, make_user):
    victim = username_of(app, make_user())
    other = username_of(app, make_user())
    attacker = app.test_client()
    statuses = [post(attacker, "/login", {"username": victim, "password": f"guess-{i}-xxxx"},
                     token_from="/login").status_code for i in range(12)]
    assert statuses[:10] == [200] * 10 and statuses[10:] == [429, 429]
    # The right password from the attacker's address is refused too while the account is locked ...
    assert post(attacker, "/login", {"username": victim, "password": PASSWORD},
                token_from="/login").status_code == 429
    # ... but another account on the same address (a whole school shares one) still signs in.
    assert post(attacker, "/login", {"username": other, "password": PASSWORD},
                token_from="/login").status_code == 302


def test_a_class_signing_in_together_is_not_limited(app, make_user):
    ids = [make_user(role="student") for _ in range(40)]
    for user_id in ids:
        c = app.test_client()
        assert post(c, "/login", {"username": username_of(app, user_id), "password": PASSWORD},
                    token_from="/login").status_code == 302


def test_per_address_limit_stops_a_spray(app):
    app.config["RATELIMIT_LOGIN_PER_ADDRESS"] = "5 per 15 minutes"
    c = app.test_client()
    responses = [post(c, "/login", {"username": f"user{i}", "password": "wrong-guess-123"}, token_from="/login")
                 for i in range(6)]
    assert [r.status_code for r in responses] == [200] * 5 + [429]
    assert "시도 횟수가 너무 많습니다" in responses[-1].get_data(as_text=True)


def test_in_memory_limits_count_and_forget_without_a_thread_per_request():
    """Counters kept in memory ("memory://", as the tests keep them) live in the process: a spray is still stopped
    (above), and a request more than 10 ms after the last no longer starts a thread of its own to sweep old
    counters (limits' default did)."""
    from limits import parse
    from limits.storage import storage_from_string
    from limits.strategies import FixedWindowRateLimiter

    storage = storage_from_string("memory://")  # what the portal gets for RATELIMIT_STORAGE_URI = "memory://"
    limiter = FixedWindowRateLimiter(storage)
    timers = set()
    for _ in range(25):  # half a second of requests 20 ms apart
        assert limiter.hit(parse("1000 per minute"), "a")
        timers.add(id(storage.timer))
        time.sleep(0.02)
    assert len(timers) <= 2  # the first sweep, and at most one more a second
    assert limiter.get_window_stats(parse("1000 per minute"), "a").remaining == 975
    storage.SWEEP_SECONDS = 0.05
    storage.timer.cancel()
    storage.timer.join()
    storage.incr("short", 0.01)
    time.sleep(0.3)
    assert "short" not in storage.storage  # swept: an old counter does not stay in memory


def test_the_instance_files_counters_are_shared_and_start_again_when_their_window_ends(tmp_path):
    """Two storages on one file (two worker processes) count together; a window that ends starts again; clearing a
    key (an administrator unlocking an account) forgets it; the count of another key is its own."""
    from limits import parse
    from limits.storage import storage_from_string
    from limits.strategies import FixedWindowRateLimiter

    uri = f"sqlite:///{tmp_path}/ratelimits.db"
    first, second = (FixedWindowRateLimiter(storage_from_string(uri, key_secret="ab" * 32)) for _ in range(2))
    limit = parse("3 per 2 seconds")
    assert [first.hit(limit, "a"), second.hit(limit, "a"), first.hit(limit, "a"), second.hit(limit, "a")] == [
        True, True, True, False]
    assert second.get_window_stats(limit, "a").remaining == 0 and first.hit(limit, "b")
    first.clear(limit, "b")
    assert second.get_window_stats(limit, "b").remaining == 3
    time.sleep(2.1)
    assert second.hit(limit, "a") and first.get_window_stats(limit, "a").remaining == 2


@pytest.mark.parametrize("kind", ["file", "memory", "redis"])
def test_a_right_password_gives_its_attempt_back_only_to_a_window_still_running(tmp_path, kind):
    """A sign-in is counted before its password is checked and given back when it was right: within the window
    the count goes back down; once the window has ended nothing is taken off, so the next window does not start
    below zero (right passwords at a window's end would otherwise buy extra guesses in the next)."""
    from limits.storage import storage_from_string

    from portal.extensions import give_back

    if kind == "redis":
        import redis

        try:
            redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_timeout=1).ping()
        except redis.RedisError:
            pytest.skip("Redis is not running here")
    uri = {"file": f"sqlite:///{tmp_path}/ratelimits.db", "memory": "memory://",
           "redis": "redis://127.0.0.1:6379/0"}[kind]
    storage = storage_from_string(uri, **({"key_secret": "ab" * 32} if kind == "file" else {}))
    key = f"give-back-test/{kind}/{time.time_ns()}"  # a one-second window, as limits names its keys
    assert storage.incr(key, 1) == 1
    give_back(storage, key)
    assert storage.get(key) == 0  # given back within its window
    give_back(storage, key)
    assert storage.get(key) == 0  # never below zero
    storage.incr(key, 1)
    time.sleep(1.1)
    give_back(storage, key)  # too late: its window has ended
    assert storage.incr(key, 1) == 1  # the next window starts at zero, not below


def test_concurrent_sign_ins_never_fail(app, make_user):
    """A class signing in at once: every sign-in succeeds, none fails with a locked database."""
    import threading

    ids = [make_user(role="student") for _ in range(40)]
    names = [username_of(app, user_id) for user_id in ids]
    clients = [app.test_client() for _ in names]
    tokens = [csrf_token(c, "/login") for c in clients]
    statuses: list[int] = []

    def sign_in(client, name, token):
        statuses.append(client.post("/login", data={"username": name, "password": PASSWORD,
                                                    "csrf_token": token}).status_code)

    threads = [threading.Thread(target=sign_in, args=args) for args in zip(clients, names, tokens, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(statuses) == [302] * len(names)
    with app.app_context():
        assert all(db.session.get(User, user_id).last_login_at is not None for user_id in ids)


def test_the_password_hash_is_checked_without_the_write_lock(app, database_url, make_user, monkeypatch):
    """While argon2 checks a password, another connection can take SQLite's write lock at once (before the fix,
    every sign-in held it for the whole hash, and other writers queued behind them)."""
    import sqlite3

    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's single write lock; PostgreSQL locks rows")
    path = database_url.removeprefix("sqlite:///")
    real_check = accounts.check_password
    others_could_write: list[bool] = []

    def check_while_another_writes(user, password):
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            others_could_write.append(True)
        except sqlite3.OperationalError:  # "database is locked"
            others_could_write.append(False)
        finally:
            other.close()
        return real_check(user, password)

    monkeypatch.setattr(accounts, "check_password", check_while_another_writes)
    client = app.test_client()
    response = post(client, "/login", {"username": username_of(app, make_user()), "password": PASSWORD},
                    token_from="/login")
    assert response.status_code == 302
    assert others_could_write == [True]


# --- Lockouts that cannot be turned against staff --------------------------------------------------------------


def _sign_in(client, name, password=PASSWORD):
    return post(client, "/login", {"username": name, "password": password}, token_from="/login").status_code


def test_a_student_guessing_cannot_lock_the_counselor_out_of_their_own_browser(app, make_user):
    counselor = username_of(app, make_user(role="counselor"))
    own_browser = app.test_client()
    assert _sign_in(own_browser, counselor) == 302  # signed in here before: this browser is now known
    post(own_browser, "/logout", token_from="/")
    student = app.test_client()
    statuses = [_sign_in(student, counselor, f"guess-{i}-xxxx") for i in range(12)]
    assert statuses[-1] == 429  # the guesser is stopped ...
    assert _sign_in(app.test_client(), counselor) == 429  # ... and so is any browser the account never used ...
    assert _sign_in(own_browser, counselor) == 302  # ... but not the counselor at their own computer


def test_a_known_browser_still_has_a_limit_of_its_own(app, make_user):
    name = username_of(app, make_user())
    browser = app.test_client()
    assert _sign_in(browser, name) == 302
    post(browser, "/logout", token_from="/")
    statuses = [_sign_in(browser, name, f"wrong-{i}-xxxx") for i in range(11)]
    assert statuses[:10] == [200] * 10 and statuses[10] == 429


def test_a_whole_school_behind_one_address_signs_in_while_a_spray_is_slowed(app, make_user):
    """Only failures count towards the address limit. With the limit at 20 (300 by default), twice as many students
    sign in from one address without a refusal, while guessing across accounts from it stops after 20 failures."""
    app.config["RATELIMIT_LOGIN_PER_ADDRESS"] = "20 per 15 minutes"
    names = [username_of(app, make_user(role="student")) for _ in range(40)]
    browsers = [app.test_client() for _ in names]
    assert [_sign_in(browser, name) for browser, name in zip(browsers, names, strict=True)] == [302] * 40
    sprayer = app.test_client()
    spray = [_sign_in(sprayer, name, "Spring2026!!") for name in names[:21]]
    assert spray[:20] == [200] * 20 and spray[20] == 429
    # The spray does not stop a student whose browser already knows their account.
    post(browsers[30], "/logout", token_from="/")
    assert _sign_in(browsers[30], names[30]) == 302
