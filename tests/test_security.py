"""Headers on every kind of response, CSRF, error pages, and the route × role matrix."""

from __future__ import annotations

import pytest
from conftest import post

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
    "account.index": SIGNED_IN,
    "dashboard.index": SIGNED_IN,
    "static": "static",
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
    if who != ANON:
        login(client, make_user(role=who))
    for endpoint, expected in MATRIX.items():
        if expected in ("static",):
            continue
        url, methods = _url_for(app, endpoint)
        if expected == POST_ONLY:
            assert "GET" not in methods
            assert client.get(url).status_code == 405
            assert client.post(url).status_code == 400  # no CSRF token: refused
            continue
        want = expected[who]
        response = client.get(url)
        if want == "login":
            assert response.status_code == 302 and "/login" in response.headers["Location"], endpoint
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


def test_headers_on_server_errors(app):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.route("/boom")
    def boom():
        raise RuntimeError("secret internal detail")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    _assert_security_headers(response)
    body = response.get_data(as_text=True)
    assert "secret internal detail" not in body and "Traceback" not in body
    assert "문제가 생겼습니다" in body


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


def test_language_switch_is_a_post_form_on_every_page(client):
    page = client.get("/").get_data(as_text=True)
    assert 'action="/language"' in page and 'method="post"' in page
    response = post(client, "/language", {"lang": "en", "next": "/login"})
    assert response.headers["Location"] == "/login"
    assert 'lang="en"' in client.get("/login").get_data(as_text=True)
