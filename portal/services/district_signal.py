"""The district signal: the same channel or account named in open cases at two or more schools of the district.

Schools never share a case or a link for this. Each link item of an open case carries a keyed HMAC of its normal
form (services/handles.py) under SIGNAL_KEY, which is kept with the other keys outside the database; equal MACs at
different schools are the same channel. The district admin sees, per MAC, how many schools and the first and last
dates it was found, under a short label made from the MAC; each reporting school's lead counselor sees on their
item that other schools reported it too. Nobody sees the link through the signal, nor which schools.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, distinct, func, or_, select, update
from sqlalchemy.orm import Session

from portal.crypto import signal_mac
from portal.models import Case, School, TakedownItem, User
from portal.models.accounts import Role
from portal.models.cases import OPEN_STATUSES
from portal.services import handles

MIN_SCHOOLS = 2  # one school's own cases are its own business: a signal needs a second school


@dataclass(frozen=True)
class Signal:
    """One channel in open cases at several schools: its MAC, how many schools, first and last found."""

    mac: str
    schools: int
    first_found: datetime
    last_found: datetime

    @property
    def label(self) -> str:
        """A short reference to talk about the channel by, e.g. "3F9A-C21B": the first 32 bits of the MAC."""
        return label_of(self.mac)


def label_of(mac: str) -> str:
    """The short reference of a MAC that the district admin and the lead counselors both see."""
    return f"{mac[:4]}-{mac[4:8]}".upper()


def mac_for(item: TakedownItem, case: Case) -> str | None:
    """The MAC an item carries: that of its link when it is a link item of an open case not merged into another,
    None otherwise (a closed case's channel no longer counts, and a merged item lives on in the one it joined)."""
    if item.kind != "link" or item.merged_into_id is not None or case.status not in OPEN_STATUSES:
        return None
    normal = handles.normalise(item.target)
    return signal_mac(normal) if normal else None


def seal_case(case: Case) -> None:
    """Set the MAC of every item of a case after its status changed (closed: cleared; reopened: set again)."""
    for item in case.takedown_items:
        item.handle_mac = mac_for(item, case)


def recompute(session: Session) -> int:
    """Set every item's MAC again under the current SIGNAL_KEY (after a rotation); returns how many are set. Only
    the link items of open cases are read and decrypted: any other item's MAC is cleared in one statement (closing
    a case already cleared them), so the work follows the open cases, not every case ever kept."""
    session.execute(update(TakedownItem).where(
        TakedownItem.handle_mac.is_not(None),
        or_(TakedownItem.kind != "link", TakedownItem.case_id.in_(select(Case.id).where(
            Case.status.not_in(OPEN_STATUSES))))).values(handle_mac=None).execution_options(synchronize_session=False))
    count = 0
    rows = session.execute(select(TakedownItem, Case).join(Case, Case.id == TakedownItem.case_id)
                           .where(TakedownItem.kind == "link", Case.status.in_(OPEN_STATUSES))
                           .execution_options(yield_per=500))
    for item, case in rows:
        item.handle_mac = mac_for(item, case)
        count += item.handle_mac is not None
    session.flush()
    return count


_SCHOOLS = func.count(distinct(Case.school_id))


def _shared() -> Select:
    """MAC, schools, first and last found, of every MAC in open cases at MIN_SCHOOLS or more active schools: one
    GROUP BY over the items (only link items of open cases that are not merged carry a MAC)."""
    return (select(TakedownItem.handle_mac, _SCHOOLS, func.min(TakedownItem.found_at),
                   func.max(TakedownItem.found_at))
            .join(Case, Case.id == TakedownItem.case_id).join(School, School.id == Case.school_id)
            .where(TakedownItem.handle_mac.is_not(None), Case.status.in_(OPEN_STATUSES), School.is_active.is_(True))
            .group_by(TakedownItem.handle_mac).having(_SCHOOLS >= MIN_SCHOOLS))


PAGE_SIZE = 50  # channels on a page of the district dashboard


@dataclass(frozen=True)
class SignalPage:
    """One page of the channels reported at several schools: its number (from 1), its channels, how many there are
    in all, and how many a page holds."""

    number: int
    signals: list[Signal]
    total: int
    size: int

    @property
    def first(self) -> int:
        """The position of the page's first channel in the whole list, from 1."""
        return (self.number - 1) * self.size + 1

    @property
    def last(self) -> int:
        return self.first + len(self.signals) - 1

    @property
    def more(self) -> bool:
        return self.last < self.total


def signal_page(session: Session, number: int = 1) -> SignalPage:
    """A page of the channels reported in open cases at two or more schools: the most schools first, then the most
    recently found. One statement: the total comes with the rows (a window over the groups). A page past the end
    (the channels were closed since its link was made) gives the first page."""
    size = PAGE_SIZE
    number = max(number, 1)
    rows = session.execute(_shared().add_columns(func.count().over())
                           .order_by(_SCHOOLS.desc(), func.max(TakedownItem.found_at).desc(), TakedownItem.handle_mac)
                           .limit(size).offset((number - 1) * size)).all()
    if not rows and number > 1:
        return signal_page(session)
    return SignalPage(number, [Signal(mac, schools, first, last) for mac, schools, first, last, _total in rows],
                      rows[0][4] if rows else 0, size)


def shared_items(session: Session, user: User, case: Case, items: list[TakedownItem]) -> dict[int, str]:
    """For the school's lead counselor, the items of this open case whose channel other schools reported too, each
    with its signal label; empty for anyone else (an assigned counselor who is not the lead sees nothing)."""
    if not (user.role == Role.COUNSELOR and user.is_lead and user.school_id == case.school_id
            and case.status in OPEN_STATUSES):
        return {}
    macs = {item.handle_mac for item in items if item.handle_mac}
    if not macs:
        return {}
    shared = set(session.scalars(select(_shared().where(TakedownItem.handle_mac.in_(macs)).subquery().c.handle_mac)))
    return {item.id: label_of(item.handle_mac) for item in items if item.handle_mac in shared}
