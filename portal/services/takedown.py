"""The takedown tracker of a case: the links, channels and accounts where the material was posted (and the victim's
personal details posted with it), each confirmed by a counselor and followed from found to removed. Every change is
a response-log entry and an audit row; the link itself is case content and stays in encrypted columns. Every change
also sets the item's district-signal MAC (services/district_signal.py), so no path can leave it stale."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from portal.models import Case, TakedownItem, User
from portal.models.base import utcnow
from portal.models.cases import DETAIL_KINDS, ITEM_KINDS, ITEM_NEXT, ITEM_STATUSES
from portal.services import audit, content, district_signal, handles
from portal.services.cases import CaseError, append_entry, victim_may_be_minor
from portal.services.handles import NAME_HOSTS, PLATFORMS


@dataclass(frozen=True)
class Suggestion:
    """A link or handle found in the report or the log that is not an item yet, and when it was first seen."""

    normal: str
    platform: str
    seen_at: datetime


def items(case: Case) -> list[TakedownItem]:
    """The case's items, without those merged into another."""
    return [item for item in case.takedown_items if item.merged_into_id is None]


def _tracked(case: Case) -> set[str]:
    """The links the case's link items (merged ones too) already stand for; where personal details were posted is
    not one of them, since the channel itself still needs its own item."""
    return {normal for item in case.takedown_items
            if item.kind == "link" and (normal := handles.normalise(item.target))}


def suggestions(case: Case) -> list[Suggestion]:
    """Links and handles written in the report's links field and in log entries that no item stands for yet."""
    tracked = _tracked(case)
    found: dict[str, Suggestion] = {}
    sources = [(case.links, case.first_seen or case.created_at)]
    sources += [(f"{entry.link or ''}\n{entry.text or ''}", entry.happened_at) for entry in case.entries
                if entry.takedown_item_id is None]
    for text, seen_at in sources:
        for one in handles.find(text):
            if one.normal not in tracked and one.normal not in found:
                found[one.normal] = Suggestion(one.normal, one.platform, seen_at)
    return list(found.values())


def confirm(session: Session, user: User, case: Case, normals: list[str], *, address: str | None = None,
            now: datetime | None = None) -> list[TakedownItem]:
    """Make an item of each chosen suggestion, found when it was first seen."""
    now = now or utcnow()
    offered = {s.normal: s for s in suggestions(case)}
    if not normals or any(normal not in offered for normal in normals):
        raise CaseError("takedown_choose")
    return [_add(session, user, case, "link", normal, offered[normal].platform, "", offered[normal].seen_at, now,
                 address) for normal in dict.fromkeys(normals)]


def add(session: Session, user: User, case: Case, *, kind: str, target: str | None, platform: str | None,
        detail_kinds: list[str], found_at: datetime, address: str | None = None,
        now: datetime | None = None) -> TakedownItem:
    """Add an item by hand: a link or handle, or which personal details were posted and where."""
    now = now or utcnow()
    if kind not in ITEM_KINDS:
        raise CaseError("takedown_kind")
    parsed = handles.parse(target) if target and target.strip() else None
    if kind == "link" and parsed is None:
        raise CaseError("takedown_link")
    if kind == "details" and (not detail_kinds or any(d not in DETAIL_KINDS for d in detail_kinds)):
        raise CaseError("takedown_details")
    if target and target.strip() and parsed is None:
        raise CaseError("takedown_link")
    if parsed and kind == "link" and parsed.normal in _tracked(case):
        raise CaseError("takedown_duplicate")
    _check_time(found_at, now)
    chosen = platform if platform in PLATFORMS else (parsed.platform if parsed else "other")
    details = ",".join(d for d in DETAIL_KINDS if d in detail_kinds) if kind == "details" else ""
    return _add(session, user, case, kind, parsed.normal if parsed else None, chosen, details, found_at, now,
                address)


def _check_time(when: datetime, now: datetime) -> None:
    if when > now + timedelta(minutes=5):
        raise CaseError("in_future")


def _add(session: Session, user: User, case: Case, kind: str, target: str | None, platform: str, details: str,
         found_at: datetime, now: datetime, address: str | None) -> TakedownItem:
    item = TakedownItem(case_id=case.id, kind=kind, target=target, platform=platform, detail_kinds=details,
                        status="found", found_at=found_at, created_at=now, updated_at=now)
    item.handle_mac = district_signal.mac_for(item, case)
    session.add(item)
    case.takedown_items.append(item)
    session.flush()
    _log(session, user, case, item, "takedown_item_added", found_at, now, address)
    return item


def _log(session: Session, user: User, case: Case, item: TakedownItem, kind: str, happened_at: datetime,
         now: datetime, address: str | None, reference: str | None = None) -> None:
    """The chronology entry and the audit row of one change (the audit row names the item, never its link)."""
    entry = append_entry(session, user, case, kind, happened_at, now, link=item.target, platform=item.platform,
                         takedown_status=item.status, report_number=reference, takedown_item_id=item.id)
    audit.record(session, kind, actor=user, case_id=case.id, school_id=case.school_id,
                 target=f"takedown:{item.id}:entry:{entry.id}", address=address)


def _item(case: Case, item_id: int | None) -> TakedownItem:
    item = next((i for i in items(case) if i.id == item_id), None)
    if item is None:
        raise CaseError("takedown_item")
    return item


def change_status(session: Session, user: User, case: Case, item_id: int, status: str, happened_at: datetime, *,
                  reference: str | None = None, address: str | None = None,
                  now: datetime | None = None) -> TakedownItem:
    """Move an item on (found → removal requested → removed → reappeared, and requested again), with the date of
    the change and any reference the platform or the support center gave."""
    now = now or utcnow()
    item = _item(case, item_id)
    if status not in ITEM_STATUSES or status not in ITEM_NEXT[item.status]:
        raise CaseError("takedown_status")
    _check_time(happened_at, now)
    if happened_at < item.found_at.replace(second=0, microsecond=0):  # forms give the time to the minute
        raise CaseError("takedown_before_found")
    reference = (reference or "").strip() or None
    item.status = status
    setattr(item, f"{status}_at", happened_at)
    if status == "requested":
        item.requested_by_id = user.id
    if reference:
        item.reference = reference
    item.updated_at = now
    item.handle_mac = district_signal.mac_for(item, case)
    _log(session, user, case, item, "takedown_status_changed", happened_at, now, address, reference)
    return item


def merge(session: Session, user: User, case: Case, keep_id: int, other_id: int, *, address: str | None = None,
          now: datetime | None = None) -> TakedownItem:
    """Two items are the same channel: the second lives on in the first, which keeps its status."""
    now = now or utcnow()
    keep, other = _item(case, keep_id), _item(case, other_id)
    if keep.id == other.id:
        raise CaseError("takedown_merge_same")
    other.merged_into_id = keep.id
    other.updated_at = keep.updated_at = now
    other.handle_mac, keep.handle_mac = district_signal.mac_for(other, case), district_signal.mac_for(keep, case)
    _log(session, user, case, other, "takedown_items_merged", now, now, address)
    return keep


# --- the request packet ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Packet:
    """What a takedown request packet carries: the case's items for the jurisdiction's takedown support service
    (None when the school's help pack names none), the victim's names only when the counselor ticked that the
    person or their guardian agreed, and whether Take It Down applies (the person affected may be under 18)."""

    case: Case
    items: list[TakedownItem]
    service: content.HelpLine | None
    names: str | None
    under_18: bool
    made_by: User
    made_at: datetime


def packet(session: Session, user: User, case: Case, *, with_names: bool, plain_text: bool = False,
           address: str | None = None, now: datetime | None = None) -> Packet:
    """The request packet of a case. Producing it, as a page or as plain text, is a read of the case, audited with
    the number of items and whether names went into it; the tick itself is stored nowhere, so it is never taken
    for recorded consent."""
    listed = items(case)
    names = ((case.victim_names or "").strip() or None) if with_names else None
    audit.record(session, "takedown_packet", actor=user, case_id=case.id, school_id=case.school_id,
                 target=f"items:{len(listed)}:names:{'yes' if names else 'no'}:{'text' if plain_text else 'page'}",
                 address=address)
    return Packet(case, listed, content.help_pack(case.school.jurisdiction).role("removal_requests"), names,
                  victim_may_be_minor(case), user, now or utcnow())


# Paths on those sites that are not an account: a post (`instagram.com/p/…`), a private channel's message
# (`t.me/c/…`), an invite, a search. A link there names no account the packet could state.
NOT_ACCOUNTS = frozenset({"c", "joinchat", "addstickers", "proxy", "share", "p", "reel", "reels", "tv", "stories",
                          "explore", "i", "intent", "search", "hashtag", "home"})


def account_name(item: TakedownItem) -> str | None:
    """The channel or account name in an item's link (`t.me/somechannel/12` gives `somechannel`), where the link
    names one: not for an invite code, a post without its account, a web page or personal details without a link."""
    host, _, path = (item.target or "").partition("/")
    name = path.split("/")[0]
    if host not in NAME_HOSTS or not name or name.startswith("+") or name in NOT_ACCOUNTS:
        return None
    return name
