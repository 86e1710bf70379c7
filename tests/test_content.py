"""The lesson content: the real lessons pass the check, and each rule catches a broken copy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import frontmatter
import pytest
import yaml
from conftest import base_config

from portal.config import PROJECT_ROOT
from portal.services.content import BANDS, load_content, render_markdown, validate_content

CONTENT = PROJECT_ROOT / "content"
A1 = "a1-pictures-can-change"
B1 = "b1-how-deepfakes-fool-us"


# --- The real content ---------------------------------------------------------------------------------------

def test_the_real_lessons_pass_the_check():
    problems = validate_content(CONTENT)
    assert problems == [], "\n".join(map(str, problems))


def test_eighteen_lessons_in_four_bands_with_both_languages():
    library = load_content(CONTENT).library
    assert len(library.lessons) == 18
    assert {band: len(library.band(band)) for band in BANDS} == {"A": 4, "B": 5, "C": 5, "D": 4}
    for lesson in library.lessons:
        assert set(lesson.texts) == {"ko", "en"}
        assert [q.answer for q in lesson.text("ko").quiz] == [q.answer for q in lesson.text("en").quiz]
        assert 2 <= len(lesson.text("ko").steps) <= 5


def test_help_placeholders_become_name_and_number_in_each_language():
    lesson = load_content(CONTENT).library.get("d3-first-response")
    ko, en = lesson.text("ko"), lesson.text("en")
    body_ko = "".join(step.html for step in ko.steps)
    body_en = "".join(step.html for step in en.steps)
    assert "{{help" not in body_ko + body_en
    assert "경찰 (112)" in body_ko and "Police (112)" in body_en
    assert "Digital Sex Crime Victim Support Center (02-735-8994)" in en.scenario.choices[0].feedback + body_en
    # front-matter fields are filled in too
    assert "{{help" not in json.dumps([c.feedback for c in en.scenario.choices])


def test_markdown_is_rendered_and_sanitized():
    html = str(render_markdown("**bold** <script>alert(1)</script>\n\n| a | b |\n|:-|-:|\n| 1 | 2 |\n\n"
                               "[x](javascript:alert(1)) [y](http://plain.example)"))
    assert "<strong>bold</strong>" in html
    assert "<script" not in html and "&lt;script&gt;" in html  # raw HTML is shown as text, never run
    assert 'href="javascript' not in html and 'href="http:' not in html  # https links only
    assert 'class="table-scroll"' in html and "style=" not in html  # no inline style: the CSP forbids it


# --- Broken copies ------------------------------------------------------------------------------------------

@pytest.fixture
def root(tmp_path) -> Path:
    """A copy of the help pack and two lessons (Band A and Band B) to break."""
    target = tmp_path / "content"
    shutil.copytree(CONTENT / "help", target / "help")
    shutil.copytree(CONTENT / "duties", target / "duties")
    for slug in (A1, B1):
        shutil.copytree(CONTENT / "lessons" / slug, target / "lessons" / slug)
    assert validate_content(target) == []
    return target


def edit(root: Path, slug: str, lang: str, change) -> None:
    """Load a lesson file, let `change(meta, post)` alter it, and write it back."""
    path = root / "lessons" / slug / f"{lang}.md"
    post = frontmatter.load(path)
    change(post.metadata, post)
    path.write_text(frontmatter.dumps(post, Dumper=yaml.SafeDumper, allow_unicode=True, sort_keys=False),
                    encoding="utf-8")


def append_body(root: Path, slug: str, lang: str, text: str) -> None:
    """Add text to the end of a lesson body."""
    path = root / "lessons" / slug / f"{lang}.md"
    path.write_text(path.read_text(encoding="utf-8") + "\n" + text + "\n", encoding="utf-8")


def problems_of(root: Path) -> list[str]:
    return [str(p) for p in validate_content(root)]


def assert_problem(root: Path, file: str, *words: str) -> None:
    found = problems_of(root)
    assert any(file in p and all(w in p for w in words) for p in found), found


def test_a_missing_language(root):
    (root / "lessons" / A1 / "en.md").unlink()
    assert_problem(root, f"lessons/{A1}/en.md", "language missing")


def test_sections_differ_between_languages(root):
    append_body(root, A1, "en", "## One more part\n\nMore text.")
    assert_problem(root, f"lessons/{A1}", "sections differ")


def test_scenario_choice_count_differs(root):
    edit(root, B1, "en", lambda meta, post: meta["scenario"]["choices"].pop())
    assert_problem(root, f"lessons/{B1}", "scenario choices differ")


def test_scenario_good_flags_differ(root):
    def flip(meta, post):
        for choice in meta["scenario"]["choices"]:
            choice["good"] = not choice["good"]

    edit(root, A1, "en", flip)
    assert_problem(root, f"lessons/{A1}", "scenario good flags differ")


def test_quiz_count_differs(root):
    edit(root, A1, "en", lambda meta, post: meta["quiz"].pop())
    assert_problem(root, f"lessons/{A1}", "quiz questions differ")


def test_choices_per_question_differ(root):
    def drop_wrong_choice(meta, post):
        question = meta["quiz"][0]
        wrong = next(i for i in range(len(question["choices"])) if i != question["answer"])
        question["choices"].pop(wrong)
        question["answer"] -= 1 if wrong < question["answer"] else 0

    edit(root, A1, "en", drop_wrong_choice)
    assert_problem(root, f"lessons/{A1}", "choices per quiz question differ")


def test_answer_index_differs(root):
    def move_answer(meta, post):
        meta["quiz"][0]["answer"] = (meta["quiz"][0]["answer"] + 1) % len(meta["quiz"][0]["choices"])

    edit(root, A1, "en", move_answer)
    assert_problem(root, f"lessons/{A1}", "quiz answers differ")


def test_answer_outside_the_choices(root):
    edit(root, A1, "ko", lambda meta, post: meta["quiz"][1].update(answer=7))
    assert_problem(root, f"lessons/{A1}/ko.md", "quiz question 2", "answer")


def test_unknown_band(root):
    edit(root, A1, "ko", lambda meta, post: meta.update(band="E"))
    assert_problem(root, f"lessons/{A1}/ko.md", "band 'E'")


@pytest.mark.parametrize("key", ["order", "minutes"])
def test_order_or_minutes_missing(root, key):
    edit(root, B1, "en", lambda meta, post: meta.pop(key))
    assert_problem(root, f"lessons/{B1}/en.md", f"{key} is missing")


@pytest.mark.parametrize("count", [2, 7])
def test_quiz_count_outside_three_to_six(root, count):
    def resize(meta, post):
        questions = meta["quiz"]
        meta["quiz"] = (questions * 2)[:count]

    for lang in ("ko", "en"):
        edit(root, A1, lang, resize)
    assert_problem(root, f"lessons/{A1}/ko.md", f"quiz has {count} questions")


def test_quiz_choice_without_explanation(root):
    edit(root, A1, "en", lambda meta, post: meta["quiz"][2]["choices"][1].pop("explanation"))
    assert_problem(root, f"lessons/{A1}/en.md", "quiz question 3 choice 2 explanation is missing")


def test_scenario_choice_without_feedback(root):
    edit(root, B1, "ko", lambda meta, post: meta["scenario"]["choices"][0].update(feedback=""))
    assert_problem(root, f"lessons/{B1}/ko.md", "scenario choice 1 feedback is missing")


def test_no_good_scenario_choice(root):
    def all_bad(meta, post):
        for choice in meta["scenario"]["choices"]:
            choice["good"] = False

    for lang in ("ko", "en"):
        edit(root, B1, lang, all_bad)
    assert_problem(root, f"lessons/{B1}/ko.md", "at least one choice must be good")


def test_images_in_the_body_or_front_matter(root):
    append_body(root, B1, "en", "![a face](face.png)")
    edit(root, B1, "ko", lambda meta, post: meta.update(warmup="![사진](x.jpg) 생각해 봐요"))
    assert_problem(root, f"lessons/{B1}/en.md", "image")
    assert_problem(root, f"lessons/{B1}/ko.md", "warmup", "images")


def test_raw_html_and_script(root):
    append_body(root, B1, "en", "Some <b>bold</b> text.\n\n<script>alert(1)</script>")
    edit(root, B1, "ko", lambda meta, post: meta.update(reflection="<em>다짐</em>해요"))
    found = problems_of(root)
    assert any(f"lessons/{B1}/en.md" in p and "raw HTML" in p for p in found), found
    assert any(f"lessons/{B1}/en.md" in p and "script" in p for p in found), found
    assert_problem(root, f"lessons/{B1}/ko.md", "reflection", "raw HTML")


def test_links_outside_the_help_pack(root):
    append_body(root, B1, "en", "See [this site](https://example.com/deepfakes) or www.example.org.")
    edit(root, B1, "ko", lambda meta, post: meta.update(warmup="https://example.net 에 가 봐요"))
    assert_problem(root, f"lessons/{B1}/en.md", "https://example.com/deepfakes")
    assert_problem(root, f"lessons/{B1}/en.md", "www.example.org")
    assert_problem(root, f"lessons/{B1}/ko.md", "warmup", "https://example.net")


def test_help_pack_links_are_allowed(root):
    append_body(root, B1, "en", "The [support center](https://d4u.stop.or.kr) can help.")
    append_body(root, B1, "ko", "[지원센터](https://d4u.stop.or.kr)에서 도와줘요.")
    assert problems_of(root) == []


def test_law_cited_without_legal_as_of(root):
    for lang in ("ko", "en"):
        edit(root, A1, lang, lambda meta, post: meta.pop("legal_as_of"))
    assert_problem(root, f"lessons/{A1}/ko.md", "legal_as_of")
    assert_problem(root, f"lessons/{A1}/en.md", "legal_as_of")


@pytest.mark.parametrize("lang,text,word", [
    ("ko", "만들면 7년 이하 징역이에요.", "년 이하"),
    ("ko", "텔레그램 방에서 퍼졌어요.", "텔레그램"),
    ("en", "You could get years in prison.", "years in prison"),
    ("en", "It was shared on Telegram.", "Telegram"),
    ("ko", "벌금 3,000만원을 내요.", "만원"),
])
def test_band_a_banned_words(root, lang, text, word):
    append_body(root, A1, lang, text)
    assert_problem(root, f"lessons/{A1}/{lang}.md", "Band A must not contain", word)


def test_band_b_may_name_penalties(root):
    append_body(root, B1, "ko", "7년 이하 징역이에요 (성폭력처벌법 제14조의2).")
    assert problems_of(root) == []


def test_unknown_help_line(root):
    append_body(root, A1, "ko", "{{help:nobody}}에 전화해요.")
    edit(root, A1, "en", lambda meta, post: meta.update(warmup="Call {{help:ghostline}}."))
    assert_problem(root, f"lessons/{A1}/ko.md", "unknown help line", "nobody")
    assert_problem(root, f"lessons/{A1}/en.md", "warmup", "ghostline")


def test_text_before_the_first_section(root):
    edit(root, B1, "en", lambda meta, post: setattr(post, "content", "Intro without a heading.\n\n" + post.content))
    assert_problem(root, f"lessons/{B1}/en.md", "before the first")


def test_a_broken_yaml_file_is_named(root):
    path = root / "lessons" / A1 / "ko.md"
    path.write_text("---\ntitle: [unclosed\n---\n\n## A\n\ntext\n", encoding="utf-8")
    assert_problem(root, f"lessons/{A1}/ko.md", "cannot be read")


def test_broken_lessons_are_left_out_and_the_rest_served(root, database_url, tmp_path, monkeypatch):
    from portal import create_app

    edit(root, A1, "en", lambda meta, post: meta.update(band="Z"))
    loaded = load_content(root)
    assert [lesson.slug for lesson in loaded.library.lessons] == [B1]
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "inst"))
    app = create_app({**base_config(database_url, tmp_path / "inst"), "CONTENT_PATH": str(root)})
    client = app.test_client()
    assert client.get(f"/lessons/{A1}").status_code == 404
    assert client.get(f"/lessons/{B1}").status_code == 200


# --- The commands -------------------------------------------------------------------------------------------

def test_content_check_command(app, root):
    runner = app.test_cli_runner()
    good = runner.invoke(args=["content", "check", "--path", str(root)])
    assert good.exit_code == 0 and "2 lessons" in good.output
    assert runner.invoke(args=["content", "check"]).exit_code == 0  # the real content, CONTENT_PATH
    (root / "lessons" / A1 / "en.md").unlink()
    append_body(root, B1, "ko", "![x](y.png)")
    bad = runner.invoke(args=["content", "check", "--path", str(root)])
    assert bad.exit_code == 1
    assert f"lessons/{A1}/en.md: language missing" in bad.output
    assert f"lessons/{B1}/ko.md" in bad.output and "image" in bad.output


def test_content_list_json(app):
    result = app.test_cli_runner().invoke(args=["content", "list", "--json"])
    assert result.exit_code == 0
    rows = json.loads(result.output)
    assert len(rows) == 18
    first = rows[0]
    assert first == {"slug": A1, "band": "A", "order": 1,
                     "title": {"ko": "사진은 바뀔 수 있어요", "en": "Pictures can be changed"}}
    assert {row["band"] for row in rows} == set(BANDS)


# --- Duty packs: legal duties and school guidance kept apart ----------------------------------------------


def _kr_pack() -> dict:
    return yaml.safe_load((PROJECT_ROOT / "content" / "duties" / "KR.yml").read_text(encoding="utf-8"))


def test_the_real_duty_packs_pass_and_keep_legal_apart_from_guidance():
    from portal.services.duties import check_duty_packs

    assert check_duty_packs(PROJECT_ROOT / "content") == []
    kinds = {item["id"]: item["kind"] for item in _kr_pack()["items"]}
    assert kinds.pop("police_report") == "legal"
    assert set(kinds.values()) == {"guidance"}  # no statute sets the 24 h / 72 h deadlines


@pytest.mark.parametrize(("change", "problem"), [
    (lambda item: item.pop("kind"), "`kind` must be legal or guidance"),
    (lambda item: item.update(kind="law"), "`kind` must be legal or guidance"),
    (lambda item: item.pop("cite"), "a legal duty needs `cite`"),
    (lambda item: item.update(cite={"ko": "제34조"}), "a legal duty needs `cite`"),
    (lambda item: item["title"].pop("en"), "`title` needs ko and en"),
    (lambda item: item.pop("satisfied_by"), "`satisfied_by` is missing"),
    (lambda item: item["basis"].update(en="UNCONFIRMED: a 48-hour rule"), "marked UNCONFIRMED"),
    (lambda item: item.update(applies_to="children"), "`applies_to` must be all or minor_victim"),
])
def test_a_legal_duty_with_a_problem_is_named(change, problem):
    from portal.services.duties import pack_problems

    pack = _kr_pack()
    change(pack["items"][0])
    assert any(problem in p for p in pack_problems(pack)), pack_problems(pack)


def test_guidance_without_a_source_and_legal_without_a_date_are_named():
    from portal.services.duties import pack_problems

    pack = _kr_pack()
    pack["items"][1].pop("source")
    pack.pop("legal_as_of")
    found = pack_problems(pack)
    assert any("item 2 (guardian_contact): school guidance needs `source`" in p for p in found)
    assert any("item 1 (police_report): a legal duty needs the pack's `legal_as_of` date" in p for p in found)


def test_content_check_fails_on_a_bad_duty_pack(tmp_path):
    import os
    import subprocess
    import sys

    root = tmp_path / "content"
    shutil.copytree(PROJECT_ROOT / "content", root)
    pack = _kr_pack()
    pack["items"][2]["kind"] = "statute"
    (root / "duties" / "KR.yml").write_text(yaml.safe_dump(pack, allow_unicode=True), encoding="utf-8")
    env = {**os.environ, "PORTAL_INSTANCE_PATH": str(tmp_path / "instance"), "PORTAL_SECRET_KEY": "x"}
    result = subprocess.run([sys.executable, "-c", "from portal.cli import main; main()", "content", "check",
                             "--path", str(root)], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 1
    assert "duties/KR.yml: item 3 (dsc_referral): `kind` must be legal or guidance" in result.stderr


def test_the_parsed_lessons_are_kept_in_the_instance_folder_for_the_next_process(tmp_path, monkeypatch):
    """A server parses the lessons once and leaves them in instance/cache/ (0600); the next process (another
    worker, a restart) reads them instead of parsing, and a command that shows no lesson parses nothing."""
    from portal import create_app
    from portal.services import content

    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setattr(content, "_LOADED", {})  # as in a new process
    app = create_app(base_config(f"sqlite:///{tmp_path}/x.db", tmp_path))
    assert app.extensions["portal.lessons"] is None  # nothing parsed at start-up
    library = content.load_lessons(app)
    cached = list((tmp_path / "cache").glob("lessons-*.pickle"))
    assert len(cached) == 1 and cached[0].stat().st_mode & 0o777 == 0o600

    def must_not_parse(root):
        raise AssertionError("parsed again")

    monkeypatch.setattr(content, "_LOADED", {})
    monkeypatch.setattr(content, "load_content", must_not_parse)
    again = content.load_lessons(create_app(base_config(f"sqlite:///{tmp_path}/x.db", tmp_path)))
    assert [lesson.slug for lesson in again.lessons] == [lesson.slug for lesson in library.lessons]
    assert again.get(A1).text("en").title == library.get(A1).text("en").title


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_a_lesson_without_a_summary_in_each_language_fails_the_check(app, root, lang):
    edit(root, A1, lang, lambda meta, post: meta.pop("summary"))
    assert_problem(root, f"lessons/{A1}/{lang}.md", "summary is missing")
    bad = app.test_cli_runner().invoke(args=["content", "check", "--path", str(root)])
    assert bad.exit_code == 1 and f"lessons/{A1}/{lang}.md: summary is missing" in bad.output


def test_a_summary_is_one_short_line(root):
    edit(root, B1, "en", lambda meta, post: meta.update(summary="A very long summary. " * 10))
    assert_problem(root, f"lessons/{B1}/en.md", "summary must be one line")


def test_every_lesson_has_a_summary_in_both_languages_and_students_read_haeyo():
    for lesson in load_content(CONTENT).library.lessons:
        ko, en = lesson.text("ko").summary, lesson.text("en").summary
        assert ko and en and "\n" not in ko + en, lesson.slug
        if lesson.band != "D":  # students: 해요체, never 합니다체
            assert ko.endswith("요.") and "니다" not in ko, (lesson.slug, ko)
        else:  # staff: 합니다체
            assert ko.endswith("니다."), (lesson.slug, ko)
