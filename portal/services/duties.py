"""Case checklists per jurisdiction, from content/duties/<jurisdiction>.yml: legal duties and school guidance.

A legal duty is set by a statute (it cites its article); school guidance is good practice whose deadline no
statute sets (it names its source). Screens, badges and mail keep the two apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import yaml
from flask import current_app

KINDS = ("legal", "guidance")
APPLIES_TO = ("all", "minor_victim")
LANGUAGES = ("ko", "en")
# The sentences a pack gives the screens that state the law (portal/jurisdiction.py says where each appears).
NOTICE_IDS = ("staff_duty", "teacher_duty", "student_duty", "possession", "receipt_police", "reporter_secrecy",
              "victim_identity", "staff_training", "classification", "removal_requests")
# What every "check with your local authority" sentence must say, in each language, so that nothing our references
# do not cover reads as fact.
LOCAL_AUTHORITY = {"ko": "관할 기관", "en": "check with your local authority"}
# Log-entry kinds whose name differs by jurisdiction (the support service a case is referred to).
PACK_ENTRY_KINDS = ("dsc_referral",)


@dataclass(frozen=True)
class DutyRule:
    """One checklist item: whether the law sets it, what satisfies it and when it is due."""

    id: str
    kind: str
    satisfied_by: str
    deadline_hours: float
    urgent_deadline_hours: float | None
    title: dict[str, str]
    basis: dict[str, str]
    help: dict[str, str]
    cite: dict[str, str] | None = None  # legal items: the article, e.g. 청소년성보호법 제34조 제2항
    source: dict[str, str] | None = None  # guidance items: where the practice comes from
    applies_to: str = "all"  # or "minor_victim": only when the victim is, or may be, a minor
    as_of: str = ""  # the date the basis was last checked against the reference

    @property
    def legal(self) -> bool:
        return self.kind == "legal"

    @property
    def immediate(self) -> bool:
        """Due the moment the case opens ("immediately" in the statute)."""
        return self.deadline_hours == 0

    def due(self, opened: datetime, urgent: bool) -> datetime:
        """When this item is due for a case opened at `opened`."""
        hours = self.urgent_deadline_hours if urgent and self.urgent_deadline_hours is not None else self.deadline_hours
        return opened + timedelta(hours=hours)


@dataclass(frozen=True)
class Notice:
    """A sentence about the law for one screen: what the reference states (`text`, with its source and date), and
    what it does not cover, which is shown as a topic to check with the local authority, never as fact."""

    text: dict[str, str] | None
    check_local: dict[str, str] | None
    source: str
    as_of: str


@dataclass(frozen=True)
class DutyPack:
    """One jurisdiction: its name, its checklist, the legal sentences of its screens and its own entry names."""

    jurisdiction: str
    name: dict[str, str]
    legal_as_of: str
    rules: tuple[DutyRule, ...]
    notices: dict[str, Notice]
    entry_labels: dict[str, dict[str, str]]


def pack_problems(data: object) -> list[str]:
    """Everything wrong with one parsed duty pack; an empty list means it can be used."""
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        return ["must be a mapping with `jurisdiction`, `name`, `legal_as_of` and a list of `items`"]
    problems = [] if data.get("jurisdiction") else ["`jurisdiction` is missing"]
    if not both_languages(data.get("name")):
        problems.append("`name` needs ko and en (the settings page offers the pack by it)")
    seen = set()
    for index, item in enumerate(data["items"]):
        where = f"item {index + 1} ({item.get('id', '?') if isinstance(item, dict) else '?'})"
        if not isinstance(item, dict):
            problems.append(f"{where}: must be a mapping")
            continue
        if item.get("id") in seen:
            problems.append(f"{where}: duplicate id")
        seen.add(item.get("id"))
        for key in ("id", "satisfied_by", "deadline_hours", "as_of"):
            if item.get(key) in (None, ""):
                problems.append(f"{where}: `{key}` is missing")
        for key in ("title", "basis", "help"):
            if not both_languages(item.get(key)):
                problems.append(f"{where}: `{key}` needs ko and en")
        kind = item.get("kind")
        if kind not in KINDS:
            problems.append(f"{where}: `kind` must be legal or guidance (a statute sets it, or good practice asks)")
        elif kind == "legal":
            if not both_languages(item.get("cite")):
                problems.append(f"{where}: a legal duty needs `cite` (its article) in ko and en")
            if not data.get("legal_as_of"):
                problems.append(f"{where}: a legal duty needs the pack's `legal_as_of` date")
            if item.get("confirmed") is False:
                problems.append(f"{where}: an unconfirmed duty cannot be legal: make it guidance that says to check "
                                "with the local authority")
        elif not both_languages(item.get("source")):
            problems.append(f"{where}: school guidance needs `source` in ko and en (no statute sets its deadline)")
        if item.get("applies_to", "all") not in APPLIES_TO:
            problems.append(f"{where}: `applies_to` must be all or minor_victim")
        problems.extend(f"{where}: {problem}" for problem in unconfirmed_problems(item))
    problems.extend(_notice_problems(data.get("notices")))
    labels = data.get("entry_labels") if isinstance(data.get("entry_labels"), dict) else {}
    for kind in PACK_ENTRY_KINDS:
        if not both_languages(labels.get(kind)):
            problems.append(f"entry_labels: `{kind}` needs ko and en (its name differs by jurisdiction)")
    return problems


def _notice_problems(notices: object) -> list[str]:
    """Problems with a pack's `notices`: every screen's sentence present, sourced, dated, nothing unconfirmed."""
    if not isinstance(notices, dict):
        return ["`notices` is missing: the screens that state the law take their sentences from it"]
    problems = []
    for notice_id in NOTICE_IDS:
        notice = notices.get(notice_id)
        where = f"notice {notice_id}"
        if not isinstance(notice, dict):
            problems.append(f"{where}: missing")
            continue
        if not (both_languages(notice.get("text")) or both_languages(notice.get("check_local"))):
            problems.append(f"{where}: needs `text` or `check_local` in ko and en")
        problems.extend(f"{where}: {problem}" for problem in local_authority_problems(notice.get("check_local")))
        for key in ("source", "as_of"):
            if not notice.get(key):
                problems.append(f"{where}: `{key}` is missing")
        problems.extend(f"{where}: {problem}" for problem in unconfirmed_problems(notice))
    problems.extend(f"notice {extra}: not a notice any screen shows" for extra in set(notices) - set(NOTICE_IDS))
    return problems


def local_authority_problems(check_local: object) -> list[str]:
    """A `check_local` sentence must send the reader to the local authority in both languages."""
    if not check_local:
        return []
    if not isinstance(check_local, dict):
        return ["`check_local` needs ko and en"]
    return [f"`check_local` in {lang} must say {phrase!r}" for lang, phrase in LOCAL_AUTHORITY.items()
            if phrase.lower() not in str(check_local.get(lang, "")).lower()]


def unconfirmed_problems(item: dict, stated: tuple[str, ...] = ("text",)) -> list[str]:
    """An item our references mark unconfirmed may only appear as "check with your local authority": it must not
    carry the word UNCONFIRMED into a screen, nor, when marked `confirmed: false`, any field stated as fact."""
    problems = []
    if "UNCONFIRMED" in yaml.safe_dump(item, allow_unicode=True).upper():
        problems.append("states something marked UNCONFIRMED")
    if item.get("confirmed") is False and any(item.get(key) for key in stated):
        fields = ", ".join(f"`{key}`" for key in stated if item.get(key))
        problems.append(f"marked `confirmed: false` but states {fields} as fact: use `check_local` instead")
    return problems


def both_languages(value: object) -> bool:
    return isinstance(value, dict) and all(isinstance(value.get(lang), str) and value[lang].strip()
                                           for lang in LANGUAGES)


# libyaml's parser when PyYAML was built with it (its wheels are): the same documents, read about ten times faster,
# which is a twentieth of a second off every start of the server and of `portal tick`.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(text: str) -> object:
    """A pack file's data, as `yaml.safe_load` reads it (for a file `portal content check` passed)."""
    return yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506  a safe loader, C or Python


def read_pack_files(root: Path, folder: str, problems_of) -> list[tuple[str, object, list[str]]]:
    """(file name, parsed data or None, its problems) for every pack under root/folder. Read with PyYAML's own
    parser, the stricter one: libyaml lets a few things through (a tab inside a value) that it refuses, and a pack
    should read the same in every YAML tool."""
    found = []
    for path in sorted((Path(root) / folder).glob("*.yml")):
        name = str(path.relative_to(Path(root).parent))
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            found.append((name, None, [f"cannot be read: {error}"]))
            continue
        found.append((name, data, problems_of(data)))
    return found


def check_duty_packs(root: Path) -> list[tuple[str, str]]:
    """(file, problem) for every duty pack under root/duties."""
    found = []
    owners: dict[str, str] = {}
    for name, data, problems in read_pack_files(root, "duties", pack_problems):
        found.extend((name, problem) for problem in problems)
        for item in data.get("items", []) if isinstance(data, dict) else []:
            if isinstance(item, dict) and item.get("id") in owners:
                found.append((name, f"item {item['id']}: id already used by {owners[item['id']]} (an open case "
                                    "keeps its items when its school changes jurisdiction, so ids are unique)"))
            elif isinstance(item, dict):
                owners[item.get("id")] = name
    return found


def load_duty_packs(root: Path) -> dict[str, DutyPack]:
    """Read every content/duties/<jurisdiction>.yml."""
    packs = {}
    for path in sorted((root / "duties").glob("*.yml")):
        data = read_yaml(path.read_text(encoding="utf-8"))
        rules_ = tuple(
            DutyRule(item["id"], item["kind"], item["satisfied_by"], float(item["deadline_hours"]),
                     item.get("urgent_deadline_hours"), item["title"], item["basis"], item["help"],
                     item.get("cite"), item.get("source"), item.get("applies_to", "all"), str(item.get("as_of", "")))
            for item in data["items"]
        )
        notices = {key: Notice(value.get("text"), value.get("check_local"), str(value.get("source", "")),
                               str(value.get("as_of", "")))
                   for key, value in (data.get("notices") or {}).items()}
        packs[data["jurisdiction"]] = DutyPack(data["jurisdiction"], data.get("name") or {}, str(data["legal_as_of"]),
                                               rules_, notices, data.get("entry_labels") or {})
    return packs


def packs() -> dict[str, DutyPack]:
    """Every jurisdiction's pack, by code."""
    return current_app.extensions["portal.duties"]


def pack(jurisdiction: str) -> DutyPack:
    """One jurisdiction's pack (KR when it has none of its own)."""
    loaded = packs()
    return loaded.get(jurisdiction) or loaded["KR"]


def rules(jurisdiction: str) -> tuple[DutyRule, ...]:
    """The duty rules of a jurisdiction (KR when it has none of its own)."""
    return pack(jurisdiction).rules


def rule_map(jurisdiction: str) -> dict[str, DutyRule]:
    """Every rule by id: the jurisdiction's own, and those of the other packs. Ids are unique across packs (the
    content check says so), so a case opened before its school changed jurisdiction keeps its checklist's rules.
    Made once at start-up (a page asks for a rule for every checklist item it shows); do not change it."""
    maps = current_app.extensions["portal.duty_rules"]
    return maps.get(jurisdiction) or maps["KR"]


def rule(jurisdiction: str, duty_id: str) -> DutyRule | None:
    """One rule by id (see rule_map)."""
    return rule_map(jurisdiction).get(duty_id)


def immediate_ids() -> list[str]:
    """The ids of every rule due the moment a case opens, whatever the pack."""
    return current_app.extensions["portal.duty_immediate"]


def _rule_maps(loaded: dict[str, DutyPack]) -> dict[str, dict[str, DutyRule]]:
    every = {r.id: r for other in loaded.values() for r in other.rules}
    return {code: {**every, **{r.id: r for r in own.rules}} for code, own in loaded.items()}


def init_app(app) -> None:
    """Load the duty packs once at start-up, with each jurisdiction's rules by id."""
    loaded = load_duty_packs(Path(app.config["CONTENT_PATH"]))
    app.extensions["portal.duties"] = loaded
    app.extensions["portal.duty_rules"] = _rule_maps(loaded)
    app.extensions["portal.duty_immediate"] = sorted({r.id for p in loaded.values() for r in p.rules if r.immediate})
