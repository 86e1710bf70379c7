"""The takedown tracker: one normal form per channel, links found in the report and the log, confirmed items with
their statuses in the chronology, and none of it outside the encrypted columns."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from casehelpers import assert_not_in_sqlite_files, case_url, file_report, only_case, signed_in
from conftest import deliver_mail, post
from flask import request, request_finished
from sqlalchemy import func, select, text

from portal.extensions import db
from portal.models import AuditEvent, Case, ResponseEntry, TakedownItem, User
from portal.models.base import utcnow
from portal.services import handles, retention, stats


@pytest.mark.parametrize("written", [
    "https://t.me/SomeChannel/", "t.me/somechannel", "@SomeChannel", "telegram.me/somechannel",
    " https://www.t.me/somechannel ", "HTTP://T.ME/SOMECHANNEL", "t.me/s/SomeChannel", "somechannel",
    "https://telegram.dog/somechannel?start=1", "t.me/ somechannel", "@ SomeChannel", "t.me/somechannel//",
])
def test_every_way_of_writing_a_telegram_channel_gives_one_normal_form(written):
    assert handles.parse(written) == handles.Found("t.me/somechannel", "telegram")


@pytest.mark.parametrize(("written", "normal", "platform"), [
    ("https://www.Instagram.com/Some.User/?igsh=abc", "instagram.com/some.user", "instagram"),
    ("https://twitter.com/SomeUser#top", "x.com/someuser", "x"),
    ("x.com/SomeUser/", "x.com/someuser", "x"),
    ("https://discord.gg/AbCdEf", "discord.gg/AbCdEf", "discord"),  # invite codes keep their case
    ("https://open.kakao.com/o/gAbCdEf", "open.kakao.com/o/gAbCdEf", "kakaotalk"),
    ("https://t.me/+AbCdEf", "t.me/+AbCdEf", "telegram"),
    ("http://Example.COM/Some/Path/?q=1#frag", "example.com/Some/Path", "other"),
    ("www.example.com", "example.com", "other"),
])
def test_other_platforms_keep_host_and_path(written, normal, platform):
    assert handles.parse(written) == handles.Found(normal, platform)


@pytest.mark.parametrize("written", ["", "   ", "two words", "name@school.kr", "t.me", "https://", "@", "://x"])
def test_what_is_not_a_link_or_handle_is_refused(written):
    assert handles.normalise(written) is None


def test_links_and_handles_are_found_in_free_text_once_each():
    text = ("채널 https://t.me/SomeChannel/, 그리고 @SomeChannel이 올렸어요. t.me/other_room에서도 봤어요. "
            "담임 메일 kim@school.kr. (instagram.com/bad_user) 그리고 https://open.kakao.com/o/gAbC.")
    assert handles.find(text) == [
        handles.Found("t.me/somechannel", "telegram"), handles.Found("t.me/other_room", "telegram"),
        handles.Found("instagram.com/bad_user", "instagram"), handles.Found("open.kakao.com/o/gAbC", "kakaotalk"),
    ]
    assert handles.find(None) == [] and handles.find("nothing here @ all") == []


CANARY = "CANARY-5d1e0b-NOT-IN-CLEAR"
DAY = "2026-11-20T09:00"


@pytest.fixture
def staff(make_user):
    return {
        "lead": make_user(role="counselor", lead=True, email="lead@school.test"),
        "teacher": make_user(role="teacher"),
        "admin": make_user(role="school_admin"),
        "other_counselor": make_user(role="counselor", school="saesol", lead=True),
    }


@pytest.fixture
def reported(app, staff, login):
    """A case whose report names a channel three ways and an Instagram account."""
    teacher = signed_in(app, login, staff["teacher"])
    file_report(teacher, links="https://t.me/SomeChannel/ 그리고 @somechannel, telegram.me/somechannel; "
                               "instagram.com/Bad.Account 에서도 봤어요")
    return only_case(app)


def entries(app, case) -> list[tuple[str, str | None, str | None]]:
    with app.app_context():
        return [(e.kind, e.takedown_status, e.link) for e in
                db.session.scalars(select(ResponseEntry).where(ResponseEntry.case_id == case.id,
                                                                ResponseEntry.takedown_item_id.is_not(None))
                                   .order_by(ResponseEntry.id))]


def the_items(app, case) -> list[TakedownItem]:
    with app.app_context():
        return db.session.scalars(select(TakedownItem).where(TakedownItem.case_id == case.id)
                                  .order_by(TakedownItem.id)).all()


def test_recognised_links_are_confirmed_and_followed_to_removal_in_the_chronology(app, staff, login, reported):
    lead = signed_in(app, login, staff["lead"])
    page = lead.get(case_url(reported)).get_data(as_text=True)
    # The channel written three ways is offered once; the Instagram account once.
    assert page.count('value="t.me/somechannel"') == 1 and 'value="instagram.com/bad.account"' in page
    assert "아직 삭제 대상 항목이 없습니다" in page

    answer = post(lead, case_url(reported, "/takedown/confirm"), {"confirm-found": ["t.me/somechannel"]},
                  token_from=case_url(reported))
    assert answer.status_code == 302 and answer.location.endswith("#takedown")
    [item] = the_items(app, reported)
    assert (item.target, item.platform, item.status) == ("t.me/somechannel", "telegram", "found")
    page = lead.get(case_url(reported)).get_data(as_text=True)
    assert 'value="t.me/somechannel"' not in page and 'value="instagram.com/bad.account"' in page

    status = case_url(reported, f"/takedown/{item.id}/status")
    prefix = f"item{item.id}-"
    post(lead, status, {prefix + "status": "requested", prefix + "happened_at": "2026-11-21T09:00",
                        prefix + "reference": "DSC-2026-118"}, token_from=case_url(reported))
    post(lead, status, {prefix + "status": "removed", prefix + "happened_at": "2026-11-23T09:00"},
         token_from=case_url(reported))
    post(lead, status, {prefix + "status": "reappeared", prefix + "happened_at": "2026-11-25T09:00"},
         token_from=case_url(reported))
    [item] = the_items(app, reported)
    assert item.status == "reappeared" and item.reference == "DSC-2026-118"
    assert item.requested_by_id == staff["lead"] and item.removed_at and item.reappeared_at
    assert entries(app, reported) == [
        ("takedown_item_added", "found", "t.me/somechannel"),
        ("takedown_status_changed", "requested", "t.me/somechannel"),
        ("takedown_status_changed", "removed", "t.me/somechannel"),
        ("takedown_status_changed", "reappeared", "t.me/somechannel"),
    ]
    page = lead.get(case_url(reported)).get_data(as_text=True)
    start = page.index('<ol class="log">', page.index('id="log"'))
    log = page[start:page.index("</ol>", start)]
    assert len(re.findall(r"<strong>#\d+ 삭제 상태 변경</strong>", log)) == 3
    assert "DSC-2026-118" in log and "재유포됨" in log and "삭제 대상 항목 확정" in log
    with app.app_context():
        actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.case_id == reported.id,
                                                                     AuditEvent.action.like("takedown%"))).all()
        assert actions == ["takedown_item_added"] + ["takedown_status_changed"] * 3


def test_items_added_by_hand_merged_and_personal_details_without_the_details(app, staff, login, reported):
    lead = signed_in(app, login, staff["lead"])
    add = case_url(reported, "/takedown/add")
    assert post(lead, add, {"new-kind": "link", "new-target": " https://www.t.me/SomeChannel ", "new-platform": "",
                            "new-found_at": "2026-11-20T09:00"}, token_from=case_url(reported)).status_code == 302
    post(lead, add, {"new-kind": "link", "new-target": "t.me/somechannel_backup", "new-platform": "",
                     "new-found_at": "2026-11-20T09:00"}, token_from=case_url(reported))
    post(lead, add, {"new-kind": "details", "new-details": ["name", "phone", "school"],
                     "new-target": "instagram.com/Bad.Account", "new-platform": "",
                     "new-found_at": "2026-11-20T09:00"}, token_from=case_url(reported))
    first, backup, details = the_items(app, reported)
    assert (first.target, first.platform) == ("t.me/somechannel", "telegram")
    assert (details.kind, details.detail_kinds, details.target, details.platform) == (
        "details", "name,phone,school", "instagram.com/bad.account", "instagram")
    page = lead.get(case_url(reported)).get_data(as_text=True)
    assert "이름, 전화번호, 학교" in page
    # Where the details were posted does not stand for the account: it is still offered as its own item.
    assert 'value="instagram.com/bad.account"' in page
    duplicate = post(lead, add, {"new-kind": "link", "new-target": "@SomeChannel", "new-found_at": DAY},
                     token_from=case_url(reported))
    assert duplicate.status_code == 422 and "이미 이 사안의 항목입니다" in duplicate.get_data(as_text=True)

    answer = post(lead, case_url(reported, "/takedown/merge"),
                  {"merge-keep": str(first.id), "merge-other": str(backup.id)}, token_from=case_url(reported))
    assert answer.status_code == 302
    page = lead.get(case_url(reported)).get_data(as_text=True)
    assert f'id="item-{backup.id}"' not in page and f"항목 #{first.id}에 합침" in page
    assert [e[0] for e in entries(app, reported)][-1] == "takedown_items_merged"


@pytest.mark.parametrize(("path", "data", "message"), [
    ("/takedown/confirm", {}, "하나 이상 선택하십시오"),
    ("/takedown/confirm", {"confirm-found": ["t.me/not_offered"]}, "하나 이상 선택하십시오"),
    ("/takedown/add", {"new-kind": "link", "new-target": "two words", "new-found_at": DAY}, "t.me/channel"),
    ("/takedown/add", {"new-kind": "link", "new-target": "", "new-found_at": DAY}, "t.me/channel"),
    ("/takedown/add", {"new-kind": "details", "new-target": "", "new-found_at": DAY}, "세부 정보 자체는"),
    ("/takedown/add", {"new-kind": "weird", "new-target": "t.me/x_channel", "new-found_at": DAY}, "선택"),
    ("/takedown/add", {"new-kind": "link", "new-target": "t.me/x_channel", "new-found_at": "2999-01-01T00:00"},
     "사이의 날짜"),
    ("/takedown/add", {"new-kind": "link", "new-target": "t.me/x_channel", "new-found_at": ""}, "날짜와 시간"),
    ("/takedown/999999/status", {"item999999-status": "removed", "item999999-happened_at": "2026-11-21T09:00"},
     "이 사안의 항목을"),
    ("/takedown/merge", {"merge-keep": "1x", "merge-other": ""}, "이 사안의 항목을"),
])
def test_bad_input_gets_a_message_and_changes_nothing(app, staff, login, reported, path, data, message):
    lead = signed_in(app, login, staff["lead"])
    answer = post(lead, case_url(reported, path), data, token_from=case_url(reported))
    assert answer.status_code == 422 and message in answer.get_data(as_text=True)
    assert the_items(app, reported) == [] and entries(app, reported) == []


def test_a_status_cannot_jump_or_go_before_it_was_found(app, staff, login, reported):
    lead = signed_in(app, login, staff["lead"])
    post(lead, case_url(reported, "/takedown/confirm"), {"confirm-found": ["t.me/somechannel"]},
         token_from=case_url(reported))
    [item] = the_items(app, reported)
    status, prefix = case_url(reported, f"/takedown/{item.id}/status"), f"item{item.id}-"
    jump = post(lead, status, {prefix + "status": "reappeared", prefix + "happened_at": "2026-11-21T09:00"},
                token_from=case_url(reported))
    assert jump.status_code == 422 and "현재 상태 다음에 올 수 없습니다" in jump.get_data(as_text=True)
    early = post(lead, status, {prefix + "status": "requested", prefix + "happened_at": "2001-01-01T09:00"},
                 token_from=case_url(reported))
    assert early.status_code == 422 and "발견되기 전" in early.get_data(as_text=True)
    assert [i.status for i in the_items(app, reported)] == ["found"]
    assert len(entries(app, reported)) == 1
    no_csrf = lead.post(status, data={prefix + "status": "requested", prefix + "happened_at": "2026-11-21T09:00"})
    assert no_csrf.status_code == 400 and [i.status for i in the_items(app, reported)] == ["found"]


@pytest.mark.parametrize("who", ["other_counselor", "teacher", "admin"])
def test_outsiders_get_404_on_every_takedown_url(app, staff, login, reported, who):
    lead = signed_in(app, login, staff["lead"])
    post(lead, case_url(reported, "/takedown/confirm"), {"confirm-found": ["t.me/somechannel"]},
         token_from=case_url(reported))
    [item] = the_items(app, reported)
    outsider = signed_in(app, login, staff[who])
    for path, data in [("/takedown/confirm", {"confirm-found": ["instagram.com/bad.account"]}),
                       ("/takedown/add", {"new-kind": "link", "new-target": "t.me/new_one", "new-found_at": DAY}),
                       (f"/takedown/{item.id}/status", {f"item{item.id}-status": "requested",
                                                        f"item{item.id}-happened_at": "2026-11-21T09:00"}),
                       ("/takedown/merge", {"merge-keep": str(item.id), "merge-other": str(item.id)})]:
        assert post(outsider, case_url(reported, path), data).status_code == 404, path
    assert len(the_items(app, reported)) == 1 and len(entries(app, reported)) == 1


def test_a_canary_link_is_never_in_clear_outside_its_encrypted_columns(app, database_url, staff, login, caplog,
                                                                        tmp_path):
    caplog.set_level("DEBUG")
    teacher = signed_in(app, login, staff["teacher"])
    file_report(teacher, links=f"https://t.me/{CANARY}")
    case = only_case(app)
    lead = signed_in(app, login, staff["lead"])
    requested: list[str] = []

    def remember(sender, response, **extra):
        requested.extend((request.full_path, response.headers.get("Location", "")))

    request_finished.connect(remember, app)

    normal = f"t.me/{CANARY.lower()}"
    post(lead, case_url(case, "/takedown/confirm"), {"confirm-found": [normal]}, token_from=case_url(case))
    post(lead, case_url(case, "/takedown/add"), {"new-kind": "link", "new-target": f"example.org/{CANARY}",
                                            "new-found_at": "2026-11-20T09:00"}, token_from=case_url(case))
    first, second = the_items(app, case)
    assert first.target == normal  # readable through the app
    post(lead, case_url(case, f"/takedown/{first.id}/status"),
         {f"item{first.id}-status": "requested", f"item{first.id}-happened_at": "2026-11-21T09:00",
          f"item{first.id}-reference": CANARY}, token_from=case_url(case))
    post(lead, case_url(case, "/takedown/merge"), {"merge-keep": str(first.id), "merge-other": str(second.id)},
         token_from=case_url(case))
    page = lead.get(case_url(case)).get_data(as_text=True)
    assert normal in page and f"example.org/{CANARY}" in page
    for address in [*requested, *re.findall(r'(?:href|action)="([^"]+)"', page)]:
        assert CANARY not in address and CANARY.lower() not in address
    assert CANARY not in caplog.text and CANARY.lower() not in caplog.text
    deliver_mail(app)
    for mail in (tmp_path / "instance" / "outbox").glob("*.eml"):
        assert CANARY.encode() not in mail.read_bytes() and CANARY.lower().encode() not in mail.read_bytes()
    with app.app_context():
        for query in ("SELECT target, reference FROM takedown_items", "SELECT link, report_number FROM "
                      "response_entries", "SELECT target FROM audit_events", "SELECT links FROM cases"):
            for row in db.session.execute(text(query)):
                assert all(CANARY not in (v or "") and CANARY.lower() not in (v or "") for v in row), query
    request_finished.disconnect(remember, app)
    assert len(requested) > 10
    assert_not_in_sqlite_files(database_url, CANARY, CANARY.lower())


def test_the_landing_page_inbox_and_dashboard_show_links_not_removed_after_seven_days(app, staff, login, reported):
    lead = signed_in(app, login, staff["lead"])
    with app.app_context():
        school = db.session.get(User, staff["lead"]).school
        local = [(utcnow() - timedelta(days=days)).astimezone(ZoneInfo(school.timezone)).strftime("%Y-%m-%dT%H:%M")
                 for days in (1, 8)]
    for target, found_at in zip(("t.me/new_channel", "t.me/old_channel"), local, strict=True):
        post(lead, case_url(reported, "/takedown/add"), {"new-kind": "link", "new-target": target,
                                                         "new-found_at": found_at}, token_from=case_url(reported))

    def figures():
        page = lead.get("/dashboard/").get_data(as_text=True)
        return {key: int(re.search(rf'attention={key}"><span class="figure-number">(\d+)<', page).group(1))
                for key in ("takedown", "takedown_late")}

    assert figures() == {"takedown": 1, "takedown_late": 1}  # cases, and both items are on the one case
    late = lead.get("/cases/?attention=takedown_late").get_data(as_text=True)
    assert reported.reference in late and "7일이 지나도 삭제되지 않은 링크" in late
    with app.app_context():
        numbers = stats.school_figures(db.session, db.session.get(User, staff["lead"]).school)
        assert (numbers.takedown_open, numbers.takedown_late) == (2, 1)

    old = the_items(app, reported)[1]
    prefix = f"item{old.id}-"
    post(lead, case_url(reported, f"/takedown/{old.id}/status"),
         {prefix + "status": "removed", prefix + "happened_at": local[0]}, token_from=case_url(reported))
    assert figures() == {"takedown": 1, "takedown_late": 0}
    assert reported.reference not in lead.get("/cases/?attention=takedown_late").get_data(as_text=True)
    with app.app_context():
        numbers = stats.school_figures(db.session, db.session.get(User, staff["lead"]).school)
        assert (numbers.takedown_open, numbers.takedown_late) == (1, 0)


def test_purging_the_case_deletes_its_takedown_items(app, staff, login, reported):
    lead = signed_in(app, login, staff["lead"])
    post(lead, case_url(reported, "/takedown/confirm"),
         {"confirm-found": ["t.me/somechannel", "instagram.com/bad.account"]}, token_from=case_url(reported))
    first, second = the_items(app, reported)
    post(lead, case_url(reported, "/takedown/merge"), {"merge-keep": str(first.id), "merge-other": str(second.id)},
         token_from=case_url(reported))
    with app.app_context():
        retention.purge_case(db.session, db.session.get(Case, reported.id), utcnow())
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(TakedownItem)) == 0
        assert db.session.scalar(select(func.count()).select_from(ResponseEntry)) == 0


def test_a_status_can_change_in_the_minute_the_item_was_confirmed(app, staff, login):
    """The form gives the time to the minute; an item confirmed seconds ago is not "found later" than that."""
    teacher = signed_in(app, login, staff["teacher"])
    file_report(teacher, links="t.me/fresh_channel", first_seen="")
    case = only_case(app)
    lead = signed_in(app, login, staff["lead"])
    post(lead, case_url(case, "/takedown/confirm"), {"confirm-found": ["t.me/fresh_channel"]},
         token_from=case_url(case))
    [item] = the_items(app, case)
    with app.app_context():
        zone = ZoneInfo(db.session.get(User, staff["lead"]).school.timezone)
    minute = utcnow().astimezone(zone).strftime("%Y-%m-%dT%H:%M")
    answer = post(lead, case_url(case, f"/takedown/{item.id}/status"),
                  {f"item{item.id}-status": "requested", f"item{item.id}-happened_at": minute},
                  token_from=case_url(case))
    assert answer.status_code == 302 and [i.status for i in the_items(app, case)] == ["requested"]
