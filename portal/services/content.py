"""Content from `content/`: help lines per jurisdiction, loaded once at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from flask import Flask, current_app


@dataclass(frozen=True)
class HelpLine:
    """One place to get help: a phone line and, sometimes, a website."""

    id: str
    number: str
    name: dict[str, str]
    note: dict[str, str]
    hours: dict[str, str] = field(default_factory=dict)
    url: str | None = None


@dataclass(frozen=True)
class HelpPack:
    """The help lines of one jurisdiction."""

    jurisdiction: str
    verified: str
    lines: tuple[HelpLine, ...]

    def get(self, line_id: str) -> HelpLine | None:
        """The line with this id, if the pack has it."""
        return next((line for line in self.lines if line.id == line_id), None)

    @property
    def urls(self) -> frozenset[str]:
        return frozenset(line.url for line in self.lines if line.url)


def load_help_packs(root: Path) -> dict[str, HelpPack]:
    """Read every content/help/<jurisdiction>.yml."""
    packs = {}
    for path in sorted((root / "help").glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        lines = tuple(
            HelpLine(
                id=item["id"], number=str(item["number"]), name=item["name"], note=item.get("note", {}),
                hours=item.get("hours", {}), url=item.get("url"),
            )
            for item in data["lines"]
        )
        packs[data["jurisdiction"]] = HelpPack(data["jurisdiction"], str(data["verified"]), lines)
    return packs


def help_pack(jurisdiction: str = "KR") -> HelpPack:
    """The help pack for a jurisdiction, falling back to KR."""
    packs = current_app.extensions["portal.help"]
    return packs.get(jurisdiction) or packs["KR"]


def init_app(app: Flask) -> None:
    """Parse the content folder once and keep it on the app."""
    root = Path(app.config["CONTENT_PATH"])
    app.extensions["portal.help"] = load_help_packs(root)
    app.jinja_env.globals["help_pack"] = help_pack
