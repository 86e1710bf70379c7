"""The takedown request packet as a document: sections of translated lines, written once and shown twice, as the
printable page and as its plain-text copy, so that the two never say different things."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from flask_babel import gettext as _

from portal import jurisdiction
from portal.i18n import locale_code, localized, show_datetime
from portal.labels import label
from portal.models import TakedownItem
from portal.services.takedown import Packet, account_name

# Where Take It Down is found (incident-anchors.md, "NCMEC Take It Down" [N1]); written out, never a link the page
# loads: the portal makes no request to another site.
TAKE_IT_DOWN = "takeitdown.ncmec.org"


@dataclass(frozen=True)
class Section:
    """One part of the packet: a heading, its paragraphs, and a numbered list whose entries have one or more lines."""

    heading: str
    lines: tuple[str, ...] = ()
    entries: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class Document:
    """The whole packet: a title and its sections."""

    title: str
    sections: tuple[Section, ...]

    @property
    def text(self) -> str:
        """The plain-text copy, for pasting into a web form or an e-mail."""
        out = [self.title, "=" * _width(self.title)]
        for section in self.sections:
            out += ["", section.heading, "-" * _width(section.heading), *section.lines]
            for number, entry in enumerate(section.entries, 1):
                marker = f"{number}. "
                out += [marker + entry[0], *(" " * len(marker) + line for line in entry[1:])]
        return "\n".join(out) + "\n"


def _width(line: str) -> int:
    """How many columns a line takes in a fixed-width font, where a Korean letter takes two: its underline's length."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in line)


def document(packet: Packet) -> Document:
    """The packet in the reader's language, with times in the school's time zone."""
    case = packet.case
    sections = [
        _to(packet),
        # Translators: a heading of the takedown request packet: the school that sends it.
        Section(_("From"), (
            case.school.name(locale_code()),
            _("Case reference: %(reference)s", reference=case.reference),
            _("Prepared %(when)s by %(who)s", when=show_datetime(packet.made_at), who=packet.made_by.display_name),
            _("Times are in the school's time zone (%(zone)s).", zone=case.school.timezone),
            _("Confidential: for the takedown support service only."),
        )),
        Section(_("The person affected"), (
            _("Who is affected: %(who)s", who=label("victim", case.victim_kind)),
            _("Name, shared with the agreement of the person affected or their guardian: %(names)s",
              names=" ".join(packet.names.split())) if packet.names else
            _("No name of the person affected is in this packet. The school gives it only with the agreement of "
              "the person or their guardian."),
        )),
        Section(_("Where the material was posted"),
                () if packet.items else (_("No takedown item is confirmed in the case yet."),),
                tuple(_item(item) for item in packet.items)),
        _steps(packet),
    ]
    if packet.under_18:
        sections.append(_take_it_down())
    # Translators: the title of the printable packet a school sends to ask for the removal of sexual deepfakes.
    return Document(_("Takedown request packet %(reference)s", reference=case.reference), tuple(sections))


def _to(packet: Packet) -> Section:
    service = packet.service
    # Translators: a heading of the takedown request packet: the support service it is sent to.
    heading = _("To")
    if service is None:  # the jurisdiction's own words on where removal requests go (content/duties/)
        return Section(heading, (jurisdiction.notice_text("removal_requests"),))
    lines = [localized(service.name)]
    if service.number:
        lines.append(_("Phone: %(number)s", number=service.number))
    if service.url:
        lines.append(_("Online: %(url)s", url=service.url))
    if service.hours:
        # Translators: when a help line answers, e.g. "Open: 365 days a year".
        lines.append(_("Open: %(hours)s", hours=localized(service.hours)))
    return Section(heading, tuple(lines))


def _item(item: TakedownItem) -> tuple[str, ...]:
    """One item: its link (or which personal details were posted, never the details), platform, channel or account
    name, when it was first seen, its status with the date of each change, and any reference."""
    if item.kind == "details":
        kinds = ", ".join(label("detail", d) for d in item.detail_list)
        lines = [_("Personal details of the person affected posted with the material: %(kinds)s (the details "
                   "themselves are not in this packet)", kinds=kinds)]
        if item.target:
            lines.append(_("Where: %(link)s", link=item.target))
    else:
        lines = [item.target or ""]
    lines.append(_("Platform: %(platform)s", platform=label("platform", item.platform)))
    if name := account_name(item):
        lines.append(_("Channel or account: %(name)s", name=name))
    lines.append(_("First seen: %(when)s", when=show_datetime(item.found_at)))
    lines.append(_("Status: %(status)s", status=label("takedown", item.status)))
    for status in ("requested", "removed", "reappeared"):
        if when := getattr(item, f"{status}_at"):
            # Translators: a dated step of a takedown, e.g. "Removal requested: 21 Nov 2026, 9:00 AM".
            lines.append(_("%(status)s: %(when)s", status=label("takedown", status), when=show_datetime(when)))
    if item.reference:
        lines.append(_("Reference: %(reference)s", reference=item.reference))
    return tuple(lines)


def _steps(packet: Packet) -> Section:
    """How to send it. What a request needs is the Digital Sex Crime Victim Support Center's list
    (incident-anchors.md §3): the requester's ID, proof the material shows the victim, post titles and URLs. A pack
    with no such service says where requests go in its own words (the "To" part), and states no list."""
    service = packet.service
    if service is None:
        entries = [(_("Send the links above where the “To” part says."),)]
    else:
        if service.url:
            first = _("Call %(number)s (%(name)s), or write on its private online board at %(url)s, and send the "
                      "links above.", name=localized(service.name), number=service.number, url=service.url)
        else:
            first = _("Call %(number)s (%(name)s) and send the links above.", name=localized(service.name),
                      number=service.number)
        entries = [(first,), (_("A removal request needs the ID of the person making the request, proof that the "
                                "material shows the person affected, and the titles and links (URLs) of the "
                                "posts."),)]
    entries += [
        (_("The school never attaches the material or a screenshot of it, and never downloads, saves or forwards "
           "it. The support center or the police handle the material itself."),),
        (_("When the request is sent, record “Removal requested” on each item in the case's takedown panel, with "
           "any reference you are given."),),
    ]
    return Section(_("How to send the request"), entries=tuple(entries))


def _take_it_down() -> Section:
    """NCMEC's Take It Down for a young person, worded as incident-anchors.md "NCMEC Take It Down" has it."""
    return Section(_("For a young person under 18: NCMEC Take It Down"), (
        _("NCMEC's Take It Down (%(site)s) is for nude, partially nude or sexually explicit images or videos "
          "taken when the person was under 18.", site=TAKE_IT_DOWN),
        _("Use it only if the young person already has the image on their own device. The hash (a digital "
          "fingerprint of the image) is made there, on the device."),
        _("Never download, save or keep the image for this: not the school, not the young person, not anyone "
          "helping them."),
        _("It does not work on encrypted platforms."),
        _("Whether it accepts AI-made images is not confirmed in our references."),
    ))
