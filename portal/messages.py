"""One table: the translated sentence for each code a ServiceError can carry (portal.services.errors)."""

from flask_babel import lazy_gettext as _l

from portal import jurisdiction
from portal.services.errors import ServiceError

MESSAGES = {
    # accounts and schools
    "too_short": _l("The password must have at least 10 characters."),
    "too_long": _l("The password is too long."),
    "too_common": _l("That password is too easy to guess. Choose a longer phrase that is not your username."),
    "bad_username": _l("Usernames use only letters, digits, '-', '_' and '.'."),
    "bad_role": _l("That role does not exist."),
    "bad_school": _l("Every user except a district admin belongs to a school."),
    "username_taken": _l("That username is already in use."),
    "bad_email": _l("Enter one e-mail address, such as name@school.kr, without spaces or commas."),
    "bad_school_code": _l("School codes use 1 to 24 lowercase letters (a-z), digits and '-', starting with a letter "
                          "or digit."),
    "code_taken": _l("That school code is already in use."),
    "not_allowed": _l("You are not allowed to do that."),
    "bad_encoding": _l("The file is neither UTF-8 nor CP949 text."),
    "bad_link": _l("This link has expired or was already used. Ask your school admin for a new one."),
    "roster_invalid": _l("The file has problems; nothing was imported. Fix the lines named below and try again."),
    "lead_not_counselor": _l("Only a counselor of this school can be the lead."),
    "wrong_code": _l("That code is not right, or was already used. Enter the current code from your app."),
    # cases
    "not_new": _l("This case was already acknowledged."),
    "bad_transition": _l("That status change is not possible now."),
    "already_closed": _l("This case is already closed."),
    "acknowledge_first": _l("Acknowledge the case before closing it."),
    "bad_outcome": _l("Choose an outcome."),
    "not_closed": _l("Only a closed case can be reopened."),
    "bad_kind": _l("Choose what was done."),
    "closed": _l("The case is closed. Reopen it to add to the log."),
    "in_future": _l("The time cannot be in the future."),
    "agency_required": _l("Enter the police agency the report was made to."),
    "takedown_fields": _l("Enter the link and the status of the takedown request."),
    "text_required": _l("Write what was done."),
    "bad_correction": _l("Choose an entry of this case to correct."),
    "bad_assignee": _l("Choose a counselor of this school."),
    "excluded": _l("That person was excluded from this case by the reporter."),
    "reasons_required": _l("Give a reason for each legal duty that is still open."),
    "duty_not_open": _l("That checklist item is already done or marked not applicable."),
    "reason_required": _l("Give the reason; it is kept in the log."),
    "bad_classification": _l("Choose yes or no."),
    "already_classified": _l("This request was already classified."),
    # the takedown tracker
    "takedown_choose": _l("Tick at least one of the links found; nothing was added."),
    "takedown_kind": _l("Choose what to add."),
    "takedown_link": _l("Enter one link, channel or account, such as t.me/channel or @account."),
    "takedown_details": _l("Tick which personal details were posted. Do not write the details themselves."),
    "takedown_duplicate": _l("This link or account is already an item of this case."),
    "takedown_item": _l("Choose an item of this case."),
    "takedown_status": _l("That status cannot follow the item's current status."),
    "takedown_before_found": _l("The date cannot be before the item was found."),
    "takedown_merge_same": _l("Choose two different items to merge."),
    # reports
    # Translators: shown on the report form when the reporter's exclusions leave nobody to receive the report.
    "nobody_to_receive": _l("Nobody at your school could receive this report: everyone who can receive reports is "
                            "ticked as someone who must not see it. Untick at least one person. If you cannot trust "
                            "anyone at the school with it, tell your district education office or call %(police)s "
                            "instead."),
    "bad_token": _l("This form could not be sent. Reload the page and send it again."),
    # Translators: a school whose counselors and admins have no accounts in the portal yet.
    "school_unstaffed": _l("Nobody at your school can receive this in the portal yet. Please tell a teacher you "
                           "trust, or call %(police)s if someone is in danger."),
    # Translators: the school's public page had its hourly number of new reports (a limit against spam).
    "channel_busy": _l("This school's page has received many reports in the last hour, so it is not taking new "
                       "ones for a little while. Nothing was sent. If someone is in danger, call %(police)s now. "
                       "Otherwise "
                       "try again in an hour, or tell a teacher or counselor you trust."),
    # Translators: the school's public page is checking another sender's code at this very moment (a limit that
    # keeps the server free for staff); what was typed is kept on the page.
    "page_busy": _l("Many people are using this page at this moment, so this was not sent. Nothing you wrote is "
                    "lost: wait a few seconds and send it again."),
    # the conversation with the reporter
    "message_required": _l("Write your message first."),
    "too_many_messages": _l("Many messages were sent on this report in the last hour, so this one was not sent; "
                            "it is still in the box. Send it again in an hour. If someone is in danger, call "
                            "%(police)s now."),
    "message_too_long": _l("The message is too long: write at most 4,000 characters."),
    "no_reporter": _l("Nobody can read a message on this case: it has no reporter who can sign in or use a code."),
    # lesson assignments
    "unknown_lesson": _l("That lesson is not available."),
    "due_in_past": _l("The due date cannot be in the past."),
}


def message_for(error: ServiceError) -> str:
    """The translated sentence for a service's refusal, with the numbers to call where the school is."""
    return str(MESSAGES.get(error.code, MESSAGES["not_allowed"])) % jurisdiction.numbers()
