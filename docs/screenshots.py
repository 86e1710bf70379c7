"""Screenshots of the portal's main screens, in Korean and in English, for the README. Not a test.

    .venv/bin/python docs/screenshots.py [--out docs/screenshots]

Starts `portal serve --demo` the way the browser tests do (a fresh instance folder in a temporary directory, a free
loopback port, a demo password of its own), drives Debian's Chromium (/usr/bin/chromium, apt-get install chromium
fonts-nanum) with Playwright and saves one viewport-sized PNG (1280x900) per screen and language:
lesson, quiz-result, report-form, receipt, dashboard (the counselor's landing page), inbox, case-file, log-form (the
log form for a police report), takedown-packet (the request packet for the support center), and from the school's
public page poster, receipt-code and conversation, e.g. docs/screenshots/lesson-ko.png; the report form, the landing
page and the log form also at 375x812 (a phone), e.g. docs/screenshots/report-form-phone-ko.png.
Everything shown is the made-up demo school; the demo banner says so on every picture.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import secrets
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

import frontmatter
from playwright.sync_api import sync_playwright

from portal.testing import served

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
VIEWPORT = {"width": 1280, "height": 900}
PHONE_WIDTH, PHONE_HEIGHT = 375, 812  # a phone: the report form, the log form and the landing page are shot here too
LESSON = "b1-how-deepfakes-fool-us"
SCHOOL_TIME = ZoneInfo("Asia/Seoul")  # the demo schools' time zone: log entries are entered in it
DESCRIPTION = {
    "ko": "(데모) 같은 반 학생의 얼굴을 합성한 사진이 단체 대화방에 올라왔다는 이야기를 학생에게서 들었습니다.",
    "en": "(Demo) A student told me that a faked picture of a classmate's face was posted in a group chat.",
}
CHANNEL = "t.me/demo_year2_pics"  # made up: the demo's channel in the takedown panel
NOTE = {"ko": "(데모) 피해 학생 보호자와 통화하고 상담 일정을 잡았습니다.",
        "en": "(Demo) Called the affected student's guardian and set a time to talk."}
TOLD = {"ko": "(데모) 친구 사진으로 만든 가짜 사진이 반 단체방에 올라왔어요.",
        "en": "(Demo) A fake picture made from my friend's photo was posted in our class chat."}
QUESTION = {"ko": "(데모) 알려 줘서 고마워요. 그 단체방은 아직 열려 있나요? 채널 이름을 알 수 있을까요?",
            "en": "(Demo) Thank you for telling us. Is the chat still open? Do you know the channel's name?"}
ANSWER = {"ko": "(데모) 네, 아직 열려 있어요. 이름은 '2학년 모음'이에요.",
          "en": "(Demo) Yes, it is still open. It is called \"Year 2 pics\"."}


@contextmanager
def demo_portal():
    """`portal serve --demo` on a free loopback port with a fresh instance; yields (base URL, demo password)."""
    password = secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory(prefix="portal-screenshots-") as instance:
        env = {k: v for k, v in os.environ.items() if k != "PORTAL_DATABASE_URL"}
        env.update(PORTAL_INSTANCE_PATH=instance, PORTAL_DEMO_PASSWORD=password)
        with served(env, "--demo", "--no-background", log=Path(instance) / "server.log") as base:
            yield base, password


def follow(locator) -> None:
    """Click a link or a submit button and wait until the page it leads to has loaded."""
    with locator.page.expect_navigation():
        locator.click()


def sign_in(page, base: str, username: str, password: str) -> None:
    page.goto(base + "/login")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(password)
    follow(page.locator("form.stack [type=submit]"))


def written(path: Path) -> None:
    """Say which picture was written (relative to the repository when it is inside it) and its size."""
    print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}  {path.stat().st_size // 1024} KB")


def shoot(page, out: Path, name: str, lang: str, width: int | None = None, at: str | None = None) -> None:
    """One viewport-sized picture: from the top of the page, or from the element `at`; at another width, the page
    is laid out again for it and set back afterwards."""
    if width:
        page.set_viewport_size({"width": width, "height": PHONE_HEIGHT})
    page.wait_for_load_state("networkidle")
    if at:
        page.locator(at).evaluate("element => element.scrollIntoView({block: 'start'})")
    else:
        page.evaluate("window.scrollTo(0, 0)")
    path = out / f"{name}-{lang}.png"
    page.screenshot(path=str(path), full_page=False, animations="disabled", caret="hide")
    written(path)
    if width:
        page.set_viewport_size(VIEWPORT)


def file_report(page, lang: str, *, urgent: bool, police_told: bool) -> str:
    """Fill in the report form that is open, review it and send it; returns the case reference on the receipt."""
    page.locator("input[name=categories][value=distribution]").check()
    page.locator("input[name=victim_kind][value=student]").check()
    page.locator("input[name=platforms][value=telegram]").check()
    page.locator(f"input[name=urgent][value={'yes' if urgent else 'no'}]").check()
    page.locator(f"input[name=police_told][value={'yes' if police_told else 'no'}]").check()
    page.locator("textarea[name=description]").fill(DESCRIPTION[lang])
    follow(page.locator("button[value=review]"))
    follow(page.locator("button[value=submit]"))
    page.wait_for_url(re.compile(r".*/receipt$"))
    return page.locator(".reference").inner_text()


def screens(browser, base: str, password: str, lang: str, out: Path) -> None:
    locale = "ko-KR" if lang == "ko" else "en-US"

    # A visitor without an account: a lesson part with its progress bar, then the quiz and its result.
    visitor = browser.new_context(locale=locale, viewport=VIEWPORT)
    page = visitor.new_page()
    page.goto(f"{base}/lessons/{LESSON}/step/1")
    shoot(page, out, "lesson", lang)
    page.goto(f"{base}/lessons/{LESSON}/quiz")
    # Every answer right but the last, so that the result shows both kinds of explanation.
    key = [question["answer"] for question in frontmatter.load(ROOT / "content" / "lessons" / LESSON / "en.md")["quiz"]]
    for number, group in enumerate(page.locator("form.quiz fieldset.choice-group").all()):
        choice = key[number] if number < len(key) - 1 else (key[number] + 1) % group.locator("input").count()
        group.locator("input[type=radio]").nth(choice).check()
    follow(page.locator("form.quiz [type=submit]"))
    page.wait_for_load_state()
    shoot(page, out, "quiz-result", lang)
    visitor.close()

    # A teacher reports an incident: the form with its steps, then the receipt; and two more reports, so that the
    # counselor's landing page has a few cases to show.
    teacher = browser.new_context(locale=locale, viewport=VIEWPORT)
    page = teacher.new_page()
    sign_in(page, base, "hanbit-teacher1", password)
    page.goto(f"{base}/reports/new/form")
    shoot(page, out, "report-form", lang)
    shoot(page, out, "report-form-phone", lang, width=PHONE_WIDTH)
    reference = file_report(page, lang, urgent=True, police_told=False)
    shoot(page, out, "receipt", lang)
    for urgent, police_told in ((False, True), (False, False)):
        page.goto(f"{base}/reports/new/form")
        file_report(page, lang, urgent=urgent, police_told=police_told)
    teacher.close()

    # The lead counselor: the landing page, the inbox, then the case file after acknowledging it and logging a
    # call, and the log form for one kind of entry.
    counselor = browser.new_context(locale=locale, viewport=VIEWPORT)
    page = counselor.new_page()
    sign_in(page, base, "hanbit-counselor1", password)
    page.goto(f"{base}/dashboard/")
    shoot(page, out, "dashboard", lang)
    shoot(page, out, "dashboard-phone", lang, width=PHONE_WIDTH)
    page.goto(f"{base}/cases/")
    shoot(page, out, "inbox", lang)
    follow(page.get_by_role("link", name=reference, exact=True))
    case_url = page.url.split("#")[0].split("?")[0]
    follow(page.locator("form[action$='/acknowledge'] button"))
    page.goto(f"{case_url}?log=guardian_contact#log")
    page.locator("input[name=happened_at]").fill(dt.datetime.now(SCHOOL_TIME).strftime("%Y-%m-%dT%H:%M"))
    page.locator("textarea[name=text]").fill(NOTE[lang])
    follow(page.locator("form[action$='/entries'] [type=submit]"))
    page.goto(case_url)
    shoot(page, out, "case-file", lang)
    page.goto(f"{case_url}?log=police_report#log")
    shoot(page, out, "log-form", lang, at="#log .log-kind-chosen")
    shoot(page, out, "log-form-phone", lang, width=PHONE_WIDTH, at="#log .log-kind-chosen")
    # A channel added to the takedown panel by hand, its removal requested, and the request packet for it.
    page.goto(f"{case_url}#takedown")
    page.locator("#takedown details:has(input[name=new-target]) summary").click()
    page.locator("input[name=new-kind][value=link]").check()
    page.locator("input[name=new-target]").fill(CHANNEL)
    follow(page.locator("form[action$='/takedown/add'] [type=submit]"))
    page.locator("#takedown ol.log details summary").first.click()
    page.locator("#takedown select[name$='-status']").select_option("requested")
    page.locator("#takedown input[name$='-reference']").fill("DSC-2026-0418")
    follow(page.locator("form[action*='/status'] [type=submit]"))
    follow(page.locator("form[action$='/takedown/packet'] [type=submit]"))
    shoot(page, out, "takedown-packet", lang, at="#packet")

    # The same channel, written another way, in an open case at Saesol: the district admin sees one channel
    # reported at two schools, under a reference made from its keyed HMAC.
    contexts = [browser.new_context(locale=locale, viewport=VIEWPORT) for _ in range(3)]
    saesol_teacher, saesol_lead, district = (context.new_page() for context in contexts)
    sign_in(saesol_teacher, base, "saesol-teacher1", password)
    saesol_teacher.goto(f"{base}/reports/new/form")
    other_reference = file_report(saesol_teacher, lang, urgent=False, police_told=True)
    sign_in(saesol_lead, base, "saesol-counselor1", password)
    saesol_lead.goto(f"{base}/cases/")
    follow(saesol_lead.get_by_role("link", name=other_reference, exact=True))
    saesol_lead.locator("#takedown details:has(input[name=new-target]) summary").click()
    saesol_lead.locator("input[name=new-kind][value=link]").check()
    saesol_lead.locator("input[name=new-target]").fill("@" + CHANNEL.removeprefix("t.me/"))
    follow(saesol_lead.locator("form[action$='/takedown/add'] [type=submit]"))
    sign_in(district, base, "district-admin", password)
    district.goto(f"{base}/district/")
    shoot(district, out, "district-signal", lang, at="#signal")
    for context in contexts:
        context.close()

    # Anyone, without an account: the poster, the form and its receipt code, and the conversation after the lead
    # counselor asked a question and the sender answered it.
    sender = browser.new_context(locale=locale, viewport=VIEWPORT)
    anonymous = sender.new_page()
    anonymous.goto(f"{base}/s/hanbit/poster?lang={lang}")
    shoot(anonymous, out, "poster", lang)
    anonymous.goto(f"{base}/s/hanbit/tell?lang={lang}")
    anonymous.locator("input[name=categories][value=distribution]").check()
    anonymous.locator("textarea[name=description]").fill(TOLD[lang])
    anonymous.locator("input[name=urgent][value=no]").check()
    anonymous.locator("input[name=about][value=student]").check()
    follow(anonymous.locator("form [type=submit]"))
    shoot(anonymous, out, "receipt-code", lang)
    follow(anonymous.locator("a.button.primary"))
    page.goto(f"{base}/cases/")
    follow(page.locator("#notices-title + ul a").first)
    page.locator("textarea[name=message]").fill(QUESTION[lang])
    follow(page.locator("form[action$='/reply'] [type=submit]"))
    anonymous.reload()
    anonymous.locator("textarea[name=text]").fill(ANSWER[lang])
    follow(anonymous.locator("form[action*='/conversation'] [type=submit]"))
    anonymous.locator("#messages").scroll_into_view_if_needed()
    path = out / f"conversation-{lang}.png"
    anonymous.screenshot(path=str(path), full_page=False, animations="disabled", caret="hide")
    written(path)
    sender.close()
    counselor.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots", help="where the PNG files go")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with demo_portal() as (base, password), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for lang in ("ko", "en"):
                screens(browser, base, password, lang, args.out)
        finally:
            browser.close()


if __name__ == "__main__":
    main()
