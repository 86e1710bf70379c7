"""The district signal: one channel in open cases at several schools is seen by the district admin as "reported at
N schools" under a keyed HMAC, and by those schools' lead counselors as "also reported at other schools"; never the
link, never which schools, and nothing for a channel only one school reported."""

from __future__ import annotations

import base64
import re

import pytest
from casehelpers import assert_not_in_sqlite_files, case_url, file_report, signed_in
from conftest import PASSWORD, base_config, post
from flask import request_finished
from sqlalchemy import select

from portal import create_app
from portal.extensions import db
from portal.models import Case, Role, School, TakedownItem, User
from portal.services import district_signal, handles
from portal.services.accounts import hash_password

HANBIT, SAESOL = "https://t.me/SomeChan/", "@somechan"  # two ways of writing one channel
NAMSAN = "@otherchan"
NOTICE = {"ko": "학교에서도 신고되었습니다", "en": "Also reported at other schools in the district."}


def test_the_normaliser_treats_the_two_ways_of_writing_as_one_channel():
    assert handles.normalise(HANBIT) == handles.normalise(SAESOL) == "t.me/somechan"
    assert handles.normalise(NAMSAN) == "t.me/otherchan"


@pytest.fixture
def district(app, make_user):
    """Three schools of the district, each with a lead counselor and a teacher; Hanbit also has a second counselor."""
    people = {"admin": make_user(role="district_admin", school=None)}
    for school in ("hanbit", "saesol", "namsan"):
        people[f"{school}_lead"] = make_user(role="counselor", school=school, lead=True)
        people[f"{school}_teacher"] = make_user(role="teacher", school=school)
    people["hanbit_counselor"] = make_user(role="counselor", school="hanbit")
    return people


def report_channel(app, login, district, school: str, written: str) -> Case:
    """A teacher reports the channel as written; the school's lead confirms it as a takedown item."""
    teacher = signed_in(app, login, district[f"{school}_teacher"])
    file_report(teacher, links=written)
    with app.app_context():
        case = db.session.scalars(select(Case).join(School).where(School.code == school)
                                  .order_by(Case.id.desc())).first()
    lead = signed_in(app, login, district[f"{school}_lead"])
    normal = handles.normalise(written)
    answer = post(lead, case_url(case, "/takedown/confirm"), {"confirm-found": [normal]}, token_from=case_url(case))
    assert answer.status_code == 302
    return case


def signal_rows(client, lang: str = "ko") -> list[str]:
    """The rows of the district dashboard's signal table, as text."""
    page = client.get("/district/", headers={"Accept-Language": lang}).get_data(as_text=True)
    section = page[page.index('id="signal"'):page.index("</section>", page.index('id="signal"'))]
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()
            for row in re.findall(r"<tr>(.*?)</tr>", section.split("<tbody>")[-1], re.S)]


def sees_notice(app, login, user_id: int, case: Case) -> bool:
    page = signed_in(app, login, user_id).get(case_url(case)).get_data(as_text=True)
    return NOTICE["ko"] in page


def close(app, login, user_id: int, case: Case) -> None:
    lead = signed_in(app, login, user_id)
    post(lead, case_url(case, "/acknowledge"), token_from=case_url(case))
    answer = post(lead, case_url(case, "/close"), {"outcome": "resolved", "confirm": "y",
                                                    "reason_police_report": "Reported by the guardian."},
                  token_from=case_url(case))
    assert answer.status_code == 302


def macs(app) -> dict[int, str | None]:
    with app.app_context():
        return dict(db.session.execute(select(TakedownItem.id, TakedownItem.handle_mac)).all())


@pytest.fixture
def three_reports(app, login, district):
    return {school: report_channel(app, login, district, school, written)
            for school, written in (("hanbit", HANBIT), ("saesol", SAESOL), ("namsan", NAMSAN))}


def test_the_district_admin_sees_one_channel_at_two_schools_and_only_its_leads_see_the_notice(
        app, login, district, three_reports):
    admin = signed_in(app, login, district["admin"])
    with app.app_context():
        [signal] = district_signal.signal_page(db.session).signals
        mac = db.session.scalar(select(TakedownItem.handle_mac).where(
            TakedownItem.case_id == three_reports["hanbit"].id))
        found = db.session.scalars(select(TakedownItem.found_at).where(TakedownItem.case_id.in_(
            [three_reports["hanbit"].id, three_reports["saesol"].id]))).all()
    assert (signal.mac, signal.schools) == (mac, 2)
    assert (signal.first_found, signal.last_found) == (min(found), max(found))
    assert re.fullmatch(r"[0-9A-F]{4}-[0-9A-F]{4}", signal.label)
    [row] = signal_rows(admin, "ko")
    assert row.startswith(f"채널 {signal.label}") and "2개 학교에서 신고됨" in row
    [row] = signal_rows(admin, "en")
    assert row.startswith(f"Channel {signal.label}") and "reported at 2 schools" in row

    for school in ("hanbit", "saesol"):
        page = signed_in(app, login, district[f"{school}_lead"]).get(case_url(three_reports[school]))
        assert NOTICE["ko"] in page.get_data(as_text=True) and signal.label in page.get_data(as_text=True)
    english = signed_in(app, login, district["hanbit_lead"]).get(case_url(three_reports["hanbit"]),
                                                                  headers={"Accept-Language": "en"})
    assert NOTICE["en"] in english.get_data(as_text=True)
    assert not sees_notice(app, login, district["namsan_lead"], three_reports["namsan"])
    # Hanbit's other counselor works the case too, but the notice is for the lead.
    assert not sees_notice(app, login, district["hanbit_counselor"], three_reports["hanbit"])


def test_one_school_alone_gives_no_signal_and_no_notice(app, login, district):
    case = report_channel(app, login, district, "hanbit", HANBIT)
    report_channel(app, login, district, "hanbit", SAESOL.upper())  # the same school twice is still one school
    admin = signed_in(app, login, district["admin"])
    assert signal_rows(admin) == []
    assert "여러 학교의 열린 사안에서 언급된 채널이 없습니다" in admin.get("/district/").get_data(as_text=True)
    assert not sees_notice(app, login, district["hanbit_lead"], case)


def test_a_long_list_of_channels_comes_a_page_at_a_time(app, login, district, monkeypatch):
    """A district hit like 2024 sees many channels: the dashboard lists them a page at a time, the most schools
    first, each once, with where the page stands; a page number that is not a page gives the first page."""
    monkeypatch.setattr(district_signal, "PAGE_SIZE", 2)
    for school, written in (("hanbit", "@widechan"), ("saesol", "@widechan"), ("namsan", "t.me/widechan"),
                            ("hanbit", "@pairchan"), ("saesol", "@pairchan"),
                            ("saesol", "@otherpair"), ("namsan", "@otherpair")):
        report_channel(app, login, district, school, written)
    admin = signed_in(app, login, district["admin"])
    first = signal_rows(admin)
    assert len(first) == 2 and "3개 학교" in first[0] and "2개 학교" in first[1]
    page = admin.get("/district/").get_data(as_text=True)
    assert "채널 3개 중 1–2" in page and "/district/?signals=2#signal" in page and "첫 페이지로" not in page
    second = admin.get("/district/?signals=2").get_data(as_text=True)
    assert "채널 3개 중 3–3" in second and "?signals=3" not in second and "첫 페이지로" in second
    section = second[second.index('id="signal"'):]
    [last] = re.findall(r'<th scope="row">(.*?)</th>', section)
    labels = {re.search(r"[0-9A-F]{4}-[0-9A-F]{4}", row).group() for row in [*first, last]}
    assert len(labels) == 3  # every channel once
    english = admin.get("/district/?signals=2", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Channels 3–3 of 3" in english and "Back to the first page" in english
    for number in ("9", "0", "-4", "two", "99999999999999999999999"):
        answer = admin.get(f"/district/?signals={number}")
        assert answer.status_code == 200
        assert "채널 3개 중 1–2" in answer.get_data(as_text=True)


def test_a_closed_case_stops_counting_and_counts_again_when_reopened(app, login, district, three_reports):
    admin = signed_in(app, login, district["admin"])
    close(app, login, district["saesol_lead"], three_reports["saesol"])
    assert signal_rows(admin) == []
    assert not sees_notice(app, login, district["hanbit_lead"], three_reports["hanbit"])
    with app.app_context():
        closed = db.session.scalar(select(TakedownItem).where(TakedownItem.case_id == three_reports["saesol"].id))
        assert closed.handle_mac is None  # a closed case keeps no MAC at all
    lead = signed_in(app, login, district["saesol_lead"])
    assert post(lead, case_url(three_reports["saesol"], "/reopen"),
                token_from=case_url(three_reports["saesol"])).status_code == 302
    assert len(signal_rows(admin)) == 1
    assert sees_notice(app, login, district["hanbit_lead"], three_reports["hanbit"])


def test_a_merged_item_no_longer_counts(app, login, district):
    report_channel(app, login, district, "hanbit", HANBIT)
    case = report_channel(app, login, district, "saesol", "t.me/somechan_backup")
    lead = signed_in(app, login, district["saesol_lead"])
    post(lead, case_url(case, "/takedown/add"), {"new-kind": "link", "new-target": SAESOL,
                                                 "new-found_at": "2026-11-21T09:00"}, token_from=case_url(case))
    admin = signed_in(app, login, district["admin"])
    assert len(signal_rows(admin)) == 1
    with app.app_context():
        backup, same = db.session.scalars(select(TakedownItem).where(TakedownItem.case_id == case.id)
                                          .order_by(TakedownItem.id)).all()
    # The counselor decides the channel is the backup one: it lives on in that item, and no longer counts itself.
    post(lead, case_url(case, "/takedown/merge"), {"merge-keep": str(backup.id), "merge-other": str(same.id)},
         token_from=case_url(case))
    assert signal_rows(admin) == []
    assert macs(app)[same.id] is None and macs(app)[backup.id] is not None


def test_a_school_in_another_district_with_the_same_channel_does_not_count(app, login, district, tmp_path):
    report_channel(app, login, district, "hanbit", HANBIT)
    other = create_app({**base_config(f"sqlite:///{tmp_path}/other-district.db", tmp_path),
                        "SIGNAL_KEY": base64.b64encode(b"o" * 32).decode()})
    with other.app_context():
        from portal.cli import upgrade_database

        upgrade_database()
        school = School(code="seaside", name_ko="바닷가중학교", name_en="Seaside Middle")
        db.session.add(school)
        db.session.flush()
        for role, lead in ((Role.TEACHER, False), (Role.COUNSELOR, True)):
            db.session.add(User(username=f"seaside-{role}", role=role, school_id=school.id, display_name=role,
                                password_hash=hash_password(PASSWORD), is_lead=lead))
        db.session.commit()
    for username in ("seaside-teacher", "seaside-counselor"):
        client = other.test_client()
        post(client, "/login", {"username": username, "password": PASSWORD}, token_from="/login")
        if username == "seaside-teacher":
            file_report(client, links=SAESOL)
            continue
        with other.app_context():
            case = db.session.scalar(select(Case))
        post(client, case_url(case, "/takedown/confirm"), {"confirm-found": ["t.me/somechan"]},
             token_from=case_url(case))
    with other.app_context():
        their_mac = db.session.scalar(select(TakedownItem.handle_mac))
        db.engine.dispose()
    assert their_mac is not None and their_mac not in macs(app).values()  # another district, another key
    assert signal_rows(signed_in(app, login, district["admin"])) == []


@pytest.mark.parametrize("role", ["teacher", "counselor", "school_admin", "student"])
def test_only_district_admins_reach_the_signal(app, login, make_user, district, three_reports, role):
    client = signed_in(app, login, make_user(role=role, school="hanbit", **({"lead": True} if role == "counselor"
                                                                           else {})))
    assert client.get("/district/").status_code == 404
    assert app.test_client().get("/district/").status_code == 302  # signed out: to the sign-in page


CANARY = "CanarySignal_5d1e0b"


def test_the_handle_is_never_in_clear_for_the_district_admin_or_outside_the_case_rows(
        app, database_url, login, district, caplog, tmp_path):
    caplog.set_level("DEBUG")
    answers: list[str] = []

    def remember(sender, response, **extra):
        if not response.direct_passthrough:
            answers.append(response.get_data(as_text=True))
        answers.append(str(response.headers))

    request_finished.connect(remember, app)
    cases = [report_channel(app, login, district, "hanbit", f"https://t.me/{CANARY}/"),
             report_channel(app, login, district, "saesol", f"@{CANARY.lower()}")]
    normal = f"t.me/{CANARY.lower()}"
    assert any(normal in answer for answer in answers)  # the reporting schools' leads read it in their case
    answers.clear()
    admin = signed_in(app, login, district["admin"])
    for path in ("/district/", "/district/schools", *(f"/district/schools/{c.school_id}" for c in cases),
                 "/account/", "/", *(case_url(c) for c in cases)):
        admin.get(path, headers={"Accept-Language": "en"})
    request_finished.disconnect(remember, app)
    assert len(signal_rows(admin)) == 1
    for answer in answers:
        assert CANARY.lower() not in answer.lower()
    assert CANARY.lower() not in caplog.text.lower()
    with app.app_context():
        mac = db.session.scalar(select(TakedownItem.handle_mac).where(TakedownItem.case_id == cases[0].id))
        assert mac and len(mac) == 64 and CANARY.lower() not in mac
        # Every text column of every table, read raw: the handle is only in the cases' encrypted columns.
        for table in db.metadata.sorted_tables:
            for column in table.columns:
                for (value,) in db.session.execute(select(column.cast(db.Text)).where(column.is_not(None))):
                    assert CANARY.lower() not in str(value).lower(), f"{table.name}.{column.name}"
    for path in tmp_path.rglob("*"):
        if path.is_file() and not path.name.endswith(".db"):
            assert CANARY.lower().encode() not in path.read_bytes().lower(), path
    assert_not_in_sqlite_files(database_url, CANARY, CANARY.lower())


def test_rotating_the_signal_key_changes_every_mac_and_not_the_signal(app, database_url, login, district,
                                                                       three_reports, tmp_path):
    from test_cli import run_portal

    instance = tmp_path / "instance"
    keys = app.config["DATA_KEYS"]
    (instance / "config.py").write_text(f"SECRET_KEY = 'test-secret-key'\nDATA_KEY_ID = 't1'\nDATA_KEYS = {keys!r}\n")
    close(app, login, district["namsan_lead"], three_reports["namsan"])
    before = macs(app)
    with app.app_context():
        [old] = district_signal.signal_page(db.session).signals
    refused = run_portal(["keys", "rotate-signal"], instance, database_url,
                         env={"PORTAL_SIGNAL_KEY": base64.b64encode(b"e" * 32).decode()})
    assert refused.returncode == 1 and "environment" in refused.stderr and macs(app) == before

    result = run_portal(["keys", "rotate-signal"], instance, database_url)
    assert result.returncode == 0, result.stderr
    assert "2 channel MACs recomputed" in result.stdout
    namespace: dict = {}
    exec((instance / "config.py").read_text(), namespace)  # noqa: S102 - the test's own config file
    assert len(base64.b64decode(namespace["SIGNAL_KEY"])) == 32 and namespace["DATA_KEYS"] == keys
    app.config["SIGNAL_KEY"] = namespace["SIGNAL_KEY"]  # what every server reads when it restarts

    after = macs(app)
    assert after.keys() == before.keys()
    for item_id, mac in before.items():
        assert (mac is None) == (after[item_id] is None)  # the closed case keeps none
        assert mac is None or after[item_id] != mac
    with app.app_context():
        [new] = district_signal.signal_page(db.session).signals
    assert (new.schools, new.first_found, new.last_found) == (old.schools, old.first_found, old.last_found)
    assert new.mac != old.mac and new.label != old.label
    [row] = signal_rows(signed_in(app, login, district["admin"]))
    assert new.label in row and old.label not in row
    page = signed_in(app, login, district["hanbit_lead"]).get(case_url(three_reports["hanbit"]))
    assert new.label in page.get_data(as_text=True)
    # A channel confirmed after the rotation, under the new key, matches the ones recomputed.
    report_channel(app, login, district, "namsan", "t.me/SOMECHAN")
    with app.app_context():
        [again] = district_signal.signal_page(db.session).signals
    assert (again.mac, again.schools) == (new.mac, 3)


def test_upgrading_gives_the_existing_items_of_open_cases_their_mac(tmp_path, monkeypatch):
    from portal.cli import upgrade_database
    from portal.crypto import signal_mac
    from portal.models.base import utcnow

    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path))
    old = create_app(base_config(f"sqlite:///{tmp_path}/old.db", tmp_path))
    now = utcnow()
    with old.app_context():
        upgrade_database(revision="0011")
        school = School(code="hanbit", name_ko="한빛중학교", name_en="Hanbit")
        db.session.add(school)
        db.session.flush()
        for number, status in enumerate(("in_progress", "closed")):
            case_id = db.session.execute(Case.__table__.insert().values(
                public_id=f"old-{number}", school_id=school.id, reference=f"HANBIT-2026-{number:04d}",
                kind="incident", categories="threat", platforms="telegram", victim_kind="staff", urgent=False,
                victim_knows="unknown", guardians_told="unknown", police_told=False, status=status,
                submission_token=f"old-token-{number}", created_at=now, updated_at=now)).inserted_primary_key[0]
            for kind, target in (("link", "t.me/somechan"), ("details", "t.me/somechan")):
                db.session.execute(TakedownItem.__table__.insert().values(
                    case_id=case_id, kind=kind, target=target, detail_kinds="name" if kind == "details" else "",
                    platform="telegram", status="found", found_at=now, created_at=now, updated_at=now))
        db.session.commit()
        upgrade_database()
        found = db.session.execute(select(Case.status, TakedownItem.kind, TakedownItem.handle_mac)
                                   .join(Case).order_by(TakedownItem.id)).all()
        assert found == [("in_progress", "link", signal_mac("t.me/somechan")), ("in_progress", "details", None),
                         ("closed", "link", None), ("closed", "details", None)]
        db.engine.dispose()
