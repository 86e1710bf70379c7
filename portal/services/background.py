"""Periodic checks (escalations, retention) that `portal tick` runs and `portal serve` runs every minute."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from flask import Flask
from sqlalchemy.orm import Session

log = logging.getLogger("portal.background")

# Each check takes (session, app, now) and returns how many things it did. Features register theirs here.
CHECKS: list[Callable[[Session, Flask, datetime], int]] = []


def run_checks(app: Flask, now: datetime | None = None) -> dict[str, int]:
    """Run every registered check once, each in its own transaction."""
    from portal.extensions import db
    from portal.models.base import utcnow

    now = now or utcnow()
    results = {}
    with app.app_context():
        for check in CHECKS:
            try:
                results[check.__name__] = check(db.session, app, now)
                db.session.commit()
            except Exception:  # one failing check must not stop the others; the log names it, no case data
                db.session.rollback()
                log.exception("background check %s failed", check.__name__)
        db.session.remove()
    return results


def start(app: Flask, interval: float = 60.0) -> threading.Thread:
    """Run the checks every `interval` seconds in a daemon thread."""
    stop = threading.Event()

    def loop():
        while not stop.wait(interval):
            run_checks(app)

    thread = threading.Thread(target=loop, name="portal-checks", daemon=True)
    thread.start()
    app.extensions["portal.background_stop"] = stop
    return thread
