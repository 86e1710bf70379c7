"""Which jurisdiction's law and help lines a page shows, and the sentences it takes from that pack.

A page about a school (its public page, a signed-in user's pages) follows that school's pack (content/duties/ and
content/help/ <jurisdiction>.yml); a visitor's page follows the deployment's DEFAULT_JURISDICTION. Every screen that
states the law or a help line asks here, so a school set to another jurisdiction never reads Korea's articles.

Where each notice appears: staff_duty the report form; teacher_duty the teacher's dashboard; student_duty and
reporter_secrecy the notice before a student or visitor sends something; possession the report form's "do not
save" list; receipt_police the report receipt when the police were not told; victim_identity the printed case;
staff_training the staff lessons and the admin dashboard; classification the classification of a request for help;
removal_requests the takedown packet of a school whose pack names no service that takes removal requests.
"""

from __future__ import annotations

from flask import Flask, current_app, g, has_request_context
from flask_babel import gettext as _
from markupsafe import Markup

from portal import labels
from portal.i18n import inline_lang, localized
from portal.services import duties
from portal.services.content import HelpLine, HelpPack, help_pack


def use(jurisdiction: str) -> None:
    """Make this request's pages follow a school's jurisdiction (its public page, before anyone signs in)."""
    g.portal_jurisdiction = jurisdiction


def current(load: bool = True) -> str:
    """The jurisdiction of this request: the page's school, the signed-in user's school, else the deployment's.
    With load=False it never asks the database (the page for a database that failed names the police number too)."""
    if has_request_context():
        if "portal_jurisdiction" in g:
            return g.portal_jurisdiction
        user = g.get("_login_user")  # the user flask-login already loaded, if any
        if getattr(user, "is_authenticated", False):
            school = user.school if load else vars(user).get("school")
            if school is not None:
                return school.jurisdiction
    return current_app.config["DEFAULT_JURISDICTION"]


def pack() -> duties.DutyPack:
    """The duty pack this request follows."""
    return duties.pack(current())


def helplines() -> HelpPack:
    """The help lines this request follows."""
    return help_pack(current())


def line(role: str) -> HelpLine | None:
    """The help line this request's pack names for a role, if it has one with a number to call."""
    found = helplines().role(role)
    return found if found is not None and found.number else None


def numbers() -> dict[str, str]:
    """What to call, for sentences such as "call %(police)s now": the pack's number, else the words."""
    police = line("police")
    # Translators: what to call when the school's jurisdiction has no police number ("call the police now").
    return {"police": police.number if police else _("the police")}


def notice_text(notice_id: str) -> str:
    """The same sentence as plain text (the packet's text copy)."""
    found = pack().notices.get(notice_id)
    return " ".join(localized(part) for part in (found.text, found.check_local) if part) if found else ""


def notice(notice_id: str) -> Markup:
    """A screen's sentence about the law: what the pack states, then what to check with the local authority."""
    found = pack().notices.get(notice_id)
    if found is None:  # a pack that passed `portal content check` has every notice; a broken one shows nothing
        return Markup("")
    parts = [inline_lang(localized(found.text))] if found.text else []
    if found.check_local:
        parts.append(inline_lang(localized(found.check_local)))
    return Markup(" ").join(parts)


def entry_label(kind: str, jurisdiction: str | None = None) -> str | None:
    """The jurisdiction's own name for an entry kind (the support service a case is referred to), if it has one."""
    names = duties.pack(jurisdiction or current()).entry_labels.get(kind)
    return localized(names) if names else None


def label(group: str, code: str | None) -> str:
    """labels.label, with the jurisdiction's own names for its entry kinds (the service a case is referred to)."""
    if group == "entry" and code and (own := entry_label(code)):
        return own
    return labels.label(group, code)


def choices() -> list[tuple[str, str]]:
    """(code, name) of every jurisdiction with a pack, for the school settings."""
    return [(code, localized(p.name)) for code, p in sorted(duties.packs().items())]


def init_app(app: Flask) -> None:
    """Expose the helpers to templates."""
    app.config.setdefault("DEFAULT_JURISDICTION", "KR")
    app.jinja_env.globals.update(law_notice=notice, help_line=line, help_numbers=numbers,
                                 current_jurisdiction=current, label=label)

