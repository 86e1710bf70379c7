"""Both languages: catalogs complete and current, locale order, pages in each language."""

from __future__ import annotations

from pathlib import Path

from babel.messages.pofile import read_po
from conftest import post

from portal.cli import extract_messages
from portal.config import PROJECT_ROOT

TRANSLATIONS = PROJECT_ROOT / "translations"


def _ids(catalog):
    return {(m.id if isinstance(m.id, str) else m.id[0], m.context) for m in catalog if m.id}


def test_messages_pot_is_current(tmp_path: Path):
    fresh = tmp_path / "fresh.pot"
    extract_messages(fresh)
    with fresh.open("rb") as a, (TRANSLATIONS / "messages.pot").open("rb") as b:
        assert _ids(read_po(a)) == _ids(read_po(b)), "run `portal translate update` and translate the new strings"


def test_translators_notes_reach_the_template_for_short_and_ambiguous_strings(tmp_path: Path):
    """`# Translators:` notes in Python and {# Translators: #} in templates are extracted with the strings."""
    fresh = tmp_path / "fresh.pot"
    extract_messages(fresh)
    with fresh.open("rb") as handle:
        notes = {m.id: " ".join(m.auto_comments) for m in read_po(handle) if m.id}
    assert "inbox" in notes["Open"]  # a template: a filter of the case inbox, not a verb
    assert "status of a case" in notes["New"]  # Python: a status word
    assert "take down an image" in notes["Removal requested"]
    assert "Step 2 of 4" in notes["Step %(number)d of %(total)d: %(name)s"]  # a placeholder explained
    assert "step of the incident report" in notes["Receipt"]
    assert "not urgent" in notes["Normal"]  # a second string on a line reached by its own note


def test_every_message_has_a_korean_and_english_translation():
    with (TRANSLATIONS / "messages.pot").open("rb") as handle:
        wanted = _ids(read_po(handle))
    for lang in ("ko", "en"):
        with (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").open("rb") as handle:
            catalog = read_po(handle)
        missing = [m.id for m in catalog
                   if m.id and (not m.string or (isinstance(m.string, tuple) and not all(m.string)))]
        fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
        assert not missing and not fuzzy, f"{lang}: untranslated {missing[:5]} fuzzy {fuzzy[:5]}"
        assert wanted <= _ids(catalog), f"{lang} catalog lacks strings: run `portal translate update`"


def test_compiled_catalogs_match_the_po_files():
    for lang in ("ko", "en"):
        po = TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"
        mo = po.with_suffix(".mo")
        assert mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime - 1, "run `portal translate compile`"


def test_korean_is_the_default(client):
    page = client.get("/").get_data(as_text=True)
    assert '<html lang="ko">' in page and "학교 딥페이크 대응 포털" in page


def test_browser_language_is_used_when_nothing_was_chosen(client):
    page = client.get("/", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="en">' in page and "School Deepfake Response Portal" in page


def test_a_visitors_choice_in_the_address_beats_the_browser_and_follows_the_links(client):
    page = client.get("/?lang=en", headers={"Accept-Language": "ko"}).get_data(as_text=True)
    assert '<html lang="en">' in page
    assert 'href="/lessons?lang=en"' in page  # every link the page makes keeps the choice
    assert '<html lang="ko">' in client.get("/", headers={"Accept-Language": "ko"}).get_data(as_text=True)


def test_saved_choice_beats_the_session(app, make_user, login):
    client = app.test_client()
    user_id = make_user(locale="en")
    login(client, user_id)
    post(client, "/language", {"lang": "en", "next": "/"}, token_from="/account/")
    assert '<html lang="en">' in client.get("/account/").get_data(as_text=True)
    other = app.test_client()
    other.get("/login?lang=ko")
    login(other, user_id)
    assert '<html lang="en">' in other.get("/account/").get_data(as_text=True)


def test_home_page_shows_the_help_lines_in_both_languages(client):
    ko = client.get("/").get_data(as_text=True)
    en = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    for number in ("117", "112", "1366", "02-735-8994"):
        assert number in ko and number in en
    assert "디지털성범죄피해자지원센터" in ko and "Digital Sex Crime Victim Support Center" in en


def test_every_refusal_a_service_raises_has_a_translated_sentence():
    """One message table: each code in `raise …Error("code")` under portal/ has its sentence in MESSAGES."""
    import re

    from portal.config import PROJECT_ROOT
    from portal.messages import MESSAGES
    from portal.services.accounts import PASSWORD_PROBLEMS

    raised = set()
    for path in (PROJECT_ROOT / "portal").rglob("*.py"):
        raised |= set(re.findall(r'raise \w+Error\("([a-z_]+)"\)', path.read_text(encoding="utf-8")))
    assert raised, "no refusals found: the pattern no longer matches the code"
    assert raised | set(PASSWORD_PROBLEMS) <= set(MESSAGES), sorted((raised | set(PASSWORD_PROBLEMS)) - set(MESSAGES))


def test_the_law_is_named_as_in_the_legal_facts_and_immediately_is_never_softened():
    """청소년성보호법 is the Child and Youth Sex Protection Act on every screen; 34(2) says immediately."""
    import re

    from portal.config import PROJECT_ROOT

    pot = (PROJECT_ROOT / "translations" / "messages.pot").read_text(encoding="utf-8")
    assert not re.search(r"(?<!Child and )Youth Sex Protection Act", pot)
    assert "right after this form" not in pot


def test_korean_never_says_dangsin_and_signs_in_with_an_id():
    """당신 reads as cold or confrontational in a school: pages address their reader per audience or not at all.
    Korean users sign in with 아이디, never 사용자 이름."""
    with open(PROJECT_ROOT / "translations" / "ko" / "LC_MESSAGES" / "messages.po", "rb") as handle:
        catalog = read_po(handle)
    strings = [s for m in catalog if m.id for s in (m.string if isinstance(m.string, tuple) else (m.string,))]
    assert not [s for s in strings if "당신" in s]
    assert not [s for s in strings if "사용자 이름" in s]
    username = catalog.get("Username")
    assert username is not None and username.string == "아이디"


def test_translated_strings_escape_their_values_inside_loops_and_out(app):
    """The templates' gettext takes only the evaluation context (portal/i18n.py): a value put into a translated
    string is still escaped, in a loop as outside one, and a translation of a plain string is left as it is."""
    from flask import render_template_string

    source = ('{{ _("Acknowledge by %(when)s.", when=v) }}|{% for x in [v] %}{{ _("Takedown item #%(id)s", id=x) }}'
              '{% endfor %}|{{ _("Acknowledge by") }}|{% autoescape false %}{{ _("Acknowledge by %(when)s.", when=v) }}'
              '{% endautoescape %}')
    with app.test_request_context("/", headers={"Accept-Language": "ko"}):
        page = render_template_string(source, v="<b>&</b>")
    escaped = "&lt;b&gt;&amp;&lt;/b&gt;"
    assert page.split("|") == [f"{escaped}까지 접수 확인하십시오.", f"삭제 대상 항목 #{escaped}", "접수 확인 기한",
                               "<b>&</b>까지 접수 확인하십시오."]
