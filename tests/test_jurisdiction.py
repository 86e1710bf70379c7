"""Jurisdiction packs: a school set to the United States or the United Kingdom reads its own law and help lines on
every screen that states them, never Korea's articles or numbers; and `portal content check` holds every pack to
its rules (sourced, dated, nothing unconfirmed stated as fact), with a failing example for each rule."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import yaml
from casehelpers import case_url, file_report, only_case, signed_in
from conftest import post
from sqlalchemy import select

from portal.extensions import db
from portal.models import School
from portal.services.content import check_help_packs, help_problems
from portal.services.duties import check_duty_packs, pack_problems, read_yaml

CONTENT = Path(__file__).resolve().parents[1] / "content"
KOREAN_LAW = ("34조", "Art. 34", "112", "117", "02-735-8994", "청소년성보호법", "Child and Youth Sex Protection")


def set_jurisdiction(app, code: str, school: str = "hanbit") -> None:
    with app.app_context():
        found = db.session.scalar(select(School).where(School.code == school))
        found.jurisdiction = code
        db.session.commit()


def text_of(response) -> str:
    return response.get_data(as_text=True)


# --- The packs themselves ------------------------------------------------------------------------------------------

def test_every_real_pack_passes_the_check():
    assert check_duty_packs(CONTENT) == []
    assert check_help_packs(CONTENT) == []
    assert {p.stem for p in (CONTENT / "duties").glob("*.yml")} >= {"KR", "US", "GB"}


def test_the_portal_reads_each_pack_as_yamls_own_safe_loader_does():
    """The portal parses packs with libyaml (a twentieth of a second of each start): the same checklists and help
    lines as PyYAML's Python loader gives."""
    for path in sorted(CONTENT.glob("*/*.yml")):
        text = path.read_text(encoding="utf-8")
        assert read_yaml(text) == yaml.safe_load(text), path


def load(kind: str, code: str) -> dict:
    return yaml.safe_load((CONTENT / kind / f"{code}.yml").read_text(encoding="utf-8"))


DUTY_RULES = [
    (lambda p: p["items"][0].pop("as_of"), "item 1 (us_law_enforcement): `as_of` is missing"),
    (lambda p: p["items"][0].pop("source"), "school guidance needs `source`"),
    (lambda p: p["items"][0].pop("kind"), "`kind` must be legal or guidance"),
    (lambda p: p["items"][0].update(kind="legal", cite={"ko": "x", "en": "x"}, confirmed=False),
     "an unconfirmed duty cannot be legal"),
    (lambda p: p.pop("name"), "`name` needs ko and en"),
    (lambda p: p["notices"].pop("receipt_police"), "notice receipt_police: missing"),
    (lambda p: p["notices"]["teacher_duty"].pop("source"), "notice teacher_duty: `source` is missing"),
    (lambda p: p["notices"]["teacher_duty"].pop("as_of"), "notice teacher_duty: `as_of` is missing"),
    (lambda p: p["notices"]["teacher_duty"]["check_local"].update(en="Ask someone."),
     "`check_local` in en must say 'check with your local authority'"),
    (lambda p: p["notices"]["possession"].update(text={"ko": "범죄입니다.", "en": "It is a crime."}),
     "marked `confirmed: false` but states `text` as fact"),
    (lambda p: p["notices"]["staff_duty"]["text"].update(en="Penalty: 3 years (UNCONFIRMED)."),
     "states something marked UNCONFIRMED"),
    (lambda p: p["notices"].update(extra={"text": {"ko": "x", "en": "x"}, "source": "x", "as_of": "2026-10-02"}),
     "notice extra: not a notice any screen shows"),
    (lambda p: p.pop("entry_labels"), "entry_labels: `dsc_referral` needs ko and en"),
]


@pytest.mark.parametrize(("change", "problem"), DUTY_RULES)
def test_each_duty_pack_rule_fails_its_example(change, problem):
    pack = copy.deepcopy(load("duties", "US"))
    assert pack_problems(pack) == []
    change(pack)
    assert any(problem in found for found in pack_problems(pack)), pack_problems(pack)


HELP_RULES = [
    (lambda p: p["lines"][0].pop("source"), "line 1 (emergency): `source` is missing"),
    (lambda p: p["lines"][0].pop("as_of"), "line 1 (emergency): `as_of` is missing"),
    (lambda p: p["lines"][1].pop("url"), "needs a `number`, a `url` or `check_local`"),
    (lambda p: p["lines"][2].update(number="1-800-000-0000"), "marked `confirmed: false` but states `number`"),
    (lambda p: p["lines"][0].update(roles=["hotline"]), "unknown role 'hotline'"),
    (lambda p: p["lines"][1].update(roles=["takedown", "removal_requests"]),
     "a service that takes removal requests needs a `number`"),
    (lambda p: p["lines"][2]["check_local"].update(ko="상담교사에게 물어보세요."), "`check_local` in ko must say"),
]


@pytest.mark.parametrize(("change", "problem"), HELP_RULES)
def test_each_help_pack_rule_fails_its_example(change, problem):
    pack = copy.deepcopy(load("help", "US"))
    assert help_problems(pack) == []
    change(pack)
    assert any(problem in found for found in help_problems(pack)), help_problems(pack)


def test_content_check_names_a_pack_problem_and_a_missing_half(app, tmp_path):
    root = tmp_path / "content"
    shutil.copytree(CONTENT, root)
    (root / "help" / "GB.yml").unlink()
    us = load("duties", "US")
    us["items"].append(copy.deepcopy(load("duties", "KR")["items"][0]))  # Korea's police_report id, reused
    (root / "duties" / "US.yml").write_text(yaml.safe_dump(us, allow_unicode=True), encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["content", "check", "--path", str(root)])
    assert result.exit_code == 1
    assert "duties/GB.yml: has no help pack" in result.output
    assert "item police_report: id already used by content/duties/KR.yml" in result.output
    good = app.test_cli_runner().invoke(args=["content", "check"])
    assert good.exit_code == 0 and "jurisdiction packs valid (GB, KR, US)" in good.output


NOT_UTF8 = (lambda text: text.encode("utf-8").replace(b"\xec", b"\xff", 1), "'utf-8' codec can't decode")


@pytest.mark.parametrize("pack, damage, problem", [
    ("duties/US.yml", *NOT_UTF8),
    ("help/KR.yml", *NOT_UTF8),  # the lessons' own help pack, which the lesson check reads too
    # libyaml, which the server reads packs with, would take this line; PyYAML's own parser refuses it
    ("duties/US.yml", lambda text: text.replace("jurisdiction: US", "jurisdiction: US\nnote: a\tb", 1).encode(),
     "found character '\\t' that cannot start any token"),
])
def test_content_check_reports_a_pack_it_cannot_read_and_stops_nothing_else(app, tmp_path, pack, damage, problem):
    """A pack that is not UTF-8, or that only libyaml would read, is a named problem of its file, not a crash."""
    root = tmp_path / "content"
    shutil.copytree(CONTENT, root)
    path = root / pack
    path.write_bytes(damage(path.read_text(encoding="utf-8")))
    result = app.test_cli_runner().invoke(args=["content", "check", "--path", str(root)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)  # a report, not a traceback
    assert f"{pack}: cannot be read: " in result.output and problem in result.output


# --- Screens follow the school's pack ---------------------------------------------------------------------------

def test_settings_offer_every_pack_and_save_the_choice(app, make_user, login):
    client = signed_in(app, login, make_user(role="school_admin", locale="en"))
    page = text_of(client.get("/admin/settings"))
    for code, name in (("KR", "South Korea"), ("US", "United States"), ("GB", "United Kingdom")):
        assert f'value="{code}"' in page and name in page
    saved = post(client, "/admin/settings", {"routing": "lead", "ack_urgent_hours": "2", "ack_normal_hours": "12",
                                             "retention_days": "400", "timezone": "America/Los_Angeles",
                                             "jurisdiction": "US"}, token_from="/admin/settings")
    assert saved.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(School.jurisdiction)) == "US"
    refused = post(client, "/admin/settings", {"routing": "lead", "ack_urgent_hours": "2", "ack_normal_hours": "12",
                                               "retention_days": "400", "timezone": "UTC", "jurisdiction": "XX"},
                   token_from="/admin/settings")
    assert refused.status_code == 422
    with app.app_context():
        assert db.session.scalar(select(School.jurisdiction)) == "US"


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_a_us_teacher_reads_us_law_from_form_to_receipt(app, make_user, login, lang):
    make_user(role="counselor", lead=True)
    set_jurisdiction(app, "US")
    client = signed_in(app, login, make_user(role="teacher", locale=lang))
    dashboard = text_of(client.get("/dashboard/"))
    form = text_of(client.get("/reports/new"))
    receipt = text_of(client.get(file_report(client, police_told="no").headers["Location"]))
    for page in (dashboard, form, receipt):
        for korean in KOREAN_LAW:
            assert korean not in page, korean
    local = "관할 기관" if lang == "ko" else "check with your local authority"
    assert "TAKE IT DOWN Act" in form and local in form and "911" in form
    assert local in dashboard
    assert "911" in receipt and local in receipt and "takeitdown.ncmec.org" in receipt


def test_a_us_case_carries_the_us_checklist_and_names_its_referral(app, make_user, login):
    lead = make_user(role="counselor", lead=True, locale="en")
    set_jurisdiction(app, "US")
    file_report(signed_in(app, login, make_user(role="teacher")), police_told="no")
    case = only_case(app)
    page = text_of(signed_in(app, login, lead).get(case_url(case)))
    assert "Report to law enforcement" in page and "TAKE IT DOWN Act" in page
    assert "Report to an investigative agency (the police) immediately" not in page
    assert "Referral to NCMEC (Take It Down or CyberTipline)" in page
    assert "Digital Sex Crime Victim Support Center" not in page
    with app.app_context():
        from portal.models import DutyItem

        ids = set(db.session.scalars(select(DutyItem.duty_id)))
    assert ids == {"us_law_enforcement", "us_ncmec", "us_guardian_contact", "us_removal_requests",
                   "us_safety_measure"}


def test_an_open_case_keeps_its_checklist_when_the_school_changes_jurisdiction(app, make_user, login):
    lead = make_user(role="counselor", lead=True, locale="en")
    file_report(signed_in(app, login, make_user(role="teacher")), police_told="no")
    set_jurisdiction(app, "GB")
    page = text_of(signed_in(app, login, lead).get(case_url(only_case(app))))
    assert "Report to an investigative agency (the police) immediately" in page  # Korea's item, kept
    assert "Child and Youth Sex Protection Act Art. 34(2)" in page


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_a_uk_school_page_gives_no_invented_number(app, make_user, lang):
    make_user(role="counselor", lead=True)
    set_jurisdiction(app, "GB")
    page = text_of(app.test_client().get(f"/s/hanbit/?lang={lang}"))
    for korean in KOREAN_LAW:
        assert korean not in page, korean
    assert "Sexual Offences Act 2003 s.66B" in page
    assert ("관할 기관" if lang == "ko" else "check with your local authority") in page
    assert ("지금 경찰에 연락하세요" if lang == "ko" else "call the police now") in page


def test_a_visitor_reads_the_deployment_default(app):
    page = text_of(app.test_client().get("/help?lang=en"))
    assert "112" in page and "02-735-8994" in page
    app.config["DEFAULT_JURISDICTION"] = "US"
    page = text_of(app.test_client().get("/help?lang=en"))
    assert "911" in page and "takeitdown.ncmec.org" in page and "112" not in page
