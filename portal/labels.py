"""Translated names for the codes stored on cases, for templates."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from portal.reports.forms import CATEGORY_LABELS, PLATFORM_LABELS, VICTIM_LABELS, YNU_LABELS

STATUS_LABELS = {
    "new": _l("New"), "acknowledged": _l("Acknowledged"), "in_progress": _l("In progress"), "closed": _l("Closed"),
}
# Translators: what a reporter sees about their report; never more than this.
REPORTER_STATUS_LABELS = {
    "new": _l("Sent: waiting for a counselor"), "acknowledged": _l("A counselor has picked it up"),
    "in_progress": _l("A counselor has picked it up"), "closed": _l("Closed"),
}
ENTRY_LABELS = {
    "note": _l("Note"), "victim_contact": _l("Contact with the person affected"),
    "guardian_contact": _l("Contact with guardians"), "police_report": _l("Report to the police"),
    "dsc_referral": _l("Referral to the Digital Sex Crime Victim Support Center"),
    "takedown": _l("Takedown request"), "school_violence_procedure": _l("School-violence procedure"),
    "safety_measure": _l("Safety and separation measures"), "counselling": _l("Counselling session"),
    "follow_up": _l("Follow-up"), "outcome": _l("Outcome"),
}
OUTCOME_LABELS = {
    "resolved": _l("Resolved at school"), "referred_to_police": _l("Handled by the police"),
    "school_violence_committee": _l("Handled by the school-violence committee"),
    "no_further_action": _l("No further action needed"), "transferred": _l("Transferred to another body"),
}
TAKEDOWN_LABELS = {"requested": _l("Requested"), "removed": _l("Removed"), "reappeared": _l("Reappeared")}

AUDIT_LABELS = {
    "case_created": _l("Report sent"), "case_viewed": _l("Opened the case file"),
    "case_exported": _l("Printed the case report"), "case_denied": _l("Tried to open it without access"),
    "case_acknowledged": _l("Acknowledged"), "case_in_progress": _l("Marked in progress"),
    "case_closed": _l("Closed"), "case_reopened": _l("Reopened"), "entry_added": _l("Added to the log"),
    "assignee_added": _l("Added a counselor"), "case_transferred": _l("Handed the case over"),
    "access_log_viewed": _l("Viewed this access list"), "receipt_viewed": _l("Viewed the receipt"),
    "escalated_ack": _l("Escalated: not acknowledged in time"), "escalated_duty": _l("Escalated: duty overdue"),
}

GROUPS = {
    "status": STATUS_LABELS, "reporter_status": REPORTER_STATUS_LABELS, "entry": ENTRY_LABELS,
    "outcome": OUTCOME_LABELS, "takedown": TAKEDOWN_LABELS, "category": CATEGORY_LABELS,
    "platform": PLATFORM_LABELS, "victim": VICTIM_LABELS, "ynu": YNU_LABELS, "audit": AUDIT_LABELS,
}


def label(group: str, code: str | None) -> str:
    """The translated name of a stored code."""
    return str(GROUPS[group].get(code or "", code or ""))


def init_app(app: Flask) -> None:
    """Expose label() and friends to templates."""
    from portal.services.notify import describe

    app.jinja_env.globals.update(label=label, describe_notice=describe,
                                 audit_action=lambda action: label("audit", action))
