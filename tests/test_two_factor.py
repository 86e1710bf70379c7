"""Two-factor sign-in: enrolment with a QR code, codes at sign-in, recovery codes, the admin reset, rate limits."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from conftest import PASSWORD, base_config, post, username_of
from sqlalchemy import select

from portal import create_app
from portal.extensions import db
from portal.models import AuditEvent, RecoveryCode, User
from portal.services import accounts, two_factor

SECRET_RE = re.compile(r"<code>([A-Z2-7 ]{20,})</code>")
CODES_RE = re.compile(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>")


@pytest.fixture
def required(app):
    """Outside demo mode: counselors and admins must use a second factor."""
    app.config["REQUIRE_TWO_FACTOR"] = True
    return app


def enable(app, user_id) -> tuple[str, list[str]]:
    """Turn two-factor sign-in on for a user as enrolment does, with the code of the previous time step."""
    secret = pyotp.random_base32()
    with app.app_context():
        user = db.session.get(User, user_id)
        codes = two_factor.enable(db.session, user, secret, pyotp.TOTP(secret).at(time.time() - 30))
        db.session.commit()
    return secret, codes


def password_step(app, client, user_id, **extra):
    return post(client, "/login", {"username": username_of(app, user_id), "password": PASSWORD, **extra},
                token_from="/login")


def send_code(client, code, path="/login/two-factor"):
    return post(client, path, {"code": code}, token_from=path)


def signed_in(client) -> bool:
    return client.get("/account/").status_code == 200


def actions(app, action) -> list[AuditEvent]:
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))
        return [(r.actor_id, r.target) for r in rows]


def test_counselor_enrols_on_first_sign_in(required, make_user):
    app = required
    user_id = make_user(role="counselor")
    client = app.test_client()
    response = password_step(app, client, user_id)
    assert response.status_code == 302 and response.headers["Location"] == "/login/enrol"
    assert not signed_in(client)  # a correct password alone signs nobody in
    page = client.get("/login/enrol").get_data(as_text=True)
    assert '<img src="data:image/svg+xml' in page  # the QR code is made on the server, no outside request
    secret = SECRET_RE.search(page).group(1).replace(" ", "")
    assert len(secret) == 32  # 160 bits of base32

    wrong = send_code(client, "000000" if pyotp.TOTP(secret).now() != "000000" else "111111", "/login/enrol")
    assert wrong.status_code == 200 and 'aria-invalid="true"' in wrong.get_data(as_text=True)
    assert not signed_in(client)

    done = send_code(client, pyotp.TOTP(secret).now(), "/login/enrol")
    assert done.status_code == 200 and done.headers["Cache-Control"] == "no-store"
    codes = CODES_RE.findall(done.get_data(as_text=True))
    assert len(codes) == 10 and len(set(codes)) == 10
    assert signed_in(client)
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user.totp_enabled_at is not None and user.totp_secret == secret
        stored = db.session.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user_id)).all()
        assert len(stored) == 10 and all(h.startswith("$argon2id$") for h in stored)
        assert not any(code.replace("-", "") in h for code in codes for h in stored)
        raw = db.session.execute(db.text("SELECT totp_secret FROM users WHERE id = :id"), {"id": user_id}).scalar()
        assert secret not in raw  # encrypted at rest like case text
    assert [a for a, _ in actions(app, "two_factor_enrolled")] == [user_id]
    assert actions(app, "two_factor_failed") == [(None, username_of(app, user_id))]

    # The recovery codes page is never shown again, and the next sign-in asks for a code, not enrolment.
    post(client, "/logout", token_from="/account/")
    again = app.test_client()
    assert password_step(app, again, user_id).headers["Location"] == "/login/two-factor"
    assert again.get("/login/enrol").headers["Location"] == "/login/two-factor"


@pytest.mark.parametrize("role", ["counselor", "school_admin", "district_admin"])
def test_every_role_that_sees_cases_must_enrol(required, make_user, role):
    user_id = make_user(role=role, school=None if role == "district_admin" else "hanbit")
    client = required.test_client()
    assert password_step(required, client, user_id).headers["Location"] == "/login/enrol"


def test_sign_in_with_a_code_from_the_app(app, make_user):
    user_id = make_user(role="counselor")
    secret, _codes = enable(app, user_id)
    client = app.test_client()
    response = password_step(app, client, user_id, next="/account/")
    assert response.headers["Location"] == "/login/two-factor"
    assert client.get("/dashboard/").status_code == 302
    page = client.get("/login/two-factor").get_data(as_text=True)
    assert 'autocomplete="one-time-code"' in page
    response = send_code(client, pyotp.TOTP(secret).now())
    assert response.status_code == 302 and response.headers["Location"] == "/account/"
    assert signed_in(client)
    logins = [t for a, t in actions(app, "login") if a == user_id]
    assert logins and logins[-1].startswith("totp:")
    assert actions(app, "login_password_ok")[0][0] == user_id


def test_a_code_works_only_once(app, make_user):
    user_id = make_user(role="counselor")
    secret, _codes = enable(app, user_id)
    first, second = app.test_client(), app.test_client()
    code = pyotp.TOTP(secret).now()
    password_step(app, first, user_id)
    assert send_code(first, code).status_code == 302
    password_step(app, second, user_id)
    replay = send_code(second, code)
    assert replay.status_code == 200 and not signed_in(second)


def test_wrong_code_is_refused_and_audited(app, make_user):
    user_id = make_user(role="counselor")
    secret, _codes = enable(app, user_id)
    client = app.test_client()
    password_step(app, client, user_id)
    good = pyotp.TOTP(secret)
    wrong = next(c for c in ("123456", "654321", "111111") if c not in (good.now(), good.at(time.time() - 30),
                                                                       good.at(time.time() + 30)))
    response = send_code(client, wrong)
    assert response.status_code == 200 and 'aria-invalid="true"' in response.get_data(as_text=True)
    assert not signed_in(client)
    assert actions(app, "two_factor_failed") == [(None, username_of(app, user_id))]
    assert send_code(client, good.now()).status_code == 302  # the pending sign-in survives a typo


def test_codes_are_rate_limited_per_account_only(app, make_user):
    victim, other = make_user(role="counselor"), make_user(role="counselor")
    secret, _ = enable(app, victim)
    other_secret, _ = enable(app, other)
    attacker = app.test_client()
    password_step(app, attacker, victim)
    good = {pyotp.TOTP(secret).at(time.time() + d) for d in (-30, 0, 30, 60)}
    guesses = [f"{n:06d}" for n in range(100000, 100100) if f"{n:06d}" not in good][:11]
    statuses = [send_code(attacker, guess).status_code for guess in guesses]
    assert statuses[:10] == [200] * 10 and statuses[10] == 429
    assert send_code(attacker, pyotp.TOTP(secret).now()).status_code == 429  # locked for the window
    # Another account at the same address (a whole school shares one) still signs in.
    colleague = app.test_client()
    password_step(app, colleague, other)
    assert send_code(colleague, pyotp.TOTP(other_secret).now()).status_code == 302


def test_successful_codes_do_not_count_towards_the_limit(app, make_user):
    app.config["RATELIMIT_LOGIN_PER_ACCOUNT"] = "2 per 15 minutes"
    user_id = make_user(role="counselor")
    _secret, codes = enable(app, user_id)
    for code in codes[:4]:
        client = app.test_client()
        password_step(app, client, user_id)
        assert send_code(client, code).status_code == 302


def test_per_address_limit_covers_codes(app, make_user):
    app.config["RATELIMIT_LOGIN_PER_ADDRESS"] = "3 per 15 minutes"
    user_id = make_user(role="counselor")
    enable(app, user_id)
    client = app.test_client()
    password_step(app, client, user_id)
    statuses = [send_code(client, "999999x").status_code for _ in range(4)]
    assert statuses[-1] == 429


def test_recovery_code_works_once(app, make_user):
    user_id = make_user(role="school_admin")
    _secret, codes = enable(app, user_id)
    client = app.test_client()
    password_step(app, client, user_id)
    response = send_code(client, codes[0])
    assert response.status_code == 302 and signed_in(client)
    assert [a for a, _ in actions(app, "recovery_code_used")] == [user_id]
    post(client, "/logout", token_from="/account/")

    again = app.test_client()
    password_step(app, again, user_id)
    assert send_code(again, codes[0]).status_code == 200 and not signed_in(again)
    # Spaces, capitals and a missing dash are forgiven: people copy these codes by hand.
    assert send_code(again, " " + codes[1].replace("-", " ").upper()).status_code == 302
    with app.app_context():
        assert two_factor.remaining_recovery_codes(db.session, db.session.get(User, user_id)) == 8


def test_admin_reset_clears_the_factor_and_ends_sessions(required, make_user, login):
    app = required
    admin = make_user(role="school_admin")
    user_id = make_user(role="counselor")
    secret, _codes = enable(app, user_id)
    client = app.test_client()
    password_step(app, client, user_id)
    send_code(client, pyotp.TOTP(secret).now())
    assert signed_in(client)
    with app.app_context():
        two_factor.reset_two_factor(db.session, db.session.get(User, admin), db.session.get(User, user_id),
                                    address="test")
        db.session.commit()
        user = db.session.get(User, user_id)
        assert user.totp_secret is None and user.totp_enabled_at is None
        assert db.session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user_id)).all() == []
    assert not signed_in(client)  # their sessions ended at once
    assert actions(app, "two_factor_reset") == [(admin, username_of(app, user_id))]
    fresh = app.test_client()
    assert password_step(app, fresh, user_id).headers["Location"] == "/login/enrol"  # they set it up again


def test_reset_is_limited_to_admins_of_the_same_school(app, make_user):
    counselor = make_user(role="counselor")
    other_admin = make_user(role="school_admin", school="saesol")
    colleague = make_user(role="counselor")
    district = make_user(role="district_admin", school=None)
    enable(app, counselor)
    with app.app_context():
        get = db.session.get
        for actor in (other_admin, colleague):
            with pytest.raises(accounts.AccountError):
                two_factor.reset_two_factor(db.session, get(User, actor), get(User, counselor))
        two_factor.reset_two_factor(db.session, get(User, district), get(User, counselor))
        db.session.commit()
        assert get(User, counselor).totp_enabled_at is None


def test_a_reset_while_half_signed_in_sends_the_user_back_to_the_password(app, make_user):
    admin = make_user(role="school_admin")
    user_id = make_user(role="counselor")
    secret, _ = enable(app, user_id)
    client = app.test_client()
    password_step(app, client, user_id)
    with app.app_context():
        two_factor.reset_two_factor(db.session, db.session.get(User, admin), db.session.get(User, user_id))
        db.session.commit()
    response = client.get("/login/two-factor")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert not signed_in(client)


def test_pending_sign_in_expires_after_five_minutes(app, make_user, monkeypatch):
    user_id = make_user(role="counselor")
    secret, _ = enable(app, user_id)
    client = app.test_client()
    password_step(app, client, user_id)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 301)
    response = client.get("/login/two-factor")
    assert response.status_code == 302 and response.headers["Location"] == "/login"


def test_two_factor_pages_need_a_correct_password_first(app, make_user, login):
    client = app.test_client()
    for path in ("/login/two-factor", "/login/enrol"):
        assert client.get(path).headers["Location"] == "/login"
    signed = app.test_client()
    login(signed, make_user(role="teacher"))
    assert signed.get("/login/two-factor").headers["Location"] == "/dashboard/"


@pytest.mark.parametrize("role", ["teacher", "student"])
def test_teachers_and_students_are_not_asked(required, make_user, login, role):
    client = required.test_client()
    response = login(client, make_user(role=role))
    assert response.headers["Location"] == "/dashboard/"


def test_not_asked_in_demo_mode(database_url, tmp_path, monkeypatch, make_user, app):
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    demo = create_app({**base_config(database_url, tmp_path / "instance"), "DEMO_MODE": True,
                       "REQUIRE_TWO_FACTOR": True})
    assert demo.config["REQUIRE_TWO_FACTOR"] is False
    fresh, enrolled = make_user(role="counselor"), make_user(role="district_admin", school=None)
    enable(app, enrolled)
    for user_id in (fresh, enrolled):
        client = demo.test_client()
        response = password_step(demo, client, user_id)
        assert response.headers["Location"] == "/dashboard/"
        assert signed_in(client)


def test_english_pages(app, make_user, required):
    user_id = make_user(role="counselor")
    client = app.test_client()
    password_step(app, client, user_id)
    page = client.get("/login/enrol", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Set up two-factor sign-in" in page and 'lang="en"' in page
