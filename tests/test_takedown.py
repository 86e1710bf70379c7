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
from portal.services import handles, retention, stats, takedown


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


# --- the request packet ------------------------------------------------------------------------------------------

EN = {"Accept-Language": "en"}
PACKET = re.compile(r'<article class="packet" id="packet">(.*?)</article>', re.S)
PREPARED = re.compile(r"Prepared [^<\n]*|[^>\n]* 작성(?=[<\n])")  # the minute it was made: two requests may differ


def worked_items(app, lead, case):
    """The channel confirmed and its removal requested with a reference, a backup channel merged into it, and the
    personal details posted on the Instagram account."""
    post(lead, case_url(case, "/takedown/confirm"), {"confirm-found": ["t.me/somechannel"]},
         token_from=case_url(case))
    post(lead, case_url(case, "/takedown/add"), {"new-kind": "link", "new-target": "t.me/backup_room",
                                                 "new-found_at": DAY}, token_from=case_url(case))
    post(lead, case_url(case, "/takedown/add"), {"new-kind": "details", "new-details": ["name", "phone"],
                                                 "new-target": "instagram.com/Bad.Account",
                                                 "new-found_at": "2026-11-21T19:45"}, token_from=case_url(case))
    channel, backup, details = the_items(app, case)
    prefix = f"item{channel.id}-"
    post(lead, case_url(case, f"/takedown/{channel.id}/status"),
         {prefix + "status": "requested", prefix + "happened_at": "2026-11-22T09:00", prefix + "reference": "DSC-77"},
         token_from=case_url(case))
    post(lead, case_url(case, "/takedown/merge"), {"merge-keep": str(channel.id), "merge-other": str(backup.id)},
         token_from=case_url(case))
    return channel, backup, details


def packet_of(client, case, names=False, headers=EN, text=False):
    answer = client.get(case_url(case, "/takedown/packet" + (".txt" if text else "") + ("?names=1" if names else "")),
                        headers=headers)
    assert answer.status_code == 200
    assert answer.mimetype == ("text/plain" if text else "text/html") and answer.mimetype_params["charset"] == "utf-8"
    return answer.get_data(as_text=True)


def words(html_or_text: str) -> list[str]:
    """What a reader sees, word by word: tags, underlines and list numbers left out, entities read."""
    import html

    visible = html.unescape(re.sub(r"<[^>]+>", " ", html_or_text))
    return [w for w in visible.split() if not re.fullmatch(r"\d+\.|=+|-+", w)]


def packet_rows(app, case) -> list[str | None]:
    with app.app_context():
        return db.session.scalars(select(AuditEvent.target).where(AuditEvent.case_id == case.id,
                                                                  AuditEvent.action == "takedown_packet")
                                  .order_by(AuditEvent.id)).all()


def test_the_packet_lists_each_item_with_its_status_for_the_support_center(app, staff, login, reported):
    lead = signed_in(app, login, staff["lead"])
    channel, backup, details = worked_items(app, lead, reported)
    assert 'action="/cases/' + reported.public_id + '/takedown/packet"' in lead.get(case_url(reported)).get_data(
        as_text=True)
    packet = PACKET.search(packet_of(lead, reported)).group(1)
    entries = re.findall(r"<li>(.*?)</li>", packet, re.S)
    assert len(entries) == 2 + 4  # the channel and the details (the merged backup lives on in the channel); 4 steps
    first, second = (" ".join(words(e)) for e in entries[:2])
    assert first == ("t.me/somechannel Platform: Telegram Channel or account: somechannel "
                     "First seen: 20 Nov 2026, 8:30 AM Status: Removal requested "
                     "Removal requested: 22 Nov 2026, 9:00 AM Reference: DSC-77")
    assert second.startswith("Personal details of the person affected posted with the material: Name, Phone number "
                             "(the details themselves are not in this packet) Where: instagram.com/bad.account "
                             "Platform: Instagram Channel or account: bad.account First seen: 21 Nov 2026, 7:45 PM "
                             "Status: Found")
    assert "backup_room" not in packet
    for expected in ("Digital Sex Crime Victim Support Center", "02-735-8994", "https://d4u.stop.or.kr",
                     "the ID of the person making the request", "proof that the material shows the person affected",
                     "titles and links (URLs) of the posts", "never attaches the material or a screenshot of it",
                     "The support center or the police handle the material itself", reported.reference,
                     "Asia/Seoul"):
        assert expected in packet, expected
    korean = packet_of(lead, reported, headers={"Accept-Language": "ko"})
    assert "삭제 지원 요청 자료" in korean and "텔레그램" in korean and "요청 방법" in korean
    assert "02-735-8994" in korean


@pytest.mark.parametrize(("target", "name"), [
    ("t.me/somechannel", "somechannel"), ("t.me/somechannel/123", "somechannel"), ("x.com/someuser", "someuser"),
    ("instagram.com/bad.account", "bad.account"), ("t.me/+AbCdEf", None), ("t.me/joinchat/AbCd", None),
    ("t.me/c/1234/56", None), ("instagram.com/p/Cx1Yz", None), ("instagram.com/reel/Cx1Yz", None),
    ("x.com/i/status/1", None), ("discord.gg/AbCdEf", None), ("example.com/Some/Path", None), (None, None),
])
def test_the_packet_names_a_channel_or_account_only_where_the_link_has_one(target, name):
    assert takedown.account_name(TakedownItem(target=target)) == name


def test_no_name_of_the_victim_without_the_tick_and_the_audit_row_says_which(app, staff, login, reported):
    lead = signed_in(app, login, staff["lead"])
    worked_items(app, lead, reported)
    page = lead.get(case_url(reported)).get_data(as_text=True)
    assert 'name="names" value="1"' in page and 'name="names" value="1" checked' not in page
    without = packet_of(lead, reported)
    assert "Kim Minji" not in without and "No name of the person affected is in this packet" in without
    assert "Kim Minji" not in packet_of(lead, reported, text=True)
    ticked = packet_of(lead, reported, names=True)
    assert "Name, shared with the agreement of the person affected or their guardian: Kim Minji, 2-3" in ticked
    # The plain-text link keeps the tick as a yes/no in the address, never the name.
    assert f'href="/cases/{reported.public_id}/takedown/packet.txt?names=1"' in ticked
    assert "Kim Minji, 2-3" in packet_of(lead, reported, names=True, text=True)
    # Each packet made is one audit row: how many items, whether names went in and which form, never content.
    assert packet_rows(app, reported) == ["items:2:names:no:page", "items:2:names:no:text", "items:2:names:yes:page",
                                          "items:2:names:yes:text"]
    access = signed_in(app, login, staff["admin"]).get(case_url(reported, "/access"), headers=EN)
    assert access.get_data(as_text=True).count("Made the takedown request packet") == 4
    with app.app_context():
        assert all("Kim" not in (target or "") for target in db.session.scalars(select(AuditEvent.target)))


def test_the_plain_text_copy_says_what_the_printable_packet_says(app, staff, login, reported):
    lead = signed_in(app, login, staff["lead"])
    worked_items(app, lead, reported)
    for names, headers in ((False, EN), (True, {"Accept-Language": "ko"})):
        printable = PACKET.search(packet_of(lead, reported, names=names, headers=headers)).group(1)
        text_copy = packet_of(lead, reported, names=names, headers=headers, text=True)
        assert "<" not in text_copy and text_copy.startswith(words(printable)[0])
        assert words(PREPARED.sub("", printable)) == words(PREPARED.sub("", text_copy))
        assert len(words(printable)) > 100


@pytest.mark.parametrize(("victim_kind", "offered"), [("student", True), ("unknown", True), ("staff", False)])
def test_take_it_down_only_when_the_person_affected_may_be_under_18(app, staff, login, victim_kind, offered):
    teacher = signed_in(app, login, staff["teacher"])
    file_report(teacher, victim_kind=victim_kind)
    case = only_case(app)
    lead = signed_in(app, login, staff["lead"])
    post(lead, case_url(case, "/takedown/confirm"), {"confirm-found": ["t.me/example-channel"]},
         token_from=case_url(case))
    page = packet_of(lead, case)
    assert ("Take It Down" in page) is offered
    if offered:
        for expected in ("only if the young person already has the image on their own device",
                         "made there, on the device", "Never download, save or keep the image for this",
                         "does not work on encrypted platforms",
                         "Whether it accepts AI-made images is not confirmed in our references"):
            assert expected in page, expected


@pytest.mark.parametrize(("code", "route"), [
    ("US", "Under the TAKE IT DOWN Act (Public Law 119-12), Sec. 3, covered platforms must remove the content within "
           "48 hours of a valid request"),
    ("GB", "Which service takes removal requests for these links: check with your local authority."),
])
def test_a_pack_without_a_removal_service_says_where_requests_go_in_its_own_words(app, staff, login, reported,
                                                                                 code, route):
    with app.app_context():
        case = db.session.scalar(db.select(Case))
        case.school.jurisdiction = code
        db.session.commit()
    lead = signed_in(app, login, staff["lead"])
    worked_items(app, lead, reported)
    for copy in (packet_of(lead, reported), packet_of(lead, reported, text=True)):
        assert route in copy
        assert "Send the links above where the “To” part says." in copy
        assert "02-735-8994" not in copy and "d4u" not in copy and "Support Center" not in copy
        assert "A removal request needs the ID" not in copy  # the Korean center's list, not this pack's


@pytest.mark.parametrize("who", ["other_counselor", "teacher", "admin"])
def test_outsiders_get_404_for_the_packet_and_no_packet_is_made(app, staff, login, reported, who):
    lead = signed_in(app, login, staff["lead"])
    worked_items(app, lead, reported)
    outsider = signed_in(app, login, staff[who])
    for path in ("/takedown/packet", "/takedown/packet?names=1", "/takedown/packet.txt?names=1"):
        answer = outsider.get(case_url(reported, path))
        assert answer.status_code == 404 and "Kim Minji" not in answer.get_data(as_text=True)
    assert packet_rows(app, reported) == []
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "case_denied", AuditEvent.actor_id == staff[who])) >= 2
