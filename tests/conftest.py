"""Fixtures: the app on each database backend, a client, users, and a sign-in that does the real POST."""

from __future__ import annotations

import base64
import os
import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from portal import create_app
from portal.extensions import db
from portal.models import Role, School, User
from portal.testing import served

PASSWORD = "correct-horse-battery-9"
PG_URL = os.environ.get("PORTAL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = [b for b in os.environ.get("PORTAL_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]
TEST_KEY = base64.b64encode(b"k" * 32).decode()


def _postgres_ready() -> bool:
    try:
        with create_engine(PG_URL).connect() as conn:
            conn.execute(text("select 1"))
        return True
    except Exception:
        return False


def base_config(url: str, instance: Path) -> dict:
    """Settings every test app shares."""
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": url,
        "DATA_KEYS": {"t1": TEST_KEY},
        "DATA_KEY_ID": "t1",
        "RATELIMIT_STORAGE_URI": "memory://",
        "PUBLIC_URL": "http://portal.test",
        "REQUIRE_TWO_FACTOR": False,
        # Tests deliver the outbox themselves (deliver_mail below) instead of through the courier thread.
        "MAIL_COURIER": False,
    }


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request, tmp_path_factory):
    """A migrated, empty database for each backend; tests share it and clean it after each test."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db')}/test.db"
    else:
        if not _postgres_ready():
            if os.environ.get("CI"):
                pytest.fail(f"PostgreSQL is not reachable at {PG_URL}")
            pytest.skip("PostgreSQL is not running here")
        url = PG_URL
        with create_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    app = create_app(base_config(url, tmp_path_factory.mktemp("inst")))
    with app.app_context():
        from portal.cli import upgrade_database

        upgrade_database()
        db.engine.dispose()
    return url


def _clean(app) -> None:
    with app.app_context():
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        db.session.remove()
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE"))
            else:
                for name in tables:
                    conn.execute(text(f"DELETE FROM {name}"))
        db.engine.dispose()


@pytest.fixture
def app(database_url, tmp_path, monkeypatch):
    """A fresh app on a clean database, with its own instance folder."""
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    (tmp_path / "instance").mkdir()
    application = create_app(base_config(database_url, tmp_path / "instance"))
    yield application
    _clean(application)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def session(app):
    """The database session inside an app context."""
    with app.app_context():
        yield db.session
        db.session.rollback()


_HASH_CACHE: dict[str, str] = {}


def _hash(password: str) -> str:
    from portal.services.accounts import hash_password

    if password not in _HASH_CACHE:
        _HASH_CACHE[password] = hash_password(password)
    return _HASH_CACHE[password]


@pytest.fixture
def make_school(app):
    """Create a school by code."""

    def factory(code: str = "hanbit", name_ko: str | None = None, name_en: str | None = None) -> int:
        with app.app_context():
            from sqlalchemy import select

            existing = db.session.scalar(select(School).where(School.code == code))
            if existing:
                return existing.id
            school = School(code=code, name_ko=name_ko or f"{code}학교", name_en=name_en or f"{code.title()} School")
            db.session.add(school)
            db.session.commit()
            return school.id

    return factory


@pytest.fixture
def make_user(app, make_school):
    """make_user(role=, school=) -> user id; the password is PASSWORD."""
    counter = {"n": 0}

    def factory(role: str = "teacher", school: str | None = "hanbit", username: str | None = None,
                lead: bool = False, email: str | None = None, **fields) -> int:
        counter["n"] += 1
        school_id = make_school(school) if school and role != Role.DISTRICT_ADMIN else None
        with app.app_context():
            user = User(username=username or f"{school or 'district'}-{role}-{counter['n']}", role=role,
                        school_id=school_id, display_name=fields.pop("display_name", f"{role} {counter['n']}"),
                        password_hash=_hash(PASSWORD), is_lead=lead, email=email, **fields)
            db.session.add(user)
            db.session.commit()
            return user.id

    return factory


TOKEN_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(client, path: str = "/") -> str:
    """The CSRF token of this client's session, read from a page like a browser would."""
    page = client.get(path).get_data(as_text=True)
    match = TOKEN_RE.search(page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def post(client, path: str, data: dict | None = None, token_from: str = "/", **kwargs):
    """POST a form with a valid CSRF token, as the browser would after loading a page."""
    form = dict(data or {})
    form.setdefault("csrf_token", csrf_token(client, token_from))
    return client.post(path, data=form, **kwargs)


def deliver_mail(app) -> int:
    """Run the outbox delivery as the periodic check does; returns how many mails went out."""
    from portal.services.mail import deliver_due

    return deliver_due(app)


def username_of(app, user_id: int) -> str:
    with app.app_context():
        return db.session.get(User, user_id).username


@pytest.fixture
def login(app):
    """Sign a client in through the real sign-in form."""

    def do_login(client, user_id: int, password: str = PASSWORD):
        response = post(client, "/login", {"username": username_of(app, user_id), "password": password},
                        token_from="/login")
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return response

    return do_login


# --- Browser journeys ------------------------------------------------------------------------------------------
# The portal served the way a user starts it (`portal serve --demo` on a free loopback port, a fresh instance),
# driven by Debian's Chromium through Playwright; axe-core audits every page a journey reaches. On failure a
# screenshot and the page HTML are saved under artifacts/.

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
BROWSER_DEMO_PASSWORD = "browser-demo-passphrase"  # the same as browserkit.DEMO_PASSWORD


def pytest_collection_modifyitems(config, items):
    if not Path(CHROMIUM).exists():
        marker = pytest.mark.skip(reason="Debian's chromium is not installed (apt-get install chromium)")
        if os.environ.get("CI"):
            marker = pytest.mark.xfail(reason="chromium missing in CI", run=False, strict=True)
        for item in items:
            if "browser" in str(item.fspath):
                item.add_marker(marker)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """The portal with its demo school, served by `portal serve` on a free loopback port."""
    instance = tmp_path_factory.mktemp("browser-instance")
    env = {k: v for k, v in os.environ.items() if k not in ("PORTAL_DATABASE_URL",)}
    env.update(PORTAL_INSTANCE_PATH=str(instance), PORTAL_DEMO_PASSWORD=BROWSER_DEMO_PASSWORD)
    with served(env, "--demo", "--no-background", log=instance / "server.log") as url:
        yield url


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    # Never a downloaded browser: Debian's chromium, which installs from the package registry.
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "locale": "ko-KR", "viewport": {"width": 1280, "height": 900}}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    page = item.funcargs.get("page")
    pages = [page] if page else [v for v in item.funcargs.values() if hasattr(v, "screenshot")]
    ARTIFACTS.mkdir(exist_ok=True)
    for index, p in enumerate(pages):
        stem = ARTIFACTS / f"{item.name}-{index}".replace("/", "_").replace("[", "_").replace("]", "")
        try:
            p.screenshot(path=f"{stem}.png", full_page=True)
            Path(f"{stem}.html").write_text(p.content(), encoding="utf-8")
            print(f"\nbrowser artifacts: {stem}.png {stem}.html")
        except Exception as error:  # the page may be closed already; the report still stands
            print(f"\ncould not save browser artifacts: {error}")


@pytest.fixture
def axe():
    """axe-core plus the checks axe-core cannot make (tests/browser/a11ykit.py)."""
    from a11ykit import PageAuditor

    auditor = PageAuditor()
    yield auditor
    auditor.assert_clean()


@pytest.fixture
def open_page(browser, request):
    """open_page(lang, width=1280) -> a page in a fresh browser context whose language is `lang`."""
    contexts = []

    def factory(lang: str = "ko", width: int = 1280, height: int = 900):
        context = browser.new_context(locale="ko-KR" if lang == "ko" else "en-US", viewport={"width": width,
                                                                                               "height": height})
        contexts.append(context)
        page = context.new_page()
        request.node.funcargs.setdefault("page", page)
        return page

    yield factory
    for context in contexts:
        context.close()
