"""The dashboards' running counts (CaseFigure): cases opened per school and month, by category and platform, and
the time they took to acknowledge. Counted when a case opens and when it is acknowledged, in the same transaction,
so that a dashboard's cost follows its twelve months of figures rather than every case a school ever had.
`rebuild` recounts everything from the cases (`portal figures rebuild`; the migration that made the table ran it).
A purged case stays counted: it was opened in its month, as its tombstone records.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import Insert, delete, insert, select
from sqlalchemy.orm import Session

from portal.database import add_to_counts, adding
from portal.models import Case, CaseFigure

ACK_STEP_MINUTES = 6  # the time to acknowledge is counted in tenths of an hour


def month_of(at: datetime) -> str:
    return f"{at.year:04d}-{at.month:02d}"


def _ack_figure(created: datetime, acknowledged: datetime) -> str:
    minutes = max((acknowledged - created).total_seconds(), 0) / 60
    return f"ack:{int(minutes // ACK_STEP_MINUTES)}"


def _opened_figures(categories: str, platforms: str) -> list[str]:
    return (["opened"] + [f"category:{c}" for c in filter(None, categories.split(","))]
            + [f"platform:{p}" for p in filter(None, platforms.split(","))])


def _count(session: Session, school_id: int, month: str, names: list[str]) -> None:
    """Add one to each of these figures of a school's month, in one statement."""
    add_to_counts(session, CaseFigure, _rows(school_id, month, names), keys=KEYS)


KEYS = ("school_id", "month", "figure")


def _rows(school_id: int, month: str, names: list[str]) -> list[dict]:
    return [dict(school_id=school_id, month=month, figure=name, count=1) for name in names]


def opened(session: Session, case: Case) -> tuple[Insert, list[dict]]:
    """A case was opened: the statement and rows that count it in its month, with its categories and platforms, for
    the caller to send with another statement (a database.Write: a new case's go with its counter's)."""
    return adding(session, CaseFigure, KEYS), _rows(case.school_id, month_of(case.created_at),
                                                    _opened_figures(case.categories, case.platforms))


def count_acknowledged(session: Session, case: Case) -> None:
    """A case was acknowledged: count the time it took, in the month it was opened."""
    _count(session, case.school_id, month_of(case.created_at), [_ack_figure(case.created_at, case.acknowledged_at)])


def rebuild(session: Session) -> int:
    """Recount every figure from the cases; returns how many cases were counted."""
    counts: Counter[tuple[int, str, str]] = Counter()
    rows = session.execute(select(Case.school_id, Case.created_at, Case.acknowledged_at, Case.categories,
                                  Case.platforms).execution_options(yield_per=5000))
    counted = 0
    for school_id, created, acknowledged, categories, platforms in rows:
        month = month_of(created)
        for figure in _opened_figures(categories or "", platforms or ""):
            counts[school_id, month, figure] += 1
        if acknowledged is not None:
            counts[school_id, month, _ack_figure(created, acknowledged)] += 1
        counted += 1
    session.execute(delete(CaseFigure))
    if counts:
        session.execute(insert(CaseFigure), [dict(school_id=school_id, month=month, figure=figure, count=count)
                                             for (school_id, month, figure), count in counts.items()])
    return counted


def query(school_id: int, first_month: str):
    """(month, figure, count) of a school from `first_month` on."""
    return select(CaseFigure.month, CaseFigure.figure, CaseFigure.count).where(
        CaseFigure.school_id == school_id, CaseFigure.month >= first_month)


def read(session: Session, school_id: int, first_month: str) -> list[tuple[str, str, int]]:
    """(month, figure, count) of a school from `first_month` on."""
    return session.execute(query(school_id, first_month)).all()
