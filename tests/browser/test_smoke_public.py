"""Public pages in a real browser, in both languages, audited by axe."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_public_pages_are_accessible(live_server, open_page, axe, lang):
    page = open_page(lang)
    for path in ("/", "/login", "/forgot-password", "/no-such-page"):
        page.goto(live_server + path)
        assert page.locator("html").get_attribute("lang") == lang
        axe.check(page, f"{path} [{lang}]")
    axe.assert_clean()
