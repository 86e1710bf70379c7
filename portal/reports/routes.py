"""New incident report → guidance → form → review → receipt; "my reports"; a student's request for help."""

from __future__ import annotations

import secrets
from datetime import UTC
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from portal.database import end_reading, write_phase
from portal.extensions import client_address, db
from portal.labels import CATEGORY_LABELS, PLATFORM_LABELS, VICTIM_LABELS, YNU_LABELS
from portal.messages import message_for
from portal.models import Case, Role, User
from portal.reports.forms import HelpRequestForm, ReporterMessageForm, ReportForm
from portal.security import guard_blueprint, roles_required
from portal.services import cases, conversation

bp = Blueprint("reports", __name__, url_prefix="/reports")


@bp.before_request
def _signed_out_help():
    """A signed-out student looking for help gets the help lines and a way in, not a bare sign-in page."""
    if request.endpoint == "reports.help_request" and not current_user.is_authenticated:
        return redirect(url_for("public.get_help"))
    return None


guard_blueprint(bp)  # registered after the hook above, so that hook runs first
REPORTERS = (Role.TEACHER, Role.COUNSELOR, Role.SCHOOL_ADMIN)
# The steps of a report, shown on each of its pages and named in their titles (reports/_steps.html).
REPORT_STEPS = (
    # Translators: a step of the incident report: the guidance read before the form.
    _l("Before you start"),
    # Translators: a step of the incident report: filling in the form.
    _l("Write the report"),
    # Translators: a step of the incident report: reading it over before it is sent.
    _l("Check and send"),
    # Translators: a step of the incident report: the page that confirms it was received.
    _l("Receipt"),
)


@bp.context_processor
def _steps():
    return {"report_steps": REPORT_STEPS}


@bp.before_request
def _no_uploads():
    """The portal never accepts files: possessing such images is itself a crime."""
    if request.files:
        abort(400)


def _to_utc(value):
    if value is None:
        return None
    return value.replace(tzinfo=ZoneInfo(current_user.school.timezone)).astimezone(UTC)


# Made once: every load and every sending of the report form runs it. Names and roles only: a school's whole staff
# is read, and their other columns (a password hash, a second-factor secret, decrypted as it is read) are not the
# form's business.
_STAFF = cases.active_staff(Role.COUNSELOR, Role.SCHOOL_ADMIN, Role.TEACHER).with_only_columns(
    User.id, User.role, User.display_name, User.is_lead)


def _staff() -> list:
    """The school's active staff as rows (id, role, display_name, is_lead), not accounts: who the report may leave
    out (teachers too), and who it can be routed to."""
    return db.session.execute(_STAFF, {"school_id": current_user.school_id}).all()


def _staff_choices(staff: list) -> list[tuple[int, str]]:
    from portal.navigation import role_name

    others = sorted((u for u in staff if u.id != current_user.id), key=lambda u: (u.role, u.display_name))
    return [(u.id, f"{u.display_name} ({role_name(u.role)})") for u in others]


def _report_data(form: ReportForm) -> cases.ReportData:
    return cases.ReportData(
        categories=_unique(form.categories.data), victim_kind=form.victim_kind.data,
        victim_count=form.victim_count.data, victim_names=form.victim_names.data, suspects=form.suspects.data,
        platforms=_unique(form.platforms.data),
        links=form.links.data, first_seen=_to_utc(form.first_seen.data), how_learned=form.how_learned.data,
        urgent=form.urgent.data == "yes", victim_knows=form.victim_knows.data or "unknown",
        guardians_told=form.guardians_told.data or "unknown", police_told=form.police_told.data == "yes",
        police_told_at=_to_utc(form.police_told_at.data), police_report_number=form.police_report_number.data,
        description=form.description.data, excluded_ids=_unique(form.excluded.data),
    )


def _unique(values: list | None) -> list:
    """Each ticked value once, in order: a box posted many times (by a script) must not overflow a column."""
    return list(dict.fromkeys(values or []))


def _token(form) -> str:
    """The form's submission token; one that is missing or malformed gets 400 (the page was not ours)."""
    token = form.submission_token.data or ""
    if not 16 <= len(token) <= 64:
        abort(400)
    return token


@bp.route("/new")
@roles_required(*REPORTERS)
def new():
    """Guidance before the form: no images, the duty to report, who will see the report."""
    return render_template("reports/new.html")


@bp.route("/new/form", methods=["GET", "POST"])
@roles_required(*REPORTERS)
def form():
    """The form, its review step and the submission, without keeping anything outside the page."""
    form = ReportForm()
    staff = _staff()
    form.excluded.choices = _staff_choices(staff)
    if request.method == "GET":
        form.submission_token.data = secrets.token_urlsafe(24)
        return render_template("reports/form.html", form=form)
    action = request.form.get("action")
    if action == "edit" or not form.validate_on_submit() or not _routable(form, staff):
        return render_template("reports/form.html", form=form), 200 if action == "edit" else 422
    if action != "submit":
        return render_template("reports/review.html", form=form, labels=_labels())
    token = _token(form)
    data = _report_data(form)
    # The checks above only read; the writes below take the write lock (database.READ_FIRST), and routing decides
    # on the roles, lead and routing rule as they are then.
    end_reading(db.session, current_user._get_current_object())
    with write_phase():
        try:
            case, created = cases.submit_report(db.session, current_user, data, token, client_address())
        except cases.CaseError as error:  # routing changed between review and submit: keep what was typed
            db.session.rollback()
            form.excluded.errors = [message_for(error)]
            return render_template("reports/form.html", form=form), 422
        public_id = case.public_id  # read before the commit, which expires it: no transaction after the commit
        db.session.commit()
    if not created:
        flash(_("This report was already sent. Here is its receipt."), "info")
    return redirect(url_for("reports.receipt", public_id=public_id))


def _routable(form: ReportForm, staff: list) -> bool:
    """Refuse, on the form, exclusions that would leave the report with nobody to receive it."""
    try:
        cases.check_routable(db.session, current_user.school, form.excluded.data or [],
                             staff=[u for u in staff if u.role != Role.TEACHER])
    except cases.CaseError as error:
        form.excluded.errors = [message_for(error)]
        return False
    return True


def _labels() -> dict:
    return {"categories": CATEGORY_LABELS, "platforms": PLATFORM_LABELS, "victims": VICTIM_LABELS, "ynu": YNU_LABELS}


def _own_case(public_id: str, action: str | None = "receipt_viewed") -> Case:
    """The case this user reported, through the one authorizing loader (audited); 404 for anyone else."""
    try:
        return cases.load_case(db.session, current_user, public_id, action, client_address(), check=cases.is_reporter)
    except cases.CaseNotFound:
        db.session.commit()  # keep the record of the denied attempt
        abort(404)


@bp.route("/<public_id>/receipt")
def receipt(public_id: str):
    """The receipt: reference, what happens next, the duty to report, help lines."""
    case = _own_case(public_id)
    db.session.commit()
    return render_template("reports/receipt.html", case=case)


@bp.route("/mine")
def mine():
    """The user's own reports or requests, with status only."""
    own = db.session.scalars(select(Case).where(Case.reporter_id == current_user.id)
                             .order_by(Case.created_at.desc())).all()
    return render_template("reports/mine.html", cases=own)


@bp.route("/help", methods=["GET", "POST"])
@roles_required(Role.STUDENT)
def help_request():
    """A student asks the school's counselors for help; it opens a confidential case."""
    form = HelpRequestForm()
    if request.method == "GET":
        form.submission_token.data = secrets.token_urlsafe(24)
    if form.validate_on_submit():
        data = cases.ReportData(categories=["other"], victim_kind="student", description=form.message.data,
                                urgent=form.urgent.data == "yes", kind="student_request")
        try:
            case, _created = cases.submit_report(db.session, current_user, data, _token(form), client_address())
        except cases.CaseError as error:  # nobody at the school can receive it: say so, keep what was typed
            db.session.rollback()
            form.message.errors = [*form.message.errors, message_for(error)]
            return render_template("reports/help.html", form=form), 422
        db.session.commit()
        return redirect(url_for("reports.help_sent", public_id=case.public_id))
    return render_template("reports/help.html", form=form), 200 if request.method == "GET" else 422


@bp.route("/help/<public_id>/sent")
@roles_required(Role.STUDENT)
def help_sent(public_id: str):
    """After a request for help: what to do right now when in danger, and where the answer will appear."""
    case = _own_case(public_id)
    db.session.commit()
    return render_template("reports/help_sent.html", case=case)


@bp.route("/<public_id>/messages", methods=["GET", "POST"])
def messages(public_id: str):
    """The reporter's side of the conversation: the stage, the counselors' messages, and a way to write back
    (an answer, or what they learned later: a police report number, a new link)."""
    case = _own_case(public_id, None)
    form = ReporterMessageForm()
    if form.validate_on_submit():
        try:
            conversation.write_to_school(db.session, case, form.text.data, reporter=current_user,
                                         address=client_address())
        except cases.CaseError as error:
            form.text.errors = [message_for(error)]
        else:
            db.session.commit()
            flash(_("Your message was sent to the counselors."), "success")
            return redirect(url_for("reports.messages", public_id=public_id, _anchor="messages"))
        db.session.rollback()
        case = _own_case(public_id, None)
    conversation.seen_by_reporter(db.session, case, current_user, client_address())
    db.session.commit()
    return render_template("reports/messages.html", case=case, form=form), 200 if request.method == "GET" else 422
