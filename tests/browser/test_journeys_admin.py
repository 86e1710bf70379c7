"""Running a school in a real browser: a school admin adds a counselor and makes them the lead; the new counselor sets
a password and reaches the inbox; the admin, district and every role's dashboard and account pages are audited.

Both languages work at Saesol: no other browser test relies on who Saesol's lead counselor is."""

from __future__ import annotations

import re

import pytest
from browserkit import DEMO_PASSWORD, follow, sign_in

WORDS = {
    "ko": {"add": "사용자 추가", "lead": "책임 상담교사로 지정", "lead_badge": "책임 상담교사",
           "back": "사용자 정보로 돌아가기", "preview": "가져오기 미리 보기", "set": "비밀번호 설정"},
    "en": {"add": "Add user", "lead": "Make designated lead counselor", "lead_badge": "designated lead",
           "back": "Back to the user", "preview": "Preview the import", "set": "Set password"},
}
NEW_PASSWORD = "a11y-journey-passphrase-7"


def set_password_by_link(page, base: str, link: str) -> None:
    """Open the one-time link like the new user would and choose a password."""
    page.goto(base + re.search(r"/set-password/[^\s<]+", link).group(0))
    page.locator("input[name=new]").fill(NEW_PASSWORD)
    page.locator("input[name=confirm]").fill(NEW_PASSWORD)
    follow(page.locator("form.stack [type=submit]"))
    page.wait_for_url(re.compile(r".*/login$"))


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_school_admin_adds_a_counselor_and_makes_them_lead(live_server, open_page, axe, lang):
    username = f"saesol-a11y-{lang}"
    admin = open_page(lang)
    sign_in(admin, live_server, "saesol-admin")
    axe.check(admin, f"school admin dashboard [{lang}]")
    admin.goto(live_server + "/admin/")
    axe.check(admin, f"admin figures [{lang}]")
    admin.goto(live_server + "/admin/users")
    axe.check(admin, f"admin users [{lang}]")
    admin.locator("select#role").select_option("counselor")
    follow(admin.locator("form.filters button[type=submit]"))
    admin.wait_for_url(re.compile(r".*role=counselor.*"))
    assert admin.locator("tbody tr").count() >= 2
    axe.check(admin, f"admin users, filtered [{lang}]")

    admin.goto(live_server + "/admin/users/new")
    axe.check(admin, f"add a user [{lang}]")
    follow(admin.get_by_role("button", name=WORDS[lang]["add"]))
    summary = admin.locator("#error-summary")
    assert summary.is_visible()
    assert summary.locator("a[href='#display_name']").count() == 1
    name_field = admin.locator("input#display_name")
    assert name_field.get_attribute("aria-invalid") == "true"
    assert "display_name-error" in name_field.get_attribute("aria-describedby")
    axe.check(admin, f"add a user with errors [{lang}]")

    admin.locator("input#display_name").fill(f"A11y Counselor {lang}")
    admin.locator("input#username").fill(username)
    admin.locator("select#role").select_option("counselor")
    follow(admin.get_by_role("button", name=WORDS[lang]["add"]))
    link = admin.locator(".link-box code").inner_text()
    assert "/set-password/" in link
    axe.check(admin, f"one-time link [{lang}]")

    follow(admin.get_by_role("link", name=WORDS[lang]["back"]))
    admin.wait_for_url(re.compile(r".*/admin/users/\d+$"))
    axe.check(admin, f"admin user page [{lang}]")
    follow(admin.get_by_role("button", name=WORDS[lang]["lead"]))
    admin.wait_for_load_state()
    assert admin.locator(".flash-success").is_visible()
    assert WORDS[lang]["lead_badge"] in admin.locator("dl.facts").inner_text()
    assert admin.get_by_role("button", name=WORDS[lang]["lead"]).count() == 0
    axe.check(admin, f"admin user page, now lead [{lang}]")

    for path, label in (("/admin/classes", "admin classes"), ("/admin/settings", "admin settings"),
                        ("/admin/classes/import", "roster import"), ("/classes/", "admin: classes and lessons"),
                        ("/classes/staff-training", "staff training completion"),
                        ("/lessons/staff-training", "my staff training"), ("/account/", "admin account")):
        admin.goto(live_server + path)
        axe.check(admin, f"{label} [{lang}]")
    admin.goto(live_server + "/admin/classes")
    follow(admin.locator("table a").first)
    admin.wait_for_url(re.compile(r".*/admin/classes/\d+$"))
    axe.check(admin, f"admin class page [{lang}]")
    admin.goto(live_server + "/admin/classes/import")
    follow(admin.get_by_role("button", name=WORDS[lang]["preview"]))
    assert admin.locator("#error-summary").is_visible()
    axe.check(admin, f"roster import with an error [{lang}]")

    # The new counselor sets a password through the link, signs in and opens the inbox as the lead.
    counselor = open_page(lang)
    counselor.goto(live_server + re.search(r"/set-password/[^\s<]+", link).group(0))
    axe.check(counselor, f"set password [{lang}]")
    follow(counselor.get_by_role("button", name=WORDS[lang]["set"]))
    assert counselor.locator("#error-summary").is_visible()
    axe.check(counselor, f"set password with errors [{lang}]")
    set_password_by_link(counselor, live_server, link)
    assert counselor.locator(".flash-success").is_visible()
    axe.check(counselor, f"sign-in after setting a password [{lang}]")
    sign_in(counselor, live_server, username, NEW_PASSWORD)
    axe.check(counselor, f"counselor dashboard [{lang}]")
    counselor.goto(live_server + "/cases/")
    axe.check(counselor, f"counselor case inbox [{lang}]")
    counselor.goto(live_server + "/account/")
    axe.check(counselor, f"counselor account [{lang}]")
    axe.assert_clean()


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_every_role_dashboard_account_and_district_pages(live_server, open_page, axe, lang):
    for username in ("saesol-teacher3", "saesol-student05", "saesol-counselor2"):
        page = open_page(lang)
        sign_in(page, live_server, username)
        axe.check(page, f"dashboard of {username} [{lang}]")
        page.goto(live_server + "/account/")
        axe.check(page, f"account of {username} [{lang}]")

    # A wrong current password: the errors are summarised and linked.
    page.locator("input[name=current]").fill("not-the-password")
    page.locator("input[name=new]").fill("short")
    follow(page.locator("form.stack [type=submit]"))
    assert page.locator("#error-summary").is_visible()
    assert page.locator("input[name=confirm]").get_attribute("aria-invalid") == "true"
    axe.check(page, f"account with errors [{lang}]")

    district = open_page(lang)
    sign_in(district, live_server, "district-admin", DEMO_PASSWORD)
    axe.check(district, f"district admin dashboard [{lang}]")
    district.goto(live_server + "/district/")
    axe.check(district, f"district figures [{lang}]")
    district.goto(live_server + "/district/schools")
    axe.check(district, f"district schools [{lang}]")
    follow(district.locator("table a").first)
    district.wait_for_url(re.compile(r".*/district/schools/\d+$"))
    axe.check(district, f"district school page [{lang}]")
    district.goto(live_server + "/district/schools")
    follow(district.locator("form.stack [type=submit]").first)
    assert district.locator("#error-summary").is_visible()
    axe.check(district, f"district add a school with errors [{lang}]")
    district.goto(live_server + "/account/")
    axe.check(district, f"district admin account [{lang}]")
    axe.assert_clean()


JURISDICTION_WORDS = {
    "ko": {"US": ("TAKE IT DOWN Act", "관할 기관"), "GB": ("Sexual Offences Act 2003 s.66B", "관할 기관")},
    "en": {"US": ("TAKE IT DOWN Act", "check with your local authority"),
           "GB": ("Sexual Offences Act 2003 s.66B", "check with your local authority")},
}


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_a_school_set_to_another_jurisdiction_reads_its_law(live_server, open_page, axe, lang):
    """Saesol's admin sets the United States, then the United Kingdom: the school's public page, the teacher's report
    guidance and the help card follow, with no Korean article or number; Saesol goes back to Korea at the end."""
    admin = open_page(lang)
    sign_in(admin, live_server, "saesol-admin")
    teacher = open_page(lang)
    sign_in(teacher, live_server, "saesol-teacher3")
    visitor = open_page(lang)
    try:
        for code in ("US", "GB"):
            admin.goto(live_server + "/admin/settings")
            admin.locator("select#jurisdiction").select_option(code)
            axe.check(admin, f"settings, {code} chosen [{lang}]")
            follow(admin.locator("form.stack [type=submit]").first)
            admin.wait_for_url(re.compile(r".*/admin/settings$"))
            statute, local = JURISDICTION_WORDS[lang][code]
            teacher.goto(live_server + "/reports/new")
            guidance = teacher.locator("main").inner_text()
            assert statute in guidance and local in guidance
            assert "112" not in guidance and "34" not in guidance
            axe.check(teacher, f"report guidance, {code} [{lang}]")
            visitor.goto(f"{live_server}/s/saesol/?lang={lang}")
            public = visitor.locator("main").inner_text()
            assert local in public and "112" not in public and "117" not in public
            axe.check(visitor, f"school page, {code} [{lang}]")
    finally:
        admin.goto(live_server + "/admin/settings")
        admin.locator("select#jurisdiction").select_option("KR")
        follow(admin.locator("form.stack [type=submit]").first)
    axe.assert_clean()
