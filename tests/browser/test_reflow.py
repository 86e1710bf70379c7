"""Reflow (WCAG 1.4.10): at 320 CSS px wide (1280 px at 400 % zoom) and at 640 CSS px (1280 px at 200 % zoom) no page
scrolls sideways and nothing sticks out of the viewport or is clipped. Wide tables scroll inside their own
`.table-scroll` box; the page itself must not."""

from __future__ import annotations

import re

import pytest
from browserkit import follow, sign_in

# Every element outside a .table-scroll box must fit between the viewport's edges, and no box may hold content wider
# than itself, whether it clips it ("nothing is cut off") or lets it spill over its neighbours.
LAYOUT_PROBLEMS = """() => {
  const width = document.documentElement.clientWidth;
  const problems = [];
  const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (typeof el.className === 'string' && el.className ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
  for (const el of document.body.querySelectorAll('*')) {
    if (el.parentElement.closest('.table-scroll') || el.closest('.visually-hidden, .skip-link, option')) continue;
    if (el.parentElement.closest('svg')) continue;  // a drawing scales with its viewBox: the svg box is measured
    const style = getComputedStyle(el);
    if (style.display === 'none' || style.visibility === 'hidden') continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    if (box.left < -1 || box.right > width + 1) {
      problems.push(`${name(el)} spans ${Math.round(box.left)}..${Math.round(box.right)} of ${width}`);
    }
    const scrolls = ['auto', 'scroll'].includes(style.overflowX);
    if (!scrolls && el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1) {
      const verb = ['hidden', 'clip'].includes(style.overflowX) ? 'clips' : 'spills';
      problems.push(`${name(el)} ${verb} ${el.scrollWidth - el.clientWidth}px of its content`);
    }
  }
  return {scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, problems};
}"""

LESSON = "b3-what-the-law-says"  # its third part has a table


def check_reflow(page, label: str, failures: list[str], axe=None) -> None:
    """Record what does not reflow; at 320 px also audit the page, since a box that scrolls only on a narrow screen
    must then be reachable by keyboard."""
    page.wait_for_load_state()
    if axe is not None:
        axe.check(page, f"{label} at 320 px")
    result = page.evaluate(LAYOUT_PROBLEMS)
    if result["scrollWidth"] > result["innerWidth"] + 1:
        result["problems"].insert(0, f"the page scrolls sideways: {result['scrollWidth']} > {result['innerWidth']}")
    if result["problems"]:
        failures.append(f"{label} ({page.url}):\n  " + "\n  ".join(result["problems"][:12]))


@pytest.fixture(scope="module")
def case_url(live_server, browser):
    """A case filed by a Hanbit teacher, opened by the lead counselor: its address."""
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    sign_in(page, live_server, "hanbit-teacher3")
    page.goto(live_server + "/reports/new/form")
    page.locator("input[name=categories][value=creation]").check()
    page.locator("input[name=victim_kind][value=student]").check()
    page.locator("input[name=urgent][value=no]").check()
    page.locator("input[name=police_told][value=no]").check()
    page.locator("textarea[name=description]").fill("Reflow check: a made-up report.")
    follow(page.locator("button[value=review]"))
    follow(page.locator("button[value=submit]"))
    page.wait_for_url(re.compile(r".*/receipt$"))
    reference = page.locator(".reference").inner_text()
    counselor = context.new_page()
    context.clear_cookies()
    sign_in(counselor, live_server, "hanbit-counselor1")
    counselor.goto(live_server + "/cases/?status=all")
    follow(counselor.get_by_role("link", name=reference, exact=True))
    counselor.wait_for_url(re.compile(r".*/cases/[^/]+$"))
    url = counselor.url
    context.close()
    return url


@pytest.mark.parametrize("width", [320, 640])
@pytest.mark.parametrize("lang", ["ko", "en"])
def test_pages_reflow(live_server, open_page, axe, case_url, lang, width):
    failures: list[str] = []
    audit = axe if width == 320 else None

    def check(page, label):
        check_reflow(page, f"{label} [{lang}]", failures, audit)

    page = open_page(lang, width=width, height=800)
    for path in ("/", "/lessons", f"/lessons/{LESSON}", f"/lessons/{LESSON}/step/3", f"/lessons/{LESSON}/scenario",
                 f"/lessons/{LESSON}/quiz", f"/lessons/{LESSON}/print", "/login", "/forgot-password", "/exit", "/help",
                 "/no-such-page"):
        page.goto(live_server + path)
        check(page, path)
    page.goto(live_server + f"/lessons/{LESSON}/quiz")
    follow(page.locator("form.quiz [type=submit]"))
    check(page, "quiz with errors")
    for group in page.locator("form.quiz fieldset.choice-group").all():
        group.locator("input[type=radio]").first.check()
    follow(page.locator("form.quiz [type=submit]"))
    check(page, "quiz result")

    teacher = open_page(lang, width=width, height=800)
    sign_in(teacher, live_server, "hanbit-teacher2")
    check(teacher, "teacher dashboard")
    teacher.goto(live_server + "/reports/new/form")
    check(teacher, "report form")
    follow(teacher.locator("button[value=review]"))
    check(teacher, "report form with errors")
    teacher.goto(live_server + "/reports/mine")
    check(teacher, "my reports")
    teacher.goto(live_server + "/classes/")
    check(teacher, "my classes")
    follow(teacher.get_by_role("link", name="1-2", exact=True))
    check(teacher, "class page")

    counselor = open_page(lang, width=width, height=800)
    sign_in(counselor, live_server, "hanbit-counselor1")
    counselor.goto(live_server + "/cases/")
    check(counselor, "case inbox")
    counselor.goto(case_url)
    check(counselor, "case file")
    counselor.locator("details.content-note summary").click()
    check(counselor, "case file, report opened")
    counselor.goto(case_url + "/print")
    check(counselor, "printable case report")
    counselor.goto(case_url + "/access")
    check(counselor, "who opened the case")
    counselor.goto(case_url + "/takedown/packet")
    check(counselor, "takedown request packet")

    admin = open_page(lang, width=width, height=800)
    sign_in(admin, live_server, "hanbit-admin")
    for path in ("/admin/", "/admin/users", "/admin/users/new", "/admin/settings", "/admin/classes",
                 "/classes/staff-training"):
        admin.goto(live_server + path)
        check(admin, path)

    district = open_page(lang, width=width, height=800)
    sign_in(district, live_server, "district-admin")
    for path in ("/district/", "/district/schools"):
        district.goto(live_server + path)
        check(district, path)
    assert not failures, f"at {width} px:\n" + "\n".join(failures)
    axe.assert_clean()
