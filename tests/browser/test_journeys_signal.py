"""The district signal in a real browser: Hanbit and Saesol each report one channel, written two ways; Hanbit's lead
sees "also reported at other schools" on the item and the district admin sees the channel by its reference."""

from __future__ import annotations

import re

import pytest
from browserkit import DEMO_PASSWORD, follow, sign_in

WORDS = {
    "ko": {"review": "신고 내용 확인하기", "send": "신고 보내기", "confirm": "선택한 링크를 항목으로 확정",
           "notice": "다른 학교에서도 신고되었습니다", "section": "여러 학교에서 신고된 채널",
           "schools": "2개 학교에서 신고됨"},
    "en": {"review": "Review my report", "send": "Send the report", "confirm": "Confirm the ticked ones as items",
           "notice": "Also reported at other schools in the district.",
           "section": "Channels reported at several schools", "schools": "reported at 2 schools"},
}


def report(page, base, lang, links):
    """A teacher reports a channel; returns the case reference from the receipt."""
    page.goto(base + "/reports/new")
    follow(page.locator("a.button.primary"))
    page.locator("input[name=categories][value=distribution]").check()
    page.locator("input[name=victim_kind][value=student]").check()
    page.locator("input[name=platforms][value=telegram]").check()
    page.locator("textarea[name=links]").fill(links)
    page.locator("input[name=urgent][value=no]").check()
    page.locator("input[name=police_told][value=no]").check()
    page.locator("textarea[name=description]").fill(f"Signal journey {lang}: a fake image was shared.")
    follow(page.get_by_role("button", name=WORDS[lang]["review"]))
    follow(page.get_by_role("button", name=WORDS[lang]["send"]))
    page.wait_for_url(re.compile(r".*/receipt$"))
    return page.locator(".reference").inner_text()


def confirm_channel(page, base, lang, reference, normal):
    """A counselor opens the case and confirms the channel as a takedown item."""
    page.goto(base + "/cases/")
    follow(page.get_by_role("link", name=reference, exact=True))
    page.locator(f"input[name=confirm-found][value='{normal}']").check()
    follow(page.get_by_role("button", name=WORDS[lang]["confirm"]))


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_a_channel_reported_at_two_schools_reaches_the_district_and_the_leads(live_server, open_page, axe, lang):
    normal = f"t.me/signal_journey_{lang}"
    references = {}
    for school, written in (("hanbit", f"https://t.me/Signal_Journey_{lang.upper()}/"),
                            ("saesol", f"@signal_journey_{lang}")):
        teacher = open_page(lang)
        sign_in(teacher, live_server, f"{school}-teacher2")
        references[school] = report(teacher, live_server, lang, written)
        counselor = open_page(lang)
        # Hanbit's first counselor is its lead; at Saesol any of the counselors the case was routed to confirms it.
        sign_in(counselor, live_server, f"{school}-counselor1")
        confirm_channel(counselor, live_server, lang, references[school], normal)

    # Hanbit's lead sees the notice on the item once Saesol's item is confirmed.
    lead = open_page(lang)
    sign_in(lead, live_server, "hanbit-counselor1")
    lead.goto(live_server + "/cases/")
    follow(lead.get_by_role("link", name=references["hanbit"], exact=True))
    item = lead.locator("#takedown ol.log > li", has_text=normal)
    notice = item.locator(".signal-notice")
    assert WORDS[lang]["notice"] in notice.inner_text()
    label = re.search(r"[0-9A-F]{4}-[0-9A-F]{4}", notice.inner_text()).group(0)
    axe.check(lead, f"takedown item also reported at another school [{lang}]")

    district = open_page(lang)
    sign_in(district, live_server, "district-admin", DEMO_PASSWORD)
    district.goto(live_server + "/district/")
    section = district.locator("#signal")
    assert WORDS[lang]["section"] in section.locator("h2").inner_text()
    row = section.locator("tbody tr", has_text=label)
    assert row.count() == 1 and WORDS[lang]["schools"] in row.inner_text()
    assert normal not in district.content() and "signal_journey" not in district.content().lower()
    axe.check(district, f"district signal [{lang}]")
    axe.assert_clean()
