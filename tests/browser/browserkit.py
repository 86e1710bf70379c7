"""Helpers for the browser journeys: signing in like a person and auditing pages with axe-core."""

from __future__ import annotations

DEMO_PASSWORD = "browser-demo-passphrase"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]

def follow(locator, **kwargs) -> None:
    """Click a link or a submit button and wait until the page it leads to has loaded."""
    with locator.page.expect_navigation():
        locator.click(**kwargs)


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


def sign_in(page, base: str, username: str, password: str = DEMO_PASSWORD) -> None:
    """Sign in through the form, like a person."""
    page.goto(base + "/login")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(password)
    # click() does not wait for the page it loads: without expect_navigation the next step could still see
    # the sign-in form, or cancel the sign-in by navigating away before its cookie arrives.
    with page.expect_navigation():
        page.locator("form.stack [type=submit]").click()


def sign_out(page) -> None:
    with page.expect_navigation():
        page.locator("form[action$='/logout'] button").click()
