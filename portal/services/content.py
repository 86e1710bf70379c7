"""Content from `content/`: help lines per jurisdiction and the lessons, parsed and validated once at start-up."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import pickle  # noqa: S403 (the parsed-lesson cache, see _load_cached)
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import frontmatter
import nh3
import yaml
from flask import Flask, current_app
from markupsafe import Markup

from portal.i18n import mark_korean
from portal.services.duties import (
    both_languages,
    local_authority_problems,
    read_pack_files,
    read_yaml,
    unconfirmed_problems,
)


@dataclass(frozen=True)
class HelpLine:
    """One place to get help: a phone line and, sometimes, a website."""

    id: str
    number: str | None  # None where our references give no number: `check_local` says so instead
    name: dict[str, str]
    note: dict[str, str]
    hours: dict[str, str] = field(default_factory=dict)
    url: str | None = None
    roles: tuple[str, ...] = ()  # what the portal points to it for: police, school, takedown, counselling
    check_local: dict[str, str] = field(default_factory=dict)  # what to ask the local authority about it
    source: str = ""
    as_of: str = ""


@dataclass(frozen=True)
class HelpPack:
    """The help lines of one jurisdiction."""

    jurisdiction: str
    verified: str
    lines: tuple[HelpLine, ...]

    def get(self, line_id: str) -> HelpLine | None:
        """The line with this id, if the pack has it."""
        return next((line for line in self.lines if line.id == line_id), None)

    def role(self, role: str) -> HelpLine | None:
        """The first line the pack names for this role (`police`, `school`, `takedown`, `counselling`)."""
        return next((line for line in self.lines if role in line.roles), None)

    @property
    def urls(self) -> frozenset[str]:
        return frozenset(line.url for line in self.lines if line.url)


def load_help_packs(root: Path) -> dict[str, HelpPack]:
    """Read every content/help/<jurisdiction>.yml."""
    packs = {}
    for path in sorted((root / "help").glob("*.yml")):
        data = read_yaml(path.read_text(encoding="utf-8"))
        lines = tuple(
            HelpLine(
                id=item["id"], number=str(item["number"]) if item.get("number") else None, name=item["name"],
                note=item.get("note", {}), hours=item.get("hours", {}), url=item.get("url"),
                roles=tuple(item.get("roles", ())), check_local=item.get("check_local", {}),
                source=str(item.get("source", "")), as_of=str(item.get("as_of", "")),
            )
            for item in data["lines"]
        )
        packs[data["jurisdiction"]] = HelpPack(data["jurisdiction"], str(data["verified"]), lines)
    return packs


# removal_requests: a service that takes a school's list of links and asks the platforms itself (the packet's "To").
HELP_ROLES = ("police", "school", "takedown", "takedown_adult", "removal_requests", "counselling", "report")


def help_problems(data: object) -> list[str]:
    """Everything wrong with one parsed help pack: every line sourced and dated, reachable by a number, an address
    or a "check with your local authority" sentence, and nothing unconfirmed given as a number or address."""
    if not isinstance(data, dict) or not isinstance(data.get("lines"), list):
        return ["must be a mapping with `jurisdiction`, `verified` and a list of `lines`"]
    problems = [f"`{key}` is missing" for key in ("jurisdiction", "verified") if not data.get(key)]
    for index, item in enumerate(data["lines"]):
        where = f"line {index + 1} ({item.get('id', '?') if isinstance(item, dict) else '?'})"
        if not isinstance(item, dict):
            problems.append(f"{where}: must be a mapping")
            continue
        problems += [f"{where}: `{key}` is missing" for key in ("id", "source", "as_of") if not item.get(key)]
        problems += [f"{where}: `{key}` needs ko and en" for key in ("name", "note")
                     if not both_languages(item.get(key))]
        if not (item.get("number") or item.get("url") or item.get("check_local")):
            problems.append(f"{where}: needs a `number`, a `url` or `check_local` (how to reach it)")
        problems += [f"{where}: unknown role {role!r}" for role in item.get("roles", ()) if role not in HELP_ROLES]
        if "removal_requests" in item.get("roles", ()) and not item.get("number"):
            problems.append(f"{where}: a service that takes removal requests needs a `number` (the packet says "
                            "to call it)")
        problems += [f"{where}: {problem}" for problem in local_authority_problems(item.get("check_local"))]
        problems += [f"{where}: {problem}" for problem in unconfirmed_problems(item, stated=("number", "url"))]
    return problems


def check_help_packs(root: Path) -> list[tuple[str, str]]:
    """(file, problem) for every help pack under root/help, and for a jurisdiction with only one of its packs."""
    root = Path(root)
    found = [(name, problem) for name, _data, problems in read_pack_files(root, "help", help_problems)
             for problem in problems]
    helps = {p.stem for p in (root / "help").glob("*.yml")}
    duties = {p.stem for p in (root / "duties").glob("*.yml")}
    found += [(f"{root.name}/duties/{code}.yml", f"has no help pack: add {root.name}/help/{code}.yml")
              for code in sorted(duties - helps)]
    found += [(f"{root.name}/help/{code}.yml", f"has no duty pack: add {root.name}/duties/{code}.yml")
              for code in sorted(helps - duties)]
    return found


def help_pack(jurisdiction: str = "KR") -> HelpPack:
    """The help pack for a jurisdiction, falling back to KR."""
    packs = current_app.extensions["portal.help"]
    return packs.get(jurisdiction) or packs["KR"]


# --- Lessons -------------------------------------------------------------------------------------------------

LANGUAGES = ("ko", "en")
BANDS = ("A", "B", "C", "D")
SUMMARY_MAX = 160  # characters: one line in the lesson list, in either language
LESSON_JURISDICTION = "KR"  # the help pack lesson placeholders are filled from

SLUG_RE = re.compile(r"^[a-d][0-9]+-[a-z0-9]+(?:-[a-z0-9]+)*$")
HELP_RE = re.compile(r"\{\{\s*help:([^}\s]*)\s*\}\}")
LAW_RE = re.compile(r"제\s*\d+\s*조|\bArt\.|\bArticle\s+\d+")
TAG_RE = re.compile(r"<\s*/?\s*[A-Za-z!?][^>]*>")
IMAGE_RE = re.compile(r"!\[[^\]]*\]\(")
MD_LINK_RE = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]*)")
URL_RE = re.compile(r"(?:https?://|www\.)[^\s)<>\"']+", re.IGNORECASE)

# Band A (ages 10-12) never carries penalty numbers, app or channel names (reference/curriculum.md).
BAND_A_BANNED = (
    "년 이하", "년 이상", "만원", "만 원", "억 원", "징역", "벌금", "교도소", "감옥", "₩",
    "years in prison", "in prison", "prison sentence", "jail", " fine of", "million won",
    "텔레그램", "Telegram", "디스코드", "Discord", "카카오톡", "KakaoTalk", "인스타그램", "Instagram",
    "nudify", "누디파이", "겹지인방",
)


@lru_cache(maxsize=2)
def _markdown(raw_html: bool = False):
    """Markdown as the content README allows it: CommonMark with tables, no raw HTML (the validator parses with
    raw HTML on, so that any HTML in the source shows up as a token). Made on first use: a process that finds its
    lessons parsed in instance/cache/, and every command that reads no lesson, never imports markdown-it."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": raw_html}).enable("table")


_ALLOWED_TAGS = {
    "p", "h3", "h4", "h5", "h6", "ul", "ol", "li", "strong", "em", "code", "pre", "blockquote", "br", "hr",
    "table", "thead", "tbody", "tr", "th", "td", "a",
}
_ALLOWED_ATTRIBUTES = {"a": {"href"}, "ol": {"start"}}  # no style attributes: the CSP forbids inline style


@dataclass(frozen=True)
class Problem:
    """Something wrong in a content file, for `portal content check`."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class Choice:
    """One answer to a scenario, with what follows from it."""

    text: str
    good: bool
    feedback: str


@dataclass(frozen=True)
class Scenario:
    """A short, non-graphic situation with choices and feedback for each."""

    situation: str
    question: str
    choices: tuple[Choice, ...]


@dataclass(frozen=True)
class QuizChoice:
    """One answer to a quiz question and why it is right or wrong."""

    text: str
    explanation: str


@dataclass(frozen=True)
class QuizQuestion:
    """A quiz question; `answer` is the index of the right choice."""

    question: str
    answer: int
    choices: tuple[QuizChoice, ...]


@dataclass(frozen=True)
class Step:
    """One section of a lesson body: its heading and sanitized HTML."""

    title: str
    html: Markup


@dataclass(frozen=True)
class LessonText:
    """A lesson in one language, help placeholders filled in."""

    language: str
    title: str
    summary: str  # one line under the title in the lesson list
    content_note: str
    objectives: tuple[str, ...]
    warmup: str
    scenario: Scenario
    quiz: tuple[QuizQuestion, ...]
    reflection: str
    family_tips: tuple[str, ...]
    teacher_notes: str
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Lesson:
    """A lesson with its text in every language."""

    slug: str
    band: str
    order: int
    minutes: int
    legal_as_of: str | None
    texts: Mapping[str, LessonText]

    def text(self, language: str) -> LessonText:
        """The text in this language, Korean when the language is not available."""
        return self.texts.get(language) or self.texts["ko"]


@dataclass(frozen=True)
class LessonLibrary:
    """Every valid lesson, ordered by band and order, and a version that changes with the content files."""

    lessons: tuple[Lesson, ...]
    version: str

    def get(self, slug: str) -> Lesson | None:
        """The lesson with this slug, if there is a valid one."""
        return next((lesson for lesson in self.lessons if lesson.slug == slug), None)

    def band(self, band: str) -> tuple[Lesson, ...]:
        """The lessons of one band in order."""
        return tuple(lesson for lesson in self.lessons if lesson.band == band)

    @property
    def bands(self) -> tuple[str, ...]:
        return tuple(band for band in BANDS if self.band(band))


@dataclass(frozen=True)
class ContentLoad:
    """What loading the content folder gave: the valid lessons and every problem found."""

    library: LessonLibrary
    problems: tuple[Problem, ...]


def content_version(root: Path) -> str:
    """A short hash over every file in the content folder."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def _walk_tokens(tokens):
    for token in tokens:
        yield token
        if token.children:
            yield from _walk_tokens(token.children)


def _link_allowed(href: str, allowed: frozenset[str]) -> bool:
    return href.rstrip("/") in {url.rstrip("/") for url in allowed}


def render_markdown(text: str, language: str = "ko") -> Markup:
    """Markdown to sanitized HTML: CommonMark and tables, no raw HTML, https links only. Korean words in a lesson
    in another language (a law's or an agency's Korean name) are marked lang="ko" for screen readers."""
    html = nh3.clean(
        _markdown().render(text), tags=_ALLOWED_TAGS, attributes=_ALLOWED_ATTRIBUTES, url_schemes={"https"},
        link_rel="noopener noreferrer",
    )
    # Wide tables scroll inside their own box on a phone instead of widening the page.
    html = html.replace("<table>", '<div class="table-scroll" tabindex="0"><table>')
    html = html.replace("</table>", "</table></div>")
    html = mark_korean(html, language)
    return Markup(html)  # noqa: S704  sanitized by nh3 just above


class _FileReader:
    """Reads one lesson file, collecting problems instead of stopping at the first."""

    def __init__(self, path: Path, root: Path, language: str, pack: HelpPack | None):
        self.path = path
        self.name = str(path.relative_to(root.parent)) if path.is_relative_to(root.parent) else str(path)
        self.language = language
        self.pack = pack
        self.problems: list[Problem] = []
        self.texts: list[str] = []  # every piece of text a learner reads, for the checks over the whole file
        self.staff_texts: list[str] = []  # teacher notes: staff read them, Band A word rules do not apply

    def problem(self, message: str) -> None:
        self.problems.append(Problem(self.name, message))

    def expand_help(self, text: str, where: str) -> str:
        """Replace {{help:ID}} with "name (number)" in this file's language."""

        def replace(match: re.Match) -> str:
            line = self.pack.get(match.group(1)) if self.pack else None
            if line is None:
                self.problem(f"{where}: unknown help line {match.group(0)!r} (not in help/{LESSON_JURISDICTION}.yml)")
                return match.group(0)
            return f"{line.name.get(self.language) or line.name['ko']} ({line.number})"

        return HELP_RE.sub(replace, text)

    def check_text(self, text: str, where: str) -> None:
        """Images, HTML and links are not allowed in front-matter text."""
        if IMAGE_RE.search(text):
            self.problem(f"{where}: images are not allowed")
        if TAG_RE.search(text):
            self.problem(f"{where}: raw HTML or script is not allowed")
        self._check_urls(text, where)

    def _check_urls(self, text: str, where: str) -> None:
        allowed = self.pack.urls if self.pack else frozenset()
        for href in sorted({*MD_LINK_RE.findall(text), *URL_RE.findall(text)}):
            if href and not _link_allowed(href, allowed):
                self.problem(f"{where}: link {href!r} is not one of the help pack's links")

    def text(self, value: object, where: str, required: bool = True, staff: bool = False) -> str:
        """A front-matter text field, checked and with help placeholders filled in."""
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.problem(f"{where} is missing")
            return ""
        if not isinstance(value, str | int | float):
            self.problem(f"{where} must be text")
            return ""
        raw = str(value).strip()
        self.check_text(raw, where)
        (self.staff_texts if staff else self.texts).append(raw)
        return self.expand_help(raw, where)

    def summary(self, value: object) -> str:
        """The one-line summary the lesson list shows under the title: required, one line, short."""
        text = self.text(value, "summary")
        if "\n" in text or len(text) > SUMMARY_MAX:
            self.problem(f"summary must be one line of at most {SUMMARY_MAX} characters")
        return text

    def text_list(self, value: object, where: str, low: int, high: int) -> tuple[str, ...]:
        """A list of text items with a count between low and high."""
        if not isinstance(value, list) or not value:
            self.problem(f"{where} is missing (a list of {low}–{high} items)")
            return ()
        if not low <= len(value) <= high:
            self.problem(f"{where} has {len(value)} items; {low}–{high} required")
        return tuple(self.text(item, f"{where}[{i + 1}]") for i, item in enumerate(value))

    def scenario(self, value: object) -> Scenario:
        """The scenario block."""
        if not isinstance(value, dict):
            self.problem("scenario is missing")
            return Scenario("", "", ())
        choices = value.get("choices")
        if not isinstance(choices, list) or not 3 <= len(choices) <= 4:
            count = len(choices) if isinstance(choices, list) else 0
            self.problem(f"scenario has {count} choices; 3–4 required")
        parsed = []
        for i, item in enumerate(choices if isinstance(choices, list) else []):
            where = f"scenario choice {i + 1}"
            item = item if isinstance(item, dict) else {}
            good = item.get("good")
            if not isinstance(good, bool):
                self.problem(f"{where}: good must be true or false")
            parsed.append(Choice(self.text(item.get("text"), f"{where} text"), good is True,
                                 self.text(item.get("feedback"), f"{where} feedback")))
        if parsed and not any(choice.good for choice in parsed):
            self.problem("scenario: at least one choice must be good")
        return Scenario(self.text(value.get("situation"), "scenario situation"),
                        self.text(value.get("question"), "scenario question"), tuple(parsed))

    def quiz(self, value: object) -> tuple[QuizQuestion, ...]:
        """The quiz block."""
        if not isinstance(value, list) or not 3 <= len(value) <= 6:
            count = len(value) if isinstance(value, list) else 0
            self.problem(f"quiz has {count} questions; 3–6 required")
        questions = []
        for i, item in enumerate(value if isinstance(value, list) else []):
            where = f"quiz question {i + 1}"
            item = item if isinstance(item, dict) else {}
            choices = item.get("choices")
            if not isinstance(choices, list) or not 2 <= len(choices) <= 4:
                count = len(choices) if isinstance(choices, list) else 0
                self.problem(f"{where} has {count} choices; 2–4 required")
                choices = choices if isinstance(choices, list) else []
            parsed = []
            for j, choice in enumerate(choices):
                choice = choice if isinstance(choice, dict) else {}
                parsed.append(QuizChoice(self.text(choice.get("text"), f"{where} choice {j + 1} text"),
                                         self.text(choice.get("explanation"), f"{where} choice {j + 1} explanation")))
            answer = item.get("answer")
            if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < len(parsed):
                self.problem(f"{where}: answer must be the 0-based index of one of its {len(parsed)} choices")
                answer = 0
            questions.append(QuizQuestion(self.text(item.get("question"), f"{where} text"), answer, tuple(parsed)))
        return tuple(questions)

    def steps(self, body: str) -> tuple[Step, ...]:
        """Split the body into steps at `## ` headings and render each."""
        self._check_body(body)
        sections: list[tuple[str, list[str]]] = []
        before: list[str] = []
        for line in body.splitlines():
            if line.startswith("## "):
                sections.append((line[3:].strip(), []))
            elif sections:
                sections[-1][1].append(line)
            else:
                before.append(line)
        if "".join(before).strip():
            self.problem("body: text before the first `## ` heading")
        if not 2 <= len(sections) <= 5:
            self.problem(f"body has {len(sections)} sections (`## ` headings); 2–5 required")
        steps = []
        for i, (title, lines) in enumerate(sections):
            where = f"section {i + 1}"
            text = "\n".join(lines).strip()
            if not text:
                self.problem(f"{where} ({title!r}) is empty")
            html = render_markdown(self.expand_help(text, where), self.language)
            steps.append(Step(self.expand_help(title, where), html))
        self.texts.append(body)
        return tuple(steps)

    def _check_body(self, body: str) -> None:
        allowed = self.pack.urls if self.pack else frozenset()
        for token in _walk_tokens(_markdown(raw_html=True).parse(body)):
            if token.type == "image":
                self.problem(f"body: image {token.attrGet('src')!r} is not allowed")
            elif token.type in ("html_block", "html_inline"):
                kind = "script" if "script" in token.content.lower() else "raw HTML"
                self.problem(f"body: {kind} is not allowed: {token.content.strip()[:60]!r}")
            elif token.type == "link_open":
                href = str(token.attrGet("href") or "")
                if not _link_allowed(href, allowed):
                    self.problem(f"body: link {href!r} is not one of the help pack's links")
            elif token.type == "heading_open" and token.tag == "h1":
                self.problem("body: use `## ` for sections and `### ` below them, not `# `")
        for url in URL_RE.findall(body):
            if not _link_allowed(url, allowed) and f"({url}" not in body and f"<{url}" not in body:
                self.problem(f"body: link {url!r} is not one of the help pack's links")


def _parse_file(path: Path, root: Path, language: str, pack: HelpPack | None) -> tuple[dict, LessonText | None,
                                                                                       list[Problem]]:
    """Read one lesson file: its metadata, its text and its problems."""
    reader = _FileReader(path, root, language, pack)
    try:
        post = frontmatter.loads(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, ValueError) as error:
        reader.problem(f"cannot be read: {error.__class__.__name__}: {str(error).splitlines()[0]}")
        return {}, None, reader.problems
    meta = dict(post.metadata)
    if not meta:
        reader.problem("has no YAML front matter")
    band = meta.get("band")
    if band not in BANDS:
        reader.problem(f"band {band!r} is not one of A, B, C, D")
    for key in ("order", "minutes"):
        value = meta.get(key)
        if value is None:
            reader.problem(f"{key} is missing")
        elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
            reader.problem(f"{key} must be a whole number of 1 or more")
    legal_as_of = meta.get("legal_as_of")
    if legal_as_of is not None and not isinstance(legal_as_of, dt.date):
        reader.problem("legal_as_of must be a date (YYYY-MM-DD)")
    text = LessonText(
        language=language,
        title=reader.text(meta.get("title"), "title"),
        summary=reader.summary(meta.get("summary")),
        content_note=reader.text(meta.get("content_note"), "content_note"),
        objectives=reader.text_list(meta.get("objectives"), "objectives", 2, 4),
        warmup=reader.text(meta.get("warmup"), "warmup"),
        scenario=reader.scenario(meta.get("scenario")),
        quiz=reader.quiz(meta.get("quiz")),
        reflection=reader.text(meta.get("reflection"), "reflection"),
        family_tips=reader.text_list(meta.get("family_tips"), "family_tips", 1, 5),
        teacher_notes=reader.text(meta.get("teacher_notes"), "teacher_notes", staff=True),
        steps=reader.steps(post.content),
    )
    whole = "\n".join(reader.texts)
    if LAW_RE.search("\n".join([whole, *reader.staff_texts])) and not legal_as_of:
        reader.problem("cites a law article but has no legal_as_of date")
    if band == "A":
        lowered = whole.lower()
        for word in BAND_A_BANNED:
            if word.lower() in lowered:
                reader.problem(f"Band A must not contain {word.strip()!r} (penalty numbers, app or channel names)")
    return meta, text, reader.problems


def _structure(text: LessonText) -> dict[str, object]:
    return {
        "sections": len(text.steps),
        "scenario choices": len(text.scenario.choices),
        "scenario good flags": [choice.good for choice in text.scenario.choices],
        "quiz questions": len(text.quiz),
        "choices per quiz question": [len(q.choices) for q in text.quiz],
        "quiz answers": [q.answer for q in text.quiz],
    }


def _compare(name: str, metas: dict[str, dict], texts: dict[str, LessonText]) -> list[Problem]:
    """Problems where the English file differs in structure from the Korean one."""
    problems = []
    ko, en = _structure(texts["ko"]), _structure(texts["en"])
    for key, value in ko.items():
        if en[key] != value:
            problems.append(Problem(name, f"{key} differ between languages: ko.md {value}, en.md {en[key]}"))
    for key in ("band", "order", "minutes", "legal_as_of"):
        if metas["ko"].get(key) != metas["en"].get(key):
            problems.append(Problem(name, f"{key} differs between languages: ko.md {metas['ko'].get(key)!r}, "
                                          f"en.md {metas['en'].get(key)!r}"))
    return problems


def load_content(root: Path) -> ContentLoad:
    """Parse and validate every lesson under root/lessons; only lessons without problems are kept."""
    root = Path(root)
    problems: list[Problem] = []
    pack = None
    try:
        pack = load_help_packs(root).get(LESSON_JURISDICTION)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, KeyError, TypeError) as error:
        problems.append(Problem(f"help/{LESSON_JURISDICTION}.yml", f"cannot be read: {error}"))
    if pack is None and not problems:
        problems.append(Problem(f"help/{LESSON_JURISDICTION}.yml", "is missing"))
    lessons = []
    lesson_root = root / "lessons"
    folders = sorted(p for p in lesson_root.iterdir() if p.is_dir()) if lesson_root.is_dir() else []
    if not folders:
        problems.append(Problem(str(lesson_root), "no lessons found"))
    for folder in folders:
        lesson, found = _load_lesson(folder, root, pack)
        problems.extend(found)
        if lesson is not None and not found:
            lessons.append(lesson)
    problems.extend(_check_orders(lessons))
    lessons.sort(key=lambda lesson: (lesson.band, lesson.order, lesson.slug))
    return ContentLoad(LessonLibrary(tuple(lessons), content_version(root)), tuple(problems))


def _load_lesson(folder: Path, root: Path, pack: HelpPack | None) -> tuple[Lesson | None, list[Problem]]:
    slug = folder.name
    name = str(folder.relative_to(root.parent))
    problems = []
    if not SLUG_RE.match(slug):
        problems.append(Problem(name, "folder name must be lowercase letters, digits and hyphens, "
                                      "starting with the band letter and order (e.g. a1-pictures-can-change)"))
    for extra in sorted(folder.iterdir()):
        if extra.is_file() and extra.name not in {f"{lang}.md" for lang in LANGUAGES}:
            problems.append(Problem(str(extra.relative_to(root.parent)), "unexpected file (only ko.md and en.md)"))
    metas: dict[str, dict] = {}
    texts: dict[str, LessonText] = {}
    for language in LANGUAGES:
        path = folder / f"{language}.md"
        if not path.is_file():
            problems.append(Problem(str(path.relative_to(root.parent)), "language missing: every lesson needs "
                                                                          "ko.md and en.md"))
            continue
        meta, text, found = _parse_file(path, root, language, pack)
        problems.extend(found)
        if text is not None:
            metas[language], texts[language] = meta, text
    if len(texts) != len(LANGUAGES):
        return None, problems
    problems.extend(_compare(name, metas, texts))
    meta = metas["ko"]
    if problems:
        return None, problems
    band, order = meta["band"], meta["order"]
    if not slug.startswith(f"{band.lower()}{order}-"):
        problems.append(Problem(name, f"folder name should start with {band.lower()}{order}- (band and order)"))
    legal = meta.get("legal_as_of")
    lesson = Lesson(slug, band, order, meta["minutes"], legal.isoformat() if legal else None, texts)
    return lesson, problems


def _check_orders(lessons: Iterable[Lesson]) -> list[Problem]:
    seen: dict[tuple[str, int], str] = {}
    problems = []
    for lesson in lessons:
        key = (lesson.band, lesson.order)
        if key in seen:
            problems.append(Problem(f"lessons/{lesson.slug}", f"band {lesson.band} order {lesson.order} is also "
                                                              f"used by {seen[key]}"))
        seen[key] = lesson.slug
    return problems


def validate_content(root: Path) -> list[Problem]:
    """Every problem in the content folder, each naming its file."""
    return list(load_content(Path(root)).problems)


_LOADED: dict[tuple[str, str], ContentLoad] = {}
_LOADING = threading.Lock()


def _load_cached(root: Path, version: str, cache_dir: Path | None = None) -> ContentLoad:
    """Parse once per process and content version (apps made later, in tests and commands, reuse the parsed
    lessons), and keep the result in the instance folder so that the next process starts without parsing.

    The cache is a pickle named after the content's hash, written 0600 into instance/cache/: only whoever can
    already change instance/config.py (which the portal executes) can change it, so it adds no way in.
    """
    key = (str(root.resolve()), version)
    if key in _LOADED:
        return _LOADED[key]
    cached = cache_dir / f"lessons-{version}.pickle" if cache_dir else None
    loaded = None
    if cached and cached.is_file():
        try:
            loaded = pickle.loads(cached.read_bytes())  # noqa: S301 (see above: written by the portal, 0600)
        except Exception:  # an older portal's cache, a torn file: parse again
            loaded = None
    if not isinstance(loaded, ContentLoad):
        loaded = load_content(root)
        if cached:
            try:
                cache_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
                for old in cache_dir.glob("lessons-*.pickle"):
                    old.unlink(missing_ok=True)
                partial = cached.with_suffix(f".{os.getpid()}.tmp")
                partial.write_bytes(pickle.dumps(loaded))
                partial.chmod(0o600)
                partial.replace(cached)
            except OSError:
                pass  # a read-only instance folder: parse in every process
    _LOADED[key] = loaded
    return loaded


def lesson_library() -> LessonLibrary:
    """The lessons, parsed on first use in this process: a command that shows none (`portal tick`) never parses
    them, and a server loads them before its first request (load_lessons)."""
    app = current_app._get_current_object()
    library = app.extensions.get("portal.lessons")
    return library if library is not None else load_lessons(app)


def load_lessons(app: Flask) -> LessonLibrary:
    """Parse (or read from the cache) the lessons of the app's content folder and keep them on the app."""
    with _LOADING:
        if app.extensions.get("portal.lessons") is None:
            root = Path(app.config["CONTENT_PATH"])
            loaded = _load_cached(root, app.extensions["portal.content_version"], Path(app.instance_path) / "cache")
            for problem in loaded.problems:
                # A broken lesson is left out rather than served; `portal content check` says why.
                app.logger.warning("content problem, lesson left out: %s", problem)
            app.extensions["portal.lessons"] = loaded.library
    return app.extensions["portal.lessons"]


def init_app(app: Flask) -> None:
    """Read the help packs and fingerprint the content; the lessons themselves are parsed on first use."""
    root = Path(app.config["CONTENT_PATH"])
    app.extensions["portal.help"] = load_help_packs(root)
    app.extensions["portal.content_version"] = content_version(root)
    app.extensions["portal.lessons"] = None
    app.jinja_env.globals["help_pack"] = help_pack
