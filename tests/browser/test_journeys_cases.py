"""The teacher reports, the lead counselor handles the case to closure, outsiders are kept out: in a real browser."""

from __future__ import annotations

import re

import pytest
from browserkit import follow, sign_in, sign_out

WORDS = {
    "ko": {"review": "신고 내용 확인하기", "send": "신고 보내기", "ack": "접수 확인", "add": "기록에 추가",
           "close": "사안 종결", "print": "사안 보고서 인쇄", "received": "신고가 접수되었습니다",
           "confirm": "선택한 링크를 항목으로 확정", "status": "상태 변경", "requested": "삭제 요청함",
           "packet": "삭제 지원 요청 자료 만들기", "support": "디지털성범죄피해자지원센터",
           "no_name": "이 자료에는 피해자의 이름이 없습니다"},
    "en": {"review": "Review my report", "send": "Send the report", "ack": "Acknowledge", "add": "Add to the log",
           "close": "Close the case", "print": "Printable case report", "received": "Your report was received",
           "confirm": "Confirm the ticked ones as items", "status": "Change the status",
           "requested": "Removal requested", "packet": "Make the request packet",
           "support": "Digital Sex Crime Victim Support Center", "no_name": "No name of the person affected"},
}


def file_report(page, base, axe, lang, description):
    # follow(), not click(): axe must check the page a click loads, not the one still being replaced.
    page.goto(base + "/reports/new")
    axe.check(page, f"report guidance [{lang}]")
    follow(page.locator("a.button.primary"))
    axe.check(page, f"report form [{lang}]")
    # Submitting nothing shows the errors, summarised at the top and linked to their fields.
    follow(page.get_by_role("button", name=WORDS[lang]["review"]))
    assert page.locator("#error-summary").is_visible()
    axe.check(page, f"report form with errors [{lang}]")
    page.locator("input[name=categories][value=distribution]").check()
    page.locator("input[name=victim_kind][value=student]").check()
    page.locator("input[name=platforms][value=telegram]").check()
    page.locator("textarea[name=links]").fill("t.me/some-channel")
    page.locator("input[name=urgent][value=yes]").check()
    page.locator("input[name=police_told][value=no]").check()
    page.locator("textarea[name=description]").fill(description)
    follow(page.get_by_role("button", name=WORDS[lang]["review"]))
    axe.check(page, f"report review [{lang}]")
    assert description in page.content()
    follow(page.get_by_role("button", name=WORDS[lang]["send"]))
    page.wait_for_url(re.compile(r".*/receipt$"))
    axe.check(page, f"report receipt [{lang}]")
    reference = page.locator(".reference").inner_text()
    assert re.fullmatch(r"HANBIT-\d{4}-\d{4}", reference)
    return reference


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_report_to_closure(live_server, open_page, axe, lang):
    teacher = open_page(lang)
    sign_in(teacher, live_server, "hanbit-teacher1")
    reference = file_report(teacher, live_server, axe, lang, f"Browser journey {lang}: a fake image was shared.")

    counselor = open_page(lang)
    sign_in(counselor, live_server, "hanbit-counselor1")
    counselor.goto(live_server + "/cases/")
    axe.check(counselor, f"case inbox [{lang}]")
    follow(counselor.get_by_role("link", name=reference, exact=True))
    axe.check(counselor, f"case file [{lang}]")
    case_url = counselor.url
    assert "badge-due-now" in counselor.content()  # the police report is due now, not "overdue"
    follow(counselor.get_by_role("button", name=WORDS[lang]["ack"], exact=True))
    # Closing while the police report is still open asks why; without a reason it is refused, on the page.
    assert counselor.locator("textarea[name=reason_police_report]").is_visible()
    counselor.locator("input[name=outcome][value=resolved]").check()
    counselor.locator("input[name=confirm]").check()
    with counselor.expect_navigation():
        counselor.get_by_role("button", name=WORDS[lang]["close"]).click()
    assert counselor.locator("#error-summary").is_visible()
    axe.check(counselor, f"closing refused without a reason [{lang}]")
    # The kind first, by a link; the form then has only that kind's fields and names the duty it completes.
    follow(counselor.locator("#log a[href*='log=police_report']"))
    assert counselor.locator("input[name=link]").count() == 0
    assert counselor.locator(".duty-completes").count() == 1
    axe.check(counselor, f"log form for a police report [{lang}]")
    counselor.locator("input[name=happened_at]").fill("2026-11-20T10:00")
    counselor.locator("input[name=agency]").fill("Mapo Police Station")
    counselor.locator("input[name=report_number]").fill("2026-000123")
    follow(counselor.get_by_role("button", name=WORDS[lang]["add"]))
    # The takedown panel offers the channel named in the report; confirmed, it is an item whose removal is requested.
    counselor.locator("input[name=confirm-found][value='t.me/some-channel']").check()
    follow(counselor.get_by_role("button", name=WORDS[lang]["confirm"]))
    axe.check(counselor, f"takedown panel with an item [{lang}]")
    counselor.locator("#takedown details summary").first.click()
    counselor.locator("#takedown select[name$='-status']").select_option("requested")
    counselor.locator("#takedown input[name$='-reference']").fill("DSC-0042")
    follow(counselor.locator("#takedown form").get_by_role("button", name=WORDS[lang]["status"]))
    row = counselor.locator("#takedown ol.log > li").first
    assert WORDS[lang]["requested"] in row.inner_text() and "DSC-0042" in row.inner_text()
    # The request packet, without the victim's name (the box is not ticked): the printable page and its plain text.
    follow(counselor.get_by_role("button", name=WORDS[lang]["packet"]))
    axe.check(counselor, f"takedown request packet [{lang}]")
    packet = counselor.locator("#packet").inner_text()
    for expected in ("t.me/some-channel", "DSC-0042", "02-735-8994", WORDS[lang]["support"], WORDS[lang]["no_name"],
                     "Take It Down"):
        assert expected in packet, expected
    assert "names=" not in counselor.url
    follow(counselor.locator("a[href*='/takedown/packet.txt']"))
    plain = counselor.locator("body").inner_text()
    assert "DSC-0042" in plain and WORDS[lang]["no_name"] in plain and "<" not in plain
    counselor.goto(case_url)
    follow(counselor.locator("#log a[href*='log=takedown']"))
    assert counselor.locator("input[name=agency]").count() == 0
    counselor.locator("input[name=happened_at]").fill("2026-11-20T11:00")
    counselor.locator("input[name=link]").fill("t.me/some-channel")
    counselor.locator("select[name=platform]").select_option("telegram")
    counselor.locator("select[name=takedown_status]").select_option("requested")
    follow(counselor.get_by_role("button", name=WORDS[lang]["add"]))
    assert "2026-000123" in counselor.content()
    assert counselor.locator("input[name=outcome]:checked").count() == 0  # nothing preselected
    counselor.locator("input[name=outcome][value=referred_to_police]").check()
    counselor.locator("input[name=confirm]").check()
    follow(counselor.get_by_role("button", name=WORDS[lang]["close"]))
    axe.check(counselor, f"closed case file [{lang}]")
    follow(counselor.get_by_role("link", name=WORDS[lang]["print"]))
    axe.check(counselor, f"printable case report [{lang}]")
    assert re.search(r"[0-9a-f]{64}", counselor.content())

    outsider = open_page(lang)
    sign_in(outsider, live_server, "saesol-counselor1")
    response = outsider.goto(case_url)
    assert response.status == 404
    axe.check(outsider, f"404 for another school [{lang}]")

    teacher.goto(live_server + "/reports/mine")
    axe.check(teacher, f"my reports [{lang}]")
    row = teacher.locator("tr", has_text=reference)
    assert row.count() == 1
    assert "Mapo" not in teacher.content()
    sign_out(teacher)
    axe.assert_clean()


STEPS = {"ko": ("4단계 중 {n}단계", "신고 단계"), "en": ("Step {n} of 4", "Steps of the report")}


@pytest.mark.parametrize(("lang", "width"), [("ko", 375), ("en", 1280)])
def test_report_in_steps_keeps_what_was_typed(live_server, open_page, axe, lang, width):
    """The step is in the title and marked in the list; an answer left out keeps every other one on the page."""
    page = open_page(lang, width=width)
    sign_in(page, live_server, "hanbit-teacher2")
    title, nav_name = STEPS[lang]
    page.goto(live_server + "/reports/new")
    assert page.title().startswith(title.format(n=1))
    follow(page.locator("a.button.primary"))
    assert page.title().startswith(title.format(n=2))
    nav = page.get_by_role("navigation", name=nav_name)
    assert nav.locator("li").count() == 4 and nav.locator("[aria-current=step]").inner_text().strip().startswith("2")
    assert page.locator("fieldset.form-section > legend").count() >= 4
    axe.check(page, f"report form in parts [{lang} {width}]")
    # Everything but the one question that must be answered about the police.
    page.locator("input[name=categories][value=distribution]").check()
    page.locator("textarea[name=description]").fill("Typed before the error.")
    page.locator("input[name=first_seen]").fill("2026-11-20T08:30")
    page.locator("textarea[name=how_learned]").fill("A student told me.")
    page.locator("input[name=victim_kind][value=student]").check()
    page.locator("input[name=victim_count]").fill("2")
    page.locator("textarea[name=victim_names]").fill("Lee, 1-2")
    page.locator("textarea[name=suspects]").fill("an older student")
    page.locator("input[name=victim_knows][value=yes]").check()
    page.locator("input[name=platforms][value=telegram]").check()
    page.locator("textarea[name=links]").fill("t.me/a-channel")
    page.locator("input[name=urgent][value=no]").check()
    page.locator("input[name=guardians_told][value=no]").check()
    page.locator("input[name=police_report_number]").fill("2026-000999")
    follow(page.get_by_role("button", name=WORDS[lang]["review"]))
    assert page.title().startswith("오류: " if lang == "ko" else "Error: ")
    summary = page.locator("#error-summary")
    assert summary.locator("li").count() == 1
    axe.check(page, f"report form, one answer missing [{lang} {width}]")
    assert page.locator("input[name=categories][value=distribution]").is_checked()
    assert page.locator("textarea[name=description]").input_value() == "Typed before the error."
    assert page.locator("input[name=first_seen]").input_value() == "2026-11-20T08:30"
    assert page.locator("textarea[name=how_learned]").input_value() == "A student told me."
    assert page.locator("input[name=victim_kind][value=student]").is_checked()
    assert page.locator("input[name=victim_count]").input_value() == "2"
    assert page.locator("textarea[name=victim_names]").input_value() == "Lee, 1-2"
    assert page.locator("textarea[name=suspects]").input_value() == "an older student"
    assert page.locator("input[name=victim_knows][value=yes]").is_checked()
    assert page.locator("input[name=platforms][value=telegram]").is_checked()
    assert page.locator("textarea[name=links]").input_value() == "t.me/a-channel"
    assert page.locator("input[name=urgent][value=no]").is_checked()
    assert page.locator("input[name=guardians_told][value=no]").is_checked()
    assert page.locator("input[name=police_report_number]").input_value() == "2026-000999"
    # The summary's link puts the focus on the question left out.
    summary.locator("a").click()
    assert page.evaluate("document.activeElement.name") == "police_told"
    page.locator("input[name=police_told][value=yes]").check()
    follow(page.get_by_role("button", name=WORDS[lang]["review"]))
    assert page.title().startswith(title.format(n=3))
    assert "Typed before the error." in page.content() and "2026-000999" in page.content()
    axe.check(page, f"report review in parts [{lang} {width}]")
    follow(page.get_by_role("button", name=WORDS[lang]["send"]))
    assert page.title().startswith(title.format(n=4))
    axe.check(page, f"report receipt with steps [{lang} {width}]")
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_report_form_by_keyboard_alone(live_server, open_page):
    page = open_page("en")
    sign_in(page, live_server, "hanbit-teacher2")
    page.goto(live_server + "/reports/new/form")
    invisible_focus = []

    def tab_to(selector: str, limit: int = 120, back: bool = False):
        for _ in range(limit):
            page.keyboard.press("Shift+Tab" if back else "Tab")
            state = page.evaluate("""sel => {
                const el = document.activeElement;
                const style = getComputedStyle(el);
                return {hit: el.matches(sel), outline: style.outlineStyle, tag: el.tagName + '.' + (el.name || '')};
            }""", selector)
            if state["outline"] == "none":
                invisible_focus.append(state["tag"])
            if state["hit"]:
                return
        raise AssertionError(f"Tab never reached {selector}")

    tab_to("input[name=categories][value=creation]")
    page.keyboard.press("Space")
    tab_to("textarea[name=description]")
    page.keyboard.type("Typed with the keyboard only.")
    tab_to("input[name=victim_kind]")
    page.keyboard.press("ArrowDown")  # arrows move within a radio group and select
    tab_to("input[name=urgent]")
    page.keyboard.press("Space")
    tab_to("input[name=police_told]")
    page.keyboard.press("Space")
    tab_to("input[name=urgent]", back=True)  # Shift+Tab goes back through the form
    tab_to("button[value=review]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "Typed with the keyboard only." in page.content()
    tab_to("button[value=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("/receipt")
    assert page.locator(".reference").inner_text().startswith("HANBIT-")
    assert invisible_focus == [], f"focus was not visible on {invisible_focus}"


def test_case_file_by_keyboard_alone(live_server, open_page):
    teacher = open_page("ko")
    sign_in(teacher, live_server, "hanbit-teacher3")
    teacher.goto(live_server + "/reports/new/form")
    teacher.locator("input[name=categories][value=threat]").check()
    teacher.locator("input[name=victim_kind][value=unknown]").check()
    teacher.locator("input[name=urgent][value=no]").check()
    teacher.locator("input[name=police_told][value=no]").check()
    teacher.locator("textarea[name=description]").fill("Keyboard case journey.")
    with teacher.expect_navigation():
        teacher.locator("button[value=review]").click()
    with teacher.expect_navigation():
        teacher.locator("button[value=submit]").click()
    reference = teacher.locator(".reference").inner_text()

    page = open_page("en")
    sign_in(page, live_server, "hanbit-counselor2")
    page.goto(live_server + "/cases/?status=all")

    def tab_to(selector: str, limit: int = 150):
        for _ in range(limit):
            page.keyboard.press("Tab")
            state = page.evaluate("""sel => ({hit: document.activeElement.matches(sel),
                outline: getComputedStyle(document.activeElement).outlineStyle,
                element: document.activeElement.outerHTML.slice(0, 160)})""", selector)
            assert state["outline"] != "none", f"focus must always be visible: {state['element']}"
            if state["hit"]:
                return
        raise AssertionError(f"Tab never reached {selector}")

    href = page.get_by_role("link", name=reference, exact=True).get_attribute("href")
    tab_to(f"a[href='{href}']")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    tab_to("form[action$='/acknowledge'] button")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    tab_to("summary")  # the content note opens with the keyboard too
    page.keyboard.press("Enter")
    assert page.locator("details.content-note").get_attribute("open") is not None
    tab_to("#log a[href*='log=note']")  # the kind first, by a link: the form then asks only for a note's fields
    with page.expect_navigation():
        page.keyboard.press("Enter")
    tab_to("textarea[name=text]")
    page.keyboard.type("Met the student with the homeroom teacher.")
    tab_to("form[action$='/entries'] [type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "Met the student with the homeroom teacher." in page.content()
    # The police report is not logged: closing asks why, and the reason goes into the log.
    tab_to("textarea[name=reason_police_report]")
    page.keyboard.type("The guardian reported it at the police station.")
    tab_to("input[name=outcome]")
    page.keyboard.press("Space")
    tab_to("input[name=confirm]")
    page.keyboard.press("Space")
    tab_to("form[action$='/close'] [type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "Closed" in page.locator("p.lead").inner_text()
    assert "The guardian reported it at the police station." in page.locator("#log").inner_text()


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_a_student_in_danger_is_told_what_to_do_now(live_server, open_page, axe, lang):
    """Signed out, the help form leads to the help lines; signed in, an urgent request gets the 'call now' page."""
    words = {"ko": {"send": "상담 선생님께 보내기", "now": "지금 위험하다면 바로 전화하세요", "mine": "내 도움 요청",
                    "help": "지금 도움받기"},
             "en": {"send": "Send to a counselor", "now": "If you are in danger now, call now",
                    "mine": "My requests", "help": "Get help now"}}[lang]
    page = open_page(lang)
    page.goto(live_server + "/reports/help")
    assert page.locator("h1").inner_text() == words["help"]
    axe.check(page, f"get help now, signed out [{lang}]")
    sign_in(page, live_server, "hanbit-student07" if lang == "ko" else "hanbit-student08")
    page.goto(live_server + "/reports/help")
    page.locator("textarea[name=message]").fill("Someone says they will post a fake picture of me tonight.")
    page.locator("input[name=urgent][value=yes]").check()
    with page.expect_navigation():
        page.get_by_role("button", name=words["send"]).click()
    assert page.locator("h1").inner_text() == words["now"]
    assert "112" in page.content() and "02-735-8994" in page.content()
    axe.check(page, f"urgent help request sent [{lang}]")
    with page.expect_navigation():
        page.get_by_role("link", name=words["mine"]).first.click()
    assert page.locator("h1").inner_text() == words["mine"]
    axe.check(page, f"my requests [{lang}]")
