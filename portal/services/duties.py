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


def pack_problems(data: object) -> list[str]:
    """Everything wrong with one parsed duty pack; an empty list means it can be used."""
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        return ["must be a mapping with `jurisdiction`, `legal_as_of` and a list of `items`"]
    problems = [] if data.get("jurisdiction") else ["`jurisdiction` is missing"]
    seen = set()
    for index, item in enumerate(data["items"]):
        where = f"item {index + 1} ({item.get('id', '?') if isinstance(item, dict) else '?'})"
        if not isinstance(item, dict):
            problems.append(f"{where}: must be a mapping")
            continue
        if item.get("id") in seen:
            problems.append(f"{where}: duplicate id")
        seen.add(item.get("id"))
        for key in ("id", "satisfied_by", "deadline_hours"):
            if item.get(key) in (None, ""):
                problems.append(f"{where}: `{key}` is missing")
        for key in ("title", "basis", "help"):
            if not _both_languages(item.get(key)):
                problems.append(f"{where}: `{key}` needs ko and en")
        kind = item.get("kind")
        if kind not in KINDS:
            problems.append(f"{where}: `kind` must be legal or guidance (a statute sets it, or good practice asks)")
        elif kind == "legal":
            if not _both_languages(item.get("cite")):
                problems.append(f"{where}: a legal duty needs `cite` (its article) in ko and en")
            if not data.get("legal_as_of"):
                problems.append(f"{where}: a legal duty needs the pack's `legal_as_of` date")
        elif not _both_languages(item.get("source")):
            problems.append(f"{where}: school guidance needs `source` in ko and en (no statute sets its deadline)")
        if item.get("applies_to", "all") not in APPLIES_TO:
            problems.append(f"{where}: `applies_to` must be all or minor_victim")
        if "UNCONFIRMED" in yaml.safe_dump(item, allow_unicode=True).upper():
            problems.append(f"{where}: states something marked UNCONFIRMED")
    return problems


def _both_languages(value: object) -> bool:
    return isinstance(value, dict) and all(isinstance(value.get(lang), str) and value[lang].strip()
                                           for lang in LANGUAGES)


def check_duty_packs(root: Path) -> list[tuple[str, str]]:
    """(file, problem) for every duty pack under root/duties."""
    found = []
    for path in sorted((Path(root) / "duties").glob("*.yml")):
        name = str(path.relative_to(Path(root).parent))
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as error:
            found.append((name, f"cannot be read: {error}"))
            continue
        found.extend((name, problem) for problem in pack_problems(data))
    return found


def load_duty_packs(root: Path) -> dict[str, tuple[DutyRule, ...]]:
    """Read every content/duties/<jurisdiction>.yml."""
    packs = {}
    for path in sorted((root / "duties").glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        packs[data["jurisdiction"]] = tuple(
            DutyRule(item["id"], item["kind"], item["satisfied_by"], float(item["deadline_hours"]),
                     item.get("urgent_deadline_hours"), item["title"], item["basis"], item["help"],
                     item.get("cite"), item.get("source"), item.get("applies_to", "all"))
            for item in data["items"]
        )
    return packs


def rules(jurisdiction: str) -> tuple[DutyRule, ...]:
    """The duty rules of a jurisdiction (KR when it has none of its own)."""
    packs = current_app.extensions["portal.duties"]
    return packs.get(jurisdiction) or packs["KR"]


def rule(jurisdiction: str, duty_id: str) -> DutyRule | None:
    """One rule by id."""
    return next((r for r in rules(jurisdiction) if r.id == duty_id), None)


def init_app(app) -> None:
    """Load the duty packs once at start-up."""
    app.extensions["portal.duties"] = load_duty_packs(Path(app.config["CONTENT_PATH"]))
