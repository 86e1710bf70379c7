"""Translated sentences for the named errors services raise."""

from flask_babel import lazy_gettext as _l

ACCOUNT_ERRORS = {
    "too_short": _l("The password must have at least 10 characters."),
    "too_long": _l("The password is too long."),
    "too_common": _l("That password is too easy to guess. Choose a longer phrase that is not your username."),
    "bad_username": _l("Usernames use only letters, digits, '-', '_' and '.'."),
    "bad_role": _l("That role does not exist."),
    "bad_school": _l("Every user except a district admin belongs to a school."),
    "username_taken": _l("That username is already in use."),
    "bad_email": _l("Enter one e-mail address, such as name@school.kr, without spaces or commas."),
    "bad_code": _l("School codes use 1 to 24 lowercase letters (a-z), digits and '-', starting with a letter or "
                   "digit."),
    "code_taken": _l("That school code is already in use."),
    "not_allowed": _l("You are not allowed to do that."),
    "bad_encoding": _l("The file is neither UTF-8 nor CP949 text."),
    "bad_link": _l("This link has expired or was already used. Ask your school admin for a new one."),
}
