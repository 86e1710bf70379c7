"""Headers on every kind of response, CSRF, error pages, and the route × role matrix."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import TOKEN_RE, csrf_token, deliver_mail, post, username_of

from portal.models import ROLES

# endpoint -> expected GET status per visitor. "login" means a redirect to the sign-in page.
# A new endpoint without an entry here makes test_every_route_is_in_the_matrix fail.
ANON = "anonymous"
OPEN = {who: 200 for who in (ANON, *ROLES)}
SIGNED_IN = {ANON: "login", **{r: 200 for r in ROLES}}
POST_ONLY = "post-only"

MATRIX: dict[str, dict | str] = {
    "public.home": OPEN,
    "public.quick_exit": OPEN,
    "public.healthz": OPEN,
    "public.language": POST_ONLY,
    "auth.login": {ANON: 200, **{r: 302 for r in ROLES}},
    "auth.logout": POST_ONLY,
    # Only reachable between a correct password and the second factor: otherwise back to the sign-in page.
    "auth.two_factor": {ANON: "login", **{r: 302 for r in ROLES}},
    "auth.enrol": {ANON: "login", **{r: 302 for r in ROLES}},
    "account.index": SIGNED_IN,
    "dashboard.index": SIGNED_IN,
    "static": "static",
    "lessons.index": OPEN,
    "lessons.overview": OPEN,
    "lessons.step": OPEN,
    "lessons.scenario": OPEN,
    "lessons.quiz": OPEN,
    "lessons.print_view": OPEN,
    "lessons.my_lessons": {ANON: "login", **{r: 404 for r in ROLES}, "student": 200},
    "lessons.staff_training": {ANON: "login", **{r: 200 for r in ROLES}, "student": 404},
    "lessons.certificate": {ANON: "login", **{r: 404 for r in ROLES}},  # nobody here has finished a band
    "classes.index": {ANON: "login", **{r: 404 for r in ROLES}, "teacher": 200, "school_admin": 200},
    # The example class belongs to another teacher of the same school: its teacher-visitor gets 404.
    "classes.show": {ANON: "login", **{r: 404 for r in ROLES}, "school_admin": 200},
    "classes.export": {ANON: "login", **{r: 404 for r in ROLES}, "school_admin": 200},
    "classes.assign": POST_ONLY,
    "classes.staff_training": {ANON: "login", **{r: 404 for r in ROLES}, "school_admin": 200},
    "auth.set_password": OPEN,  # with a valid one-time link
    "auth.forgot_password": OPEN,
    # Reports: staff report, students ask for help; a receipt is only for its reporter (the example case's reporter
    # is someone else).
    "reports.new": {ANON: "login", **{r: 200 for r in ROLES}, "student": 404, "district_admin": 404},
    "reports.form": {ANON: "login", **{r: 200 for r in ROLES}, "student": 404, "district_admin": 404},
    "reports.mine": SIGNED_IN,
    # A signed-out visitor is sent to the public help page instead of a bare sign-in page.
    "reports.help_request": {ANON: "help", **{r: 404 for r in ROLES}, "student": 200},
    "reports.receipt": {ANON: "login", **{r: 404 for r in ROLES}},
    "reports.help_sent": {ANON: "login", **{r: 404 for r in ROLES}},  # only the student who asked
    "reports.messages": {ANON: "login", **{r: 404 for r in ROLES}},  # only the one who reported
    "public.get_help": OPEN,
    # Cases: the example case is assigned to another counselor; the visitor never has need-to-know, except that the
    # school admin may see who opened it.
    "cases.inbox": {ANON: "login", **{r: 404 for r in ROLES}, "counselor": 200, "school_admin": 200},
    "cases.file": {ANON: "login", **{r: 404 for r in ROLES}},
    "cases.print_report": {ANON: "login", **{r: 404 for r in ROLES}},
    "cases.takedown_packet": {ANON: "login", **{r: 404 for r in ROLES}},
    "cases.takedown_packet_text": {ANON: "login", **{r: 404 for r in ROLES}},
    "cases.access_log": {ANON: "login", **{r: 404 for r in ROLES}, "school_admin": 200},
    "cases.acknowledge": POST_ONLY,
    "cases.start": POST_ONLY,
    "cases.reopen": POST_ONLY,
    "cases.add_entry": POST_ONLY,
    "cases.assign": POST_ONLY,
    "cases.close": POST_ONLY,
    "cases.not_applicable": POST_ONLY,
    "cases.classify": POST_ONLY,
    "cases.reply": POST_ONLY,
    "cases.confirm_items": POST_ONLY,
    "cases.add_item": POST_ONLY,
    "cases.item_status": POST_ONLY,
    "cases.merge_items": POST_ONLY,
    # School admin pages; the example user and class are at the visitor's school.
    **{e: {ANON: "login", **{r: 404 for r in ROLES}, "school_admin": 200} for e in (
        "admin.dashboard", "admin.users", "admin.new_user", "admin.user", "admin.classes", "admin.classroom",
        "admin.import_roster", "admin.settings")},
    **{e: POST_ONLY for e in ("admin.change_role", "admin.deactivate", "admin.activate", "admin.make_lead",
                              "admin.new_link", "admin.reset_two_factor", "admin.apply_roster")},
    **{e: {ANON: "login", **{r: 404 for r in ROLES}, "district_admin": 200} for e in (
        "district.dashboard", "district.schools", "district.school")},
    "district.toggle_school": POST_ONLY,
    # The school's public page: open to everyone; the conversation needs the cookie that a code gives.
    **{e: OPEN for e in ("channel.school_page", "channel.poster", "channel.tell", "channel.come_back")},
    "channel.conversation": {ANON: 302, **{r: 302 for r in ROLES}},
    "channel.end": POST_ONLY,
}


def _example_urls(app, make_user) -> dict[str, str]:
    """A URL for each route with parameters, pointing at rows made here (the matrix visitor owns none of them)."""
    from portal.extensions import db
    from portal.models import Classroom, User

    owner = make_user(role="teacher", username="matrix-class-owner")
    with app.app_context():
        classroom = Classroom(school_id=db.session.get(User, owner).school_id, name="matrix-1", teacher_id=owner)
        db.session.add(classroom)
        db.session.commit()
        class_id = classroom.id
    from portal.services import accounts, cases

    counselor = make_user(role="counselor", username="matrix-case-counselor", lead=True)
    with app.app_context():
        reporter = db.session.get(User, owner)
        case, _ = cases.submit_report(db.session, reporter, cases.ReportData(["creation"], "student"),
                                      "matrix-token-0000000001")
        link = accounts.issue_link(db.session, db.session.get(User, counselor), None)
        db.session.commit()
        case_id, school_id = case.public_id, reporter.school_id
    lesson = "a1-pictures-can-change"
    return {
        "auth.set_password": f"/set-password/{link}",
        "reports.receipt": f"/reports/{case_id}/receipt",
        "reports.help_sent": f"/reports/help/{case_id}/sent",
        "reports.messages": f"/reports/{case_id}/messages",
        **{f"cases.{name}": f"/cases/{case_id}{suffix}" for name, suffix in (
            ("file", ""), ("print_report", "/print"), ("access_log", "/access"), ("acknowledge", "/acknowledge"),
            ("start", "/start"), ("reopen", "/reopen"), ("add_entry", "/entries"), ("assign", "/assign"),
            ("close", "/close"), ("not_applicable", "/duties/police_report/not-applicable"),
            ("classify", "/classify"), ("reply", "/reply"), ("confirm_items", "/takedown/confirm"),
            ("add_item", "/takedown/add"), ("item_status", "/takedown/1/status"),
            ("merge_items", "/takedown/merge"), ("takedown_packet", "/takedown/packet"),
            ("takedown_packet_text", "/takedown/packet.txt"))},
        **{f"admin.{name}": f"/admin/users/{owner}{suffix}" for name, suffix in (
            ("user", ""), ("change_role", "/role"), ("deactivate", "/deactivate"), ("activate", "/activate"),
            ("make_lead", "/lead"), ("new_link", "/link"), ("reset_two_factor", "/two-factor-reset"))},
        "admin.classroom": f"/admin/classes/{class_id}",
        **{f"channel.{name}": f"/s/hanbit/{suffix}" for name, suffix in (
            ("school_page", ""), ("poster", "poster"), ("tell", "tell"), ("come_back", "return"),
            ("conversation", "conversation"), ("end", "end"))},
        "district.school": f"/district/schools/{school_id}",
        "district.toggle_school": f"/district/schools/{school_id}/active",
        "lessons.overview": f"/lessons/{lesson}",
        "lessons.step": f"/lessons/{lesson}/step/1",
        "lessons.scenario": f"/lessons/{lesson}/scenario",
        "lessons.quiz": f"/lessons/{lesson}/quiz",
        "lessons.print_view": f"/lessons/{lesson}/print",
        "lessons.certificate": "/lessons/certificate/A",
        "classes.show": f"/classes/{class_id}",
        "classes.export": f"/classes/{class_id}/export.csv",
        "classes.assign": f"/classes/{class_id}/assign",
    }


def test_every_route_is_in_the_matrix(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints - set(MATRIX) == set(), "add the new endpoints to MATRIX with their expected outcome"


def _url_for(app, endpoint):
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    return rule.rule, rule.methods


@pytest.mark.parametrize("who", [ANON, *ROLES])
def test_route_role_matrix(app, make_user, login, who):
    client = app.test_client()
    examples = _example_urls(app, make_user)
    if who != ANON:
        login(client, make_user(role=who))
    for endpoint, expected in MATRIX.items():
        if expected in ("static",):
            continue
        url, methods = _url_for(app, endpoint)
        url = examples.get(endpoint, url)
        assert "<" not in url, f"add an example URL for {endpoint} to _example_urls"
        if expected == POST_ONLY:
            assert "GET" not in methods
            assert client.get(url).status_code == 405
            assert client.post(url).status_code == 400  # no CSRF token: refused
            continue
        want = expected[who]
        response = client.get(url)
        if want == "login":
            assert response.status_code == 302 and "/login" in response.headers["Location"], endpoint
        elif want == "help":
            assert response.status_code == 302 and response.headers["Location"].endswith("/help"), endpoint
        else:
            assert response.status_code == want, f"{endpoint} as {who}: {response.status_code}"


HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _assert_security_headers(response):
    for name, value in HEADERS.items():
        assert response.headers.get(name) == value, name
    csp = response.headers["Content-Security-Policy"]
    for part in ("object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "script-src 'self'",
                 "style-src 'self'"):
        assert part in csp
    assert "unsafe-inline" not in csp
    assert "camera=()" in response.headers["Permissions-Policy"]


def test_headers_on_pages_errors_redirects_and_static(app, client):
    _assert_security_headers(client.get("/"))
    _assert_security_headers(client.get("/no-such-page"))
    _assert_security_headers(client.get("/dashboard/"))  # redirect
    _assert_security_headers(client.post("/language"))  # 400 CSRF
    _assert_security_headers(client.get("/static/css/portal.css"))


def test_headers_on_server_errors(app, make_user, login):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.route("/boom")
    def boom():
        raise RuntimeError("secret internal detail")

    client = app.test_client()
    login(client, make_user())  # closed by default: only a signed-in user reaches it
    response = client.get("/boom")
    assert response.status_code == 500
    _assert_security_headers(response)
    body = response.get_data(as_text=True)
    assert "secret internal detail" not in body and "Traceback" not in body
    assert "문제가 발생했습니다" in body


def test_signed_in_pages_are_not_cached(app, client, make_user, login):
    assert "no-store" not in client.get("/").headers.get("Cache-Control", "")
    login(client, make_user())
    assert client.get("/").headers["Cache-Control"] == "no-store"
    assert client.get("/account/").headers["Cache-Control"] == "no-store"


def test_session_cookie_flags(app, client, make_user, login):
    response = login(client, make_user())
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_https_config_uses_host_prefix_and_secure(database_url, tmp_path, monkeypatch):
    from conftest import base_config

    from portal import create_app

    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path))
    app = create_app({**base_config(database_url, tmp_path), "HTTPS": True})
    assert app.config["SESSION_COOKIE_NAME"] == "__Host-portal" and app.config["SESSION_COOKIE_SECURE"]
    response = app.test_client().get("/", base_url="https://localhost")
    assert "max-age=31536000" in response.headers["Strict-Transport-Security"]


def test_post_without_csrf_token_is_refused(app, client, make_user, login):
    login(client, make_user())
    response = client.post("/logout")
    assert response.status_code == 400
    assert "만료" in response.get_data(as_text=True)
    assert client.get("/account/").status_code == 200  # still signed in: nothing changed


@pytest.mark.parametrize("code,path", [(404, "/missing"), (405, "/logout")])
def test_error_pages_are_translated(client, code, path):
    ko = client.get(path)
    en = client.get(path, headers={"Accept-Language": "en"})
    assert ko.status_code == en.status_code == code
    assert 'lang="ko"' in ko.get_data(as_text=True) and 'lang="en"' in en.get_data(as_text=True)
    assert ko.get_data(as_text=True) != en.get_data(as_text=True)


def test_language_switch_saves_a_signed_in_choice_and_is_a_link_for_visitors(client, make_user, login):
    visitor = client.get("/")
    assert 'href="?lang=en"' in visitor.get_data(as_text=True) and 'action="/language"' not in visitor.get_data(
        as_text=True)
    assert "Set-Cookie" not in visitor.headers  # a visitor's page starts no session
    login(client, make_user())
    page = client.get("/account/").get_data(as_text=True)
    assert 'action="/language"' in page and 'method="post"' in page
    response = post(client, "/language", {"lang": "en", "next": "/account/"}, token_from="/account/")
    assert response.headers["Location"] == "/account/"
    assert 'lang="en"' in client.get("/account/").get_data(as_text=True)


# --- The Host header never reaches a link -----------------------------------------------------------------


def _outbox_bodies(app) -> list[str]:
    from email import message_from_bytes, policy
    from pathlib import Path

    mails = sorted((Path(app.instance_path) / "outbox").glob("*.eml"))
    return [message_from_bytes(m.read_bytes(), policy=policy.default).get_body().get_content() for m in mails]


@pytest.mark.parametrize("method", ["get", "post"])
def test_an_unknown_host_is_refused_with_a_plain_message(app, method):
    client = app.test_client()
    response = getattr(client, method)("/forgot-password", headers={"Host": "evil.example"},
                                       data={"username": "x"} if method == "post" else None)
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "학교에서 안내한 주소" in text and "Use the address your school gave you" in text
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_public_host_and_loopback_are_answered(app):
    client = app.test_client()
    for host in ("portal.test", "portal.test:8443", "localhost", "127.0.0.1:5000"):
        assert client.get("/healthz", headers={"Host": host}).status_code == 200, host


def test_reset_mail_links_come_from_public_url_not_the_host_header(app, make_user):
    """A forgot-password request sent with a forged Host still mails a link to PUBLIC_URL."""
    teacher = make_user(role="teacher", email="t@school.test")
    app.config["TRUSTED_HOSTS"] = None  # even if a deployment turned the host check off
    client = app.test_client()
    headers = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    page = client.get("/forgot-password", headers=headers).get_data(as_text=True)
    token = TOKEN_RE.search(page).group(1)
    response = client.post("/forgot-password", headers=headers,
                           data={"username": username_of(app, teacher), "csrf_token": token})
    assert response.status_code == 302
    assert deliver_mail(app) == 1
    [body] = _outbox_bodies(app)
    assert "http://portal.test/set-password/" in body and "evil.example" not in body


def test_admin_shown_links_come_from_public_url(app, make_user, login):
    admin = make_user(role="school_admin")
    client = app.test_client()
    login(client, admin)
    response = post(client, "/admin/users/new", {"username": "new-teacher", "role": "teacher",
                                                  "display_name": "New Teacher"}, token_from="/admin/users/new")
    assert "http://portal.test/set-password/" in response.get_data(as_text=True)


def test_environment_settings_take_their_types(monkeypatch):
    from datetime import timedelta

    from portal.config import Defaults, load_environment

    config = {k: getattr(Defaults, k) for k in dir(Defaults) if k.isupper()}
    monkeypatch.setenv("PORTAL_IDLE_TIMEOUT_STAFF", "20")
    monkeypatch.setenv("PORTAL_TRUSTED_HOSTS", "portal.school.kr, .school.kr")
    load_environment(config)
    assert config["IDLE_TIMEOUT_STAFF"] == timedelta(minutes=20)
    assert config["TRUSTED_HOSTS"] == ["portal.school.kr", ".school.kr"]


def test_a_failed_statement_never_shows_its_values(app, make_user, caplog):
    """An error from the database names the SQL, not the names or addresses it carried."""
    from sqlalchemy.exc import IntegrityError

    from portal.extensions import db
    from portal.models import User

    make_user(role="teacher", username="taken-name")
    with app.app_context():
        db.session.add(User(username="taken-name", role="teacher", display_name="CANARY-Kim-Minji",
                            email="canary-person@school.test", password_hash="x"))
        with pytest.raises(IntegrityError) as failure:
            db.session.flush()
        db.session.rollback()
    assert "CANARY-Kim-Minji" not in str(failure.value) and "canary-person" not in str(failure.value)
    assert "CANARY" not in caplog.text


def test_a_route_that_forgets_its_guard_is_still_closed(app):
    """Deny by default: a new endpoint outside the public allowlist needs a signed-in user."""
    app.add_url_rule("/forgotten-guard", "forgotten_guard", lambda: "anyone could read this")
    response = app.test_client().get("/forgotten-guard")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_public_allowlist_names_only_real_endpoints(app):
    from portal.security import PUBLIC_ENDPOINTS

    assert PUBLIC_ENDPOINTS <= {rule.endpoint for rule in app.url_map.iter_rules()}
    for endpoint in PUBLIC_ENDPOINTS:  # and the matrix agrees that each of them opens without an account
        assert MATRIX[endpoint] in (OPEN, POST_ONLY, "static") or MATRIX[endpoint][ANON] != "login" or \
            endpoint.startswith("auth."), endpoint


GARBAGE = {
    "username": "x" * 300, "password": "y", "new": "z", "confirm": "", "current": "", "code": "12",
    "kind": "no-such-kind", "outcome": "no-such-outcome", "classification": "maybe", "reason": "",
    "happened_at": "yesterday", "first_seen": "0001-01-01T00:00", "due_on": "9999-99-99", "lesson": "../../etc",
    "categories": ["creation", "creation", "nope"], "platforms": "nope", "excluded": "99999999999",
    "counselor": "-1", "role": "god", "choice": "999", "q0": "999", "payload": "%%%not base64",
    "lang": "xx", "next": "//evil.example/", "action": "submit", "submission_token": "t" * 80,
    "victim_count": "-5", "urgent": "perhaps", "police_told": "perhaps", "name": "", "teacher": "abc",
    "code_": "UPPER CASE", "grade": "-5", "email": "a@x.test\r\nBcc: b@y.test", "display_name": "",
    "message": "", "routing": "nobody", "duty_grace_minutes": "100000", "timezone": "Mars/Base",
}


@pytest.mark.parametrize("who", [ANON, *ROLES])
def test_every_form_posted_by_every_role_with_a_valid_token_never_gives_a_5xx(app, make_user, login, who):
    """Every POST endpoint, for every role, with a valid CSRF token: empty, then full of wrong values. A refusal
    is any 2xx, 3xx or 4xx; never a 5xx (in tests an exception would surface here)."""
    from portal.extensions import db
    from portal.models import User

    client = app.test_client()
    examples = _example_urls(app, make_user)
    if who == "counselor":  # the example case's own counselor: the case forms are really exercised
        with app.app_context():
            own = db.session.scalar(db.select(User.id).where(User.username == "matrix-case-counselor"))
            db.session.rollback()
        login(client, own)
    elif who != ANON:
        login(client, make_user(role=who))
    token = csrf_token(client, "/login" if who == ANON else "/")  # a visitor's pages carry no token but forms'
    posts = sorted((e for e in MATRIX if "POST" in _url_for(app, e)[1]), key=lambda e: e == "auth.logout")
    assert "reports.form" in posts and "cases.close" in posts
    assert client.post("/language", data={"lang": "ko", "next": "/", "csrf_token": token}).status_code == 302
    statuses = {}
    for endpoint in posts:
        url = examples.get(endpoint, _url_for(app, endpoint)[0])
        for data in ({}, GARBAGE):
            response = client.post(url, data={**data, "csrf_token": token})
            assert response.status_code < 500, f"{endpoint} as {who}: {response.status_code}"
            statuses.setdefault(response.status_code, []).append(endpoint)
    # The token was accepted: the forms were really read (their own refusals), not all turned away as CSRF.
    assert set(statuses) - {400}, statuses


def test_an_unknown_username_or_receipt_code_costs_one_full_check_like_a_wrong_one():
    """A password for an unknown username and a code that opens no report are checked against a stand-in hash with
    the same argon2 parameters as every stored one: one full run that does not match (an unreadable stand-in would
    fail at once, and that speed would tell an unknown name from a wrong password). Nothing is hashed to make it,
    not even in a new process: the first unknown name or code of each process used to hash a made-up secret
    first, two runs, twice as long as a wrong password."""
    from argon2 import extract_parameters
    from argon2.exceptions import VerifyMismatchError

    from portal.crypto import argon2_stand_in
    from portal.services import accounts, channel

    for hasher in (accounts._hasher, channel._hasher):
        stand_in = argon2_stand_in(hasher)
        assert extract_parameters(stand_in) == extract_parameters(hasher.hash("a real secret"))
        with pytest.raises(VerifyMismatchError):  # a full check that does not match, not an unreadable hash
            hasher.verify(stand_in, "-")
    new_process = (
        "from datetime import UTC, datetime\n"
        "from argon2 import PasswordHasher\n"
        "from portal.services import accounts, channel\n"
        "class CountingHasher(PasswordHasher):\n"
        "    hashed = 0\n"
        "    def hash(self, password, *, salt=None):\n"
        "        CountingHasher.hashed += 1\n"
        "        return super().hash(password, salt=salt)\n"
        "accounts._hasher = channel._hasher = CountingHasher()\n"
        "code = channel.normalize(channel.new_code())\n"
        "answers = [accounts.check_password(None, 'a password'), channel.check_secret(None, code, datetime.now(UTC))]\n"
        "print(*answers, CountingHasher.hashed)\n")
    result = subprocess.run([sys.executable, "-c", new_process], capture_output=True, text=True, timeout=60,
                            check=True)
    assert result.stdout.split() == ["False", "False", "0"]
