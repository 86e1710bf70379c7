"""Browser journeys: the portal served the way a user starts it, driven by Debian's Chromium through Playwright.

`portal serve --demo` runs on a free loopback port with a fresh instance folder and the demo seed; tests click and
type like a person, in Korean and in English, and axe-core audits every page they reach. On failure a screenshot and
the page HTML are saved under artifacts/ (CI prints the path).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
DEMO_PASSWORD = "browser-demo-passphrase"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]


def pytest_collection_modifyitems(config, items):
    if not Path(CHROMIUM).exists():
        marker = pytest.mark.skip(reason="Debian's chromium is not installed (apt-get install chromium)")
        if os.environ.get("CI"):
            marker = pytest.mark.xfail(reason="chromium missing in CI", run=False, strict=True)
        for item in items:
            if "browser" in str(item.fspath):
                item.add_marker(marker)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """The portal with its demo school, served by waitress on a free loopback port."""
    instance = tmp_path_factory.mktemp("browser-instance")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PORTAL_DATABASE_URL",)}
    env.update(PORTAL_INSTANCE_PATH=str(instance), PORTAL_DEMO_PASSWORD=DEMO_PASSWORD)
    log = open(instance / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-c", "from portal.cli import main; main()", "serve", "--demo",
                             "--port", str(port), "--no-background"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1)
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError((instance / "server.log").read_text()) from None
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("the portal did not start: " + (instance / "server.log").read_text())
    yield url
    proc.terminate()
    proc.wait(10)
    log.close()


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


class Auditor:
    """Runs axe-core on pages and collects what it found, so a test can report every page at once."""

    def __init__(self):
        from axe_playwright_python.sync_playwright import Axe

        self.axe = Axe()
        self.pages: list[str] = []
        self.problems: list[str] = []

    def check(self, page, label: str) -> None:
        result = self.axe.run(page, options={"runOnly": {"type": "tag", "values": WCAG_TAGS}})
        self.pages.append(label)
        if result.violations_count:
            self.problems.append(f"{label} ({page.url}):\n{result.generate_report()}")

    def assert_clean(self) -> None:
        assert not self.problems, "\n\n".join(self.problems)


@pytest.fixture
def axe():
    auditor = Auditor()
    yield auditor
    auditor.assert_clean()


def sign_in(page, base: str, username: str, password: str = DEMO_PASSWORD) -> None:
    """Sign in through the form, like a person."""
    page.goto(base + "/login")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(password)
    page.locator("form.stack [type=submit]").click()
    page.wait_for_load_state()


def sign_out(page) -> None:
    page.locator("form[action$='/logout'] button").click()
    page.wait_for_load_state()


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
