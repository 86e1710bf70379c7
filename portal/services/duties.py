"""Legal-duty checklists per jurisdiction, from content/duties/<jurisdiction>.yml."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import yaml
from flask import current_app


@dataclass(frozen=True)
class DutyRule:
    """One duty: what satisfies it and when it is due."""

    id: str
    satisfied_by: str
    deadline_hours: float
    urgent_deadline_hours: float | None
    title: dict[str, str]
    basis: dict[str, str]
    help: dict[str, str]

    def due(self, opened: datetime, urgent: bool) -> datetime:
        """When this duty is due for a case opened at `opened`."""
        hours = self.urgent_deadline_hours if urgent and self.urgent_deadline_hours is not None else self.deadline_hours
        return opened + timedelta(hours=hours)


def load_duty_packs(root: Path) -> dict[str, tuple[DutyRule, ...]]:
    """Read every content/duties/<jurisdiction>.yml."""
    packs = {}
    for path in sorted((root / "duties").glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        packs[data["jurisdiction"]] = tuple(
            DutyRule(item["id"], item["satisfied_by"], float(item["deadline_hours"]),
                     item.get("urgent_deadline_hours"), item["title"], item["basis"], item["help"])
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
