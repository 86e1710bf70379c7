"""Periodic checks (escalations, retention, mail retries) that `portal tick` runs and `portal serve` runs every
minute: once per deployment, however many servers and worker processes run, through a lease in the database."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

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


LEASE = "checks"


def holder_name() -> str:
    """This process, as the lease names it: host and process id."""
    return f"{socket.gethostname()[:100]}:{os.getpid()}"


def claim(app: Flask, period: timedelta, now: datetime | None = None, name: str = LEASE) -> bool:
    """Take the lease for this period if nobody holds it: True means this process runs the checks now.

    One UPDATE that only matches an expired lease, so of several processes trying at once exactly one gets a row
    back, on SQLite (one writer at a time) and on PostgreSQL (the row lock makes the others re-check and fail).
    """
    from sqlalchemy import or_, update

    from portal.database import insert_if_missing
    from portal.extensions import db
    from portal.models import BackgroundLease
    from portal.models.base import utcnow

    now = now or utcnow()
    with app.app_context():
        try:
            insert_if_missing(db.session, BackgroundLease, name=name)
            taken = db.session.execute(
                update(BackgroundLease).where(BackgroundLease.name == name, or_(
                    BackgroundLease.expires_at.is_(None), BackgroundLease.expires_at <= now))
                .values(holder=holder_name(), expires_at=now + period)).rowcount == 1
            db.session.commit()
        except Exception:  # the database is down: try again next period
            db.session.rollback()
            log.exception("could not take the background lease")
            taken = False
        finally:
            db.session.remove()
    return taken


def start(app: Flask) -> threading.Thread:
    """Every BACKGROUND_INTERVAL seconds, run the checks in a daemon thread if this process wins the period's lease."""
    stop = threading.Event()
    interval = float(app.config["BACKGROUND_INTERVAL"])
    # A little under the interval, so that the next period's winner is never kept out by clock jitter.
    period = timedelta(seconds=interval * 0.9)

    def loop():
        while not stop.wait(interval):
            if claim(app, period):
                run_checks(app)

    thread = threading.Thread(target=loop, name="portal-checks", daemon=True)
    thread.start()
    app.extensions["portal.background_stop"] = stop
    return thread
