"""Translated names for the codes stored on cases: the one home of each vocabulary, for forms and templates."""

from __future__ import annotations

from functools import cache

from flask import Flask
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from portal.i18n import current_locale

# Each vocabulary has one home, here; forms and templates take their choices from it.
CATEGORY_LABELS = {
    "creation": _l("Someone made a fake sexual image or video of a real person"),
    "distribution": _l("Such material was shared or posted"),
    "threat": _l("Someone threatened or blackmailed a person with such material"),
    "collecting": _l("Someone collected photos of people to make such material"),
    "other": _l("Other digital sexual violence"),
}
# The same categories in plain words, for the school's public page (readers from age 10).
CHANNEL_CATEGORY_LABELS = {
    "creation": _l("Someone made a fake sexual picture or video of a real person"),
    "distribution": _l("A picture or video like that is being shared or posted"),
    "threat": _l("Someone is threatening a person with a picture like that"),
    "collecting": _l("Someone is collecting photos of people to make pictures like that"),
    "other": _l("Something else, or I am not sure"),
}
# "Who is it happening to?" on the public page, and the victim kind each answer records.
ABOUT_LABELS = {
    "student": _l("A student"), "staff": _l("A teacher or other school staff"),
    "unknown": _l("I don't know, or I'd rather not say"),
}
# "Who are you?" on the public page (the sender's words) and on the case file (the school's words).
RELATION_CHOICES = [
    ("self", _l("It is happening to me")), ("student", _l("A friend, or another student")),
    ("guardian", _l("A parent or guardian")), ("staff", _l("I work at the school")),
    ("other", _l("Someone else")), ("unsaid", _l("I'd rather not say")),
]
RELATION_LABELS = {
    "self": _l("The person it is happening to"), "student": _l("A friend or another student"),
    "guardian": _l("A parent or guardian"), "staff": _l("School staff"), "other": _l("Someone else"),
    "unsaid": _l("Did not say"),
}
PLATFORM_LABELS = {
    "telegram": _l("Telegram"), "kakaotalk": _l("KakaoTalk"), "instagram": _l("Instagram"),
    "discord": _l("Discord"), "x": _l("X (Twitter)"), "other": _l("Another place"),
}
VICTIM_LABELS = {"student": _l("Student(s)"), "staff": _l("Staff member(s)"), "unknown": _l("Not known yet")}
YNU_LABELS = {"yes": _l("Yes"), "no": _l("No"), "unknown": _l("I don't know")}

STATUS_LABELS = {
    # Translators: the status of a case: sent, and no counselor has acknowledged it yet.
    "new": _l("New"),
    # Translators: the status of a case: a counselor has confirmed receiving it.
    "acknowledged": _l("Acknowledged"),
    # Translators: the status of a case: counselors are working on it.
    "in_progress": _l("In progress"),
    # Translators: the status of a case: closed with an outcome (it can be reopened).
    "closed": _l("Closed"),
}
# Translators: what a reporter sees about their report; never more than this.
REPORTER_STATUS_LABELS = {
    "new": _l("Sent: waiting for a counselor"), "acknowledged": _l("A counselor has picked it up"),
    "in_progress": _l("A counselor has picked it up"), "closed": _l("Closed"),
}
# The three stages a reporter sees, in order, and the stage of each status.
REPORTER_STAGES = (
    # Translators: the first stage of a report as its sender sees it: the school has it.
    ("received", _l("Received")),
    ("looking", _l("A counselor is looking at it")),
    ("closed", _l("Closed")),
)
STAGE_OF_STATUS = {"new": "received", "acknowledged": "looking", "in_progress": "looking", "closed": "closed"}
ENTRY_LABELS = {
    # Translators: a kind of entry in a case's response log: a free note.
    "note": _l("Note"),
    "victim_contact": _l("Contact with the person affected"),
    "guardian_contact": _l("Contact with guardians"), "police_report": _l("Report to the police"),
    "dsc_referral": _l("Referral to the Digital Sex Crime Victim Support Center"),
    "takedown": _l("Takedown request"), "school_violence_procedure": _l("School-violence procedure"),
    "safety_measure": _l("Safety and separation measures"), "counselling": _l("Counselling session"),
    # Translators: a kind of entry in a case's response log: checking later how the person affected is doing.
    "follow_up": _l("Follow-up"),
    # Translators: a kind of entry in a case's response log: how the case ended.
    "outcome": _l("Outcome"),
    # Written by the portal for a decision about a checklist item, never chosen on the log form.
    "duty_not_applicable": _l("Checklist item marked not applicable"),
    "duty_open_at_close": _l("Legal duty still open when the case was closed"),
    "classified_minor_sex_crime": _l("Classified: a sex crime against a minor (the checklist starts)"),
    "classified_other": _l("Classified: not a sex crime against a minor"),
    "lead_handover": _l("The new lead counselor was added to the case (by the person named)"),
    "message_to_reporter": _l("Message to the reporter"),
    "message_from_reporter": _l("Message from the reporter"),
    # Written by the takedown tracker on the case file.
    "takedown_item_added": _l("Takedown item confirmed"),
    "takedown_status_changed": _l("Takedown status changed"),
    "takedown_items_merged": _l("Takedown items merged: the same channel or account"),
}
OUTCOME_LABELS = {
    "resolved": _l("Resolved at school"), "referred_to_police": _l("Handled by the police"),
    "school_violence_committee": _l("Handled by the school-violence committee"),
    "no_further_action": _l("No further action needed"), "transferred": _l("Transferred to another body"),
    # Translators: a counselor closes spam or a prank sent through the school's public page.
    "not_genuine": _l("Not a real report"),
}
# Where the removal of one link or account stands; "found" means no removal was asked for yet.
TAKEDOWN_LABELS = {
    # Translators: the status of a link or account found with the material: no removal asked for yet.
    "found": _l("Found"),
    # Translators: the status of a request to a platform to take down an image: asked for, not yet removed.
    "requested": _l("Removal requested"),
    # Translators: the status of a takedown request: the platform removed the image.
    "removed": _l("Removed"),
    # Translators: the status of a takedown request: the image was removed, then posted again.
    "reappeared": _l("Reappeared"),
}
ITEM_KIND_LABELS = {
    "link": _l("A link, channel or account"),
    "details": _l("Personal details of the person affected, posted with the material"),
}
# Which personal details were posted: only the kind is recorded, never the detail itself.
DETAIL_LABELS = {"name": _l("Name"), "phone": _l("Phone number"), "school": _l("School"), "address": _l("Address"),
                 "other": _l("Other personal details")}

AUDIT_LABELS = {
    "case_created": _l("Report sent"), "case_viewed": _l("Opened the case file"),
    "case_exported": _l("Printed the case report"), "case_denied": _l("Tried to open it without access"),
    "case_acknowledged": _l("Acknowledged"), "case_in_progress": _l("Marked in progress"),
    "case_closed": _l("Closed"), "case_reopened": _l("Reopened"), "entry_added": _l("Added to the log"),
    "assignee_added": _l("Added a counselor"), "case_transferred": _l("Handed the case over"),
    "access_log_viewed": _l("Viewed this access list"), "receipt_viewed": _l("Viewed the receipt"),
    "escalated_ack": _l("Escalated: not acknowledged in time"),
    "escalated_duty": _l("Escalated: checklist item overdue"),
    "duty_not_applicable": _l("Marked a checklist item not applicable"),
    "case_classified": _l("Classified the request"),
    "lead_handover": _l("Added the new lead counselor to the case"),
    "message_sent": _l("Wrote to the reporter"), "reporter_message": _l("The reporter wrote"),
    "reporter_viewed": _l("The reporter opened the conversation"),
    "receipt_code_refused": _l("A wrong receipt code was entered"),
    "takedown_item_added": _l("Confirmed a takedown item"),
    "takedown_status_changed": _l("Changed a takedown status"),
    "takedown_items_merged": _l("Merged two takedown items"),
    "takedown_packet": _l("Made the takedown request packet"),
}

# The counselor's landing page: a figure for each group of open cases, and the inbox's filter by it.
ATTENTION_LABELS = {
    "open": _l("Open cases"),
    # Translators: a figure on the counselor's dashboard: cases marked urgent.
    "urgent": _l("Urgent"),
    "new": _l("Not acknowledged yet"), "due_now": _l("Police report due now"),
    # Translators: a figure on the counselor's dashboard: cases with a checklist item past its deadline.
    "overdue": _l("Overdue"),
    "waiting": _l("New messages from reporters"),
    # Translators: cases with a link, channel or account whose removal is not confirmed yet.
    "takedown": _l("Takedown not finished"),
    "takedown_late": _l("Links not removed after 7 days"),
}
CASE_KIND_LABELS = {
    "incident": _l("Incident report"), "student_request": _l("Student request for help"),
    # Translators: a case sent through the school's public page, without signing in.
    "anonymous": _l("Report through the school's page"),
}

GROUPS = {
    "status": STATUS_LABELS, "reporter_status": REPORTER_STATUS_LABELS, "entry": ENTRY_LABELS,
    "outcome": OUTCOME_LABELS, "takedown": TAKEDOWN_LABELS, "category": CATEGORY_LABELS,
    "platform": PLATFORM_LABELS, "victim": VICTIM_LABELS, "ynu": YNU_LABELS, "audit": AUDIT_LABELS,
    "relation": RELATION_LABELS, "case_kind": CASE_KIND_LABELS, "attention": ATTENTION_LABELS,
    "item_kind": ITEM_KIND_LABELS, "detail": DETAIL_LABELS,
}


def entry_author(entry) -> Markup:
    """Who wrote a log entry: a person's name, or the anonymous reporter for their messages."""
    from portal.i18n import inline_lang

    if entry.author is not None:
        return inline_lang(entry.author.display_name)
    if entry.kind == "message_from_reporter":
        return inline_lang(_l("the reporter (no account)"))
    return inline_lang("—")


def label(group: str, code: str | None) -> str:
    """The translated name of a stored code."""
    return _names(group, current_locale()).get(code or "", code or "")


@cache
def _names(group: str, _locale) -> dict[str, str]:
    """A vocabulary translated into one language: once per language and process, not once per row (a lazy
    string looks its catalog up each time it is shown). The locale is the cache's key; it is the current one."""
    return {code: str(name) for code, name in GROUPS[group].items()}


ROSTER_PROBLEMS = {
    "empty": _l("The file has no students."),
    "missing_columns": _l("Required columns are missing: %(detail)s"),
    "too_many": _l("The file has too many lines; split it into smaller files."),
    "bad_name": _l("The name is missing or too long."),
    "bad_class": _l("The class is missing or too long."),
    "bad_number": _l("The number \"%(detail)s\" is not a number from 1 to 99."),
    "bad_grade": _l("The grade \"%(detail)s\" is not a number from 1 to 12."),
    "bad_email": _l("The e-mail \"%(detail)s\" is not one plain address (no spaces, commas or line breaks)."),
    "bad_role": _l("Only students can be imported; \"%(detail)s\" is not allowed."),
    "bad_username": _l("The username \"%(detail)s\" may only use letters, digits, '-', '_' and '.'."),
    "duplicate": _l("The same student appears again; first on line %(detail)s."),
    "username_taken": _l("The username \"%(detail)s\" belongs to someone who is not a student of this school."),
}
ROSTER_CHANGES = {"name": _l("name"), "class": _l("class"), "grade": _l("grade")}


def count_text(value: int) -> str:
    """A count for an aggregate view: 1 to 4 become "fewer than 5"."""
    from portal.services.stats import suppressed

    return str(_l("fewer than 5")) if suppressed(int(value or 0)) else str(value or 0)


def init_app(app: Flask) -> None:
    """Expose label() and friends to templates."""
    from portal.services.notify import describe
    from portal.services.stats import suppressed

    app.jinja_env.globals.update(
        label=label, describe_notice=describe, audit_action=lambda action: label("audit", action),
        category_items=lambda counts: [(label("category", key), counts.get(key, 0)) for key in CATEGORY_LABELS],
        platform_items=lambda counts: [(label("platform", key), counts.get(key, 0)) for key in PLATFORM_LABELS],
        roster_problem=lambda problem: str(ROSTER_PROBLEMS[problem.code]) % {"detail": problem.detail},
        reporter_stages=REPORTER_STAGES, stage_of=STAGE_OF_STATUS.get, entry_author=entry_author,
    )
    app.jinja_env.tests["small_count"] = lambda value: suppressed(int(value or 0))
    app.jinja_env.filters.update(
        count_text=count_text,
        roster_change=lambda key: str(ROSTER_CHANGES.get(key, key)),
        grade_item=lambda item: (str(_l("Grade %(grade)s", grade=item[0])), item[1][0]),
    )
