"""Inbox, case file, actions, printable report and access log. Outsiders get 404 for every URL."""

from __future__ import annotations

from datetime import UTC
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload, load_only

from portal import jurisdiction
from portal.cases.forms import (
    AddItemForm,
    AssignForm,
    ClassifyForm,
    ConfirmItemsForm,
    EntryForm,
    ItemStatusForm,
    MergeItemsForm,
    NotApplicableForm,
    ReplyForm,
    close_form,
    form_for_kind,
)
from portal.cases.packet import document as packet_document
from portal.database import commit_keeping_loaded, writing_after_reading
from portal.extensions import client_address, db
from portal.forms import EmptyForm
from portal.i18n import lang_attrs
from portal.labels import CATEGORY_LABELS, label
from portal.messages import message_for
from portal.models import AuditEvent, Case, CaseStatus, Notification, Role, User
from portal.models.base import utcnow
from portal.models.cases import ENTRY_FIELDS, ENTRY_KINDS, ITEM_NEXT
from portal.security import guard_blueprint
from portal.services import audit, cases, conversation, district_signal, duties, takedown

bp = Blueprint("cases", __name__, url_prefix="/cases")
guard_blueprint(bp)  # signed-in users only; below, everyone but counselors and school admins is turned away


@bp.before_request
def _case_roles_only():
    """Other roles get 404 everywhere here; an attempt on a case URL is audited like any denied access."""
    if current_user.role in (Role.COUNSELOR, Role.SCHOOL_ADMIN):
        return None
    public_id = (request.view_args or {}).get("public_id")
    if public_id:
        # A READ_FIRST view's request began as a reader: the record is written in a transaction of its own, which
        # takes the write lock at its BEGIN (a reader's transaction cannot take it once another has committed).
        with writing_after_reading(db.session):
            try:
                cases.load_case(db.session, current_user, public_id, "case_denied", client_address(),
                                check=lambda _user, _case: False)
            except cases.CaseNotFound:
                db.session.commit()  # keep the record of the denied attempt
    abort(404)



def _case(public_id: str, action: str = "case_viewed", check=cases.may_view):
    try:
        return cases.load_case(db.session, current_user, public_id, action, client_address(), check)
    except cases.CaseNotFound:
        db.session.commit()  # keep the record of the denied attempt
        abort(404)


def _error(error: cases.CaseError) -> None:
    flash(message_for(error), "error")


def _local_to_utc(value):
    return value.replace(tzinfo=ZoneInfo(current_user.school.timezone)).astimezone(UTC)


@bp.route("/")
def inbox():
    """The cases this user may see, urgent and overdue first, a page at a time (the next page starts after the
    last case shown, so a deep page costs what the first does)."""
    status = request.args.get("status") if request.args.get("status") in INBOX_STATUSES else "open"
    category = request.args.get("category") if request.args.get("category") in CATEGORY_LABELS else None
    mine = request.args.get("mine") == "1"
    # From the landing page's figures: one group of the open cases (urgent, due now, overdue, …).
    attention = request.args.get("attention") if request.args.get("attention") in cases.ATTENTION else None
    if attention:
        status = "open"
    after = request.args.get("after", "")[:32] or None
    now = utcnow()
    page = cases.inbox(db.session, current_user, status=None if status == "all" else status, category=category,
                       mine=mine, attention=attention, after=after, now=now)
    notices = db.session.scalars(select(Notification).where(Notification.user_id == current_user.id,
                                                            Notification.read_at.is_(None))
                                 # in the same statement: a second one, made and keyed anew for each page, cost
                                 # more than the page's own query
                                 .options(joinedload(Notification.case).load_only(Case.public_id, Case.reference,
                                                                                  Case.urgent))
                                 .order_by(Notification.created_at.desc()).limit(20)).all()
    chosen = (("status", status), ("category", category), ("mine", "1" if mine else None), ("attention", attention))
    filters = {key: value for key, value in chosen if value and value != "open"}  # kept on the page links
    return render_template("cases/inbox.html", page=page, cases=page.cases, now=now, status=status,
                           category=category, mine=mine, attention=attention, filters=filters, paged=bool(after),
                           notices=notices, waiting=cases.waiting_cases(db.session, current_user),
                           categories=CATEGORY_LABELS,
                           no_counselor=_school_without_counselor())


INBOX_STATUSES = ("open", "new", "acknowledged", "in_progress", "closed", "all")


def _school_without_counselor() -> bool:
    return current_user.role == Role.SCHOOL_ADMIN and db.session.scalar(
        select(User.id).where(User.school_id == current_user.school_id, User.role == Role.COUNSELOR,
                              User.active.is_(True)).limit(1)) is None


def _close_form(case, **kwargs):
    from portal.i18n import localized

    return close_form([(item.duty_id, localized(rule.title)) for item, rule in cases.open_legal_duties(case)],
                      **kwargs)


def _local_now(case):
    """Now in the school's time zone, to the minute: most things are logged right after the fact."""
    return utcnow().astimezone(ZoneInfo(case.school.timezone)).replace(tzinfo=None, second=0, microsecond=0)


# The counselors the file may assign, by name: none of their other columns (made once, as cases.load_file's).
_COUNSELORS = cases.active_staff(Role.COUNSELOR).options(load_only(User.display_name))


def _file_context(case, entry_form=None, close_form=None, assign_form=None, na_form=None, na_duty=None,
                  classify_form=None, reply_form=None, log_kind=None, takedown_form=None, takedown_item=None):
    """What the case file shows. A form is made only where the page shows it (None elsewhere); one that was
    refused comes back with what was typed and its errors."""
    case = cases.load_file(db.session, case)
    if entry_form is None:
        entry_form = form_for_kind(log_kind, happened_at=_local_now(case))
    _set_corrects_choices(entry_form, case)
    assign_form = assign_form or AssignForm()
    assigned = {a.user_id for a in case.assignees}
    excluded = {x.user_id for x in case.exclusions}
    counselors = db.session.scalars(_COUNSELORS, {"school_id": case.school_id}).all()
    assign_form.counselor.choices = [(u.id, u.display_name, lang_attrs(u.display_name)) for u in counselors
                                     if u.id not in assigned and u.id not in excluded]
    now = utcnow()
    rules = duties.rule_map(case.school.jurisdiction)
    chosen = entry_form.kind.data if entry_form.kind.data in ENTRY_KINDS else None
    closing = case.status in (CaseStatus.ACKNOWLEDGED, CaseStatus.IN_PROGRESS)
    # "Does not apply?" for each checklist item still to decide, while the case is open.
    undecided = [item.duty_id for item in case.duties if case.status != CaseStatus.CLOSED
                 and item.done_at is None and item.not_applicable_at is None]
    return dict(case=case, entry_form=entry_form, log_kind=chosen, log_kinds=ENTRY_KINDS,
                log_fields=ENTRY_FIELDS.get(chosen, ()),
                completes=_duties_completed(case, rules),
                close_form=(close_form or _close_form(case)) if closing else None,
                assign_form=assign_form,
                na_forms={duty_id: na_form if duty_id == na_duty and na_form else NotApplicableForm(prefix=duty_id)
                          for duty_id in undecided},
                open_legal=[item.duty_id for item, _rule in cases.open_legal_duties(case)],
                classify_form=(classify_form or ClassifyForm()) if cases.awaits_classification(case) else None,
                reply_form=(reply_form or ReplyForm()) if conversation.has_reporter(case) else None,
                action_form=EmptyForm(), rules=rules, now=now, duty_deadline=cases.duty_deadline,
                ack_deadline=cases.ack_deadline(case), may_see_access=cases.may_see_access_log(current_user, case),
                **_takedown_context(case, takedown_form, takedown_item))


# Each takedown form's fields carry a prefix, so that none shares a name with the log form's (platform, kind).
TAKEDOWN_PREFIXES = {ConfirmItemsForm: "confirm", AddItemForm: "new", MergeItemsForm: "merge"}


def _takedown_form(form_class, item_id=None, **defaults):
    return form_class(prefix=f"item{item_id}" if item_id else TAKEDOWN_PREFIXES[form_class], **defaults)


def _takedown_context(case, failed=None, failed_item=None):
    """The takedown panel: its items, the links found that are not items yet, a form for each change (the one
    that was refused, if any, keeps what was typed), and for the lead the items other schools reported too."""
    items = takedown.items(case)
    now = _local_now(case)

    def made(form_class, item_id=None, **defaults):
        if isinstance(failed, form_class) and item_id == failed_item:
            return failed
        return _takedown_form(form_class, item_id, **defaults)

    suggestions = takedown.suggestions(case)
    confirm = None
    if suggestions:
        confirm = made(ConfirmItemsForm)
        confirm.found.choices = [(s.normal, f"{s.normal} · {label('platform', s.platform)}") for s in suggestions]
    status_forms = {}
    for item in items:
        status_forms[item.id] = form = made(ItemStatusForm, item.id, happened_at=now)
        form.status.choices = [(s, label("takedown", s)) for s in ITEM_NEXT[item.status]]
    merge = None
    if len(items) > 1:
        merge = made(MergeItemsForm)
        choices = [(str(item.id), f"#{item.id} {item.target or label('item_kind', item.kind)}") for item in items]
        merge.keep.choices, merge.other.choices = choices, list(reversed(choices))
    return dict(takedown_items=items, confirm_form=confirm, add_item_form=made(AddItemForm, found_at=now),
                status_forms=status_forms, merge_form=merge,
                signal_labels=district_signal.shared_items(db.session, current_user, case, items))


@bp.route("/<public_id>")
def file(public_id: str):
    """The case file: content note, report, duties, response log, assignees."""
    case, allowed = cases.look_up(db.session, current_user, public_id)
    # Only read so far (database.READ_FIRST): SQLite's write lock, which every process's case views and reports
    # take in turn, is held for the view's access check (made again) and audit row alone, not across the reads of
    # the request before them (under 32 counselors reading, a view waited up to 0.2 s for its turn).
    with writing_after_reading(db.session):
        # Checked again as the database is now: an assignment or the account may have ended while the view waited.
        allowed = allowed and cases.still_viewable(db.session, current_user, case)
        if not allowed:
            cases.record_denial(db.session, current_user, case, client_address())
            db.session.commit()
            abort(404)
        cases.record_view(db.session, current_user, case, client_address())  # and its notices marked read
        commit_keeping_loaded(db.session)  # the case was read before this commit: the page needs no new read
    return render_template("cases/file.html", **_file_context(case, log_kind=request.args.get("log")))


def _duties_completed(case, rules) -> dict[str, list]:
    """For each kind of entry, the open checklist items an entry of that kind completes, with their rules."""
    completes: dict[str, list] = {}
    for item in case.duties:
        if item.done_at is None and item.not_applicable_at is None and item.duty_id in rules:
            completes.setdefault(item.satisfied_by, []).append(rules[item.duty_id])
    return completes


def _action(public_id: str, run):
    """A one-button action: authorize (the service records what it did, so no extra "viewed" row), run, commit."""
    case = _case(public_id, None)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        run(case)
    except cases.CaseError as error:
        db.session.rollback()
        _error(error)
    else:
        db.session.commit()
        flash(_("Saved."), "success")
    return redirect(url_for("cases.file", public_id=public_id))


def _form_action(public_id: str, make_form, run, *, field: str, done: str, anchor: str = "", context=None):
    """Every form on the case file has one shape: authorize without an access row (the service records what it
    did), run, commit and redirect. A refusal keeps nothing, and the file is shown again with what was typed and
    the message on the field; showing it is a read, audited as one."""
    case = _case(public_id, None)
    form = make_form(case)
    if form.validate_on_submit():
        try:
            run(case, form)
        except cases.CaseError as error:
            db.session.rollback()
            target = getattr(form, field)
            target.errors = [*target.errors, message_for(error)]
        else:
            db.session.commit()
            flash(done, "success")
            return redirect(url_for("cases.file", public_id=public_id) + anchor)
    db.session.rollback()
    case = _case(public_id)
    db.session.commit()
    return render_template("cases/file.html", failed_form=form,
                           **_file_context(case, **(context(form) if context else {}))), 422


@bp.route("/<public_id>/acknowledge", methods=["POST"])
def acknowledge(public_id: str):
    """Acknowledge a new case."""
    return _action(public_id, lambda c: cases.acknowledge(db.session, current_user, c, client_address()))


@bp.route("/<public_id>/start", methods=["POST"])
def start(public_id: str):
    """Mark the case as in progress."""
    return _action(public_id, lambda c: cases.start_work(db.session, current_user, c, client_address()))


@bp.route("/<public_id>/reopen", methods=["POST"])
def reopen(public_id: str):
    """Reopen a closed case."""
    return _action(public_id, lambda c: cases.reopen(db.session, current_user, c, client_address()))


def _set_corrects_choices(form: EntryForm, case) -> None:
    """The entries of this case that a new entry may correct (the form is validated against them)."""
    form.corrects.choices = [("", "—")] + [(str(e.id), f"#{e.id} {jurisdiction.label('entry', e.kind)}")
                                           for e in case.entries]


def _entry_form(case) -> EntryForm:
    form = form_for_kind(request.form.get("kind"))
    _set_corrects_choices(form, case)
    return form


@bp.route("/<public_id>/entries", methods=["POST"])
def add_entry(public_id: str):
    """Append to the response log; bad input keeps what was typed."""

    def run(case, form):
        cases.add_entry(
            db.session, current_user, case, form.kind.data, _local_to_utc(form.happened_at.data), form.text.data,
            **{name: form[name].data or None for name in ENTRY_FIELDS.get(form.kind.data, ())},
            corrects_id=int(form.corrects.data) if form.corrects.data else None, address=client_address())

    return _form_action(public_id, _entry_form, run, field="kind", done=_("Added to the log."), anchor="#log",
                        context=lambda form: {"entry_form": form})


def _item_id(value) -> int | None:
    return int(value) if value and str(value).isdigit() else None


def _takedown_action(public_id: str, make_form, run, field: str, item_id: int | None = None):
    return _form_action(public_id, make_form, run, field=field, done=_("Saved. The change is in the log."),
                        anchor="#takedown",
                        context=lambda form: {"takedown_form": form, "takedown_item": item_id})


@bp.route("/<public_id>/takedown/confirm", methods=["POST"])
def confirm_items(public_id: str):
    """Confirm links and handles found in the report and the log as takedown items."""
    return _takedown_action(
        public_id, lambda case: _takedown_form(ConfirmItemsForm),
        lambda case, form: takedown.confirm(db.session, current_user, case, form.found.data or [],
                                            address=client_address()), "found")


@bp.route("/<public_id>/takedown/add", methods=["POST"])
def add_item(public_id: str):
    """Add a takedown item by hand: a link or account, or which personal details were posted and where."""
    return _takedown_action(
        public_id, lambda case: _takedown_form(AddItemForm),
        lambda case, form: takedown.add(db.session, current_user, case, kind=form.kind.data, target=form.target.data,
                                        platform=form.platform.data or None, detail_kinds=form.details.data or [],
                                        found_at=_local_to_utc(form.found_at.data), address=client_address()),
        "target")


@bp.route("/<public_id>/takedown/<int:item_id>/status", methods=["POST"])
def item_status(public_id: str, item_id: int):
    """Move a takedown item to its next status, with the date and any reference."""
    return _takedown_action(
        public_id, lambda case: _takedown_form(ItemStatusForm, item_id),
        lambda case, form: takedown.change_status(db.session, current_user, case, item_id, form.status.data,
                                                  _local_to_utc(form.happened_at.data),
                                                  reference=form.reference.data, address=client_address()),
        "status", item_id)


@bp.route("/<public_id>/takedown/merge", methods=["POST"])
def merge_items(public_id: str):
    """Two items are the same channel or account: merge the second into the first."""
    return _takedown_action(
        public_id, lambda case: _takedown_form(MergeItemsForm),
        lambda case, form: takedown.merge(db.session, current_user, case, _item_id(form.keep.data),
                                          _item_id(form.other.data), address=client_address()),
        "other")


def _packet(public_id: str, plain_text: bool) -> takedown.Packet:
    """Make a case's takedown request packet (audited) in the reader's language: with the victim's names only for
    `?names=1`, the counselor's tick that the person affected or their guardian agreed."""
    case = _case(public_id, None)
    made = takedown.packet(db.session, current_user, case, with_names=request.args.get("names") == "1",
                           plain_text=plain_text, address=client_address())
    db.session.commit()
    return made


@bp.route("/<public_id>/takedown/packet")
def takedown_packet(public_id: str):
    """The printable takedown request packet for the school's takedown support service."""
    made = _packet(public_id, plain_text=False)
    return render_template("cases/packet.html", case=made.case, packet=made, document=packet_document(made))


@bp.route("/<public_id>/takedown/packet.txt")
def takedown_packet_text(public_id: str):
    """The same packet as plain text, to paste into a web form or an e-mail. Served as text/plain rather than in a
    box on the page: the browser shows it whole, select-all copies exactly it, and a name in another language
    needs no markup it could not carry inside a form field."""
    return Response(packet_document(_packet(public_id, plain_text=True)).text, mimetype="text/plain")


@bp.route("/<public_id>/assign", methods=["POST"])
def assign(public_id: str):
    """Add a counselor or hand the case over."""
    case = _case(public_id, None)
    form = AssignForm()
    _file_context(case, assign_form=form)
    if form.validate_on_submit():
        other = db.session.get(User, form.counselor.data)
        try:
            cases.add_assignee(db.session, current_user, case, other, transfer=form.transfer.data,
                               address=client_address())
        except cases.CaseError as error:
            db.session.rollback()
            _error(error)
            return redirect(url_for("cases.file", public_id=public_id))
        db.session.commit()
        flash(_("The counselor was added to the case."), "success")
        if form.transfer.data and not cases.may_view(current_user, case):
            return redirect(url_for("cases.inbox"))
    else:
        db.session.rollback()
        flash(_("Choose a counselor of this school."), "error")
    return redirect(url_for("cases.file", public_id=public_id))


@bp.route("/<public_id>/close", methods=["POST"])
def close(public_id: str):
    """Close the case: an outcome, a confirmation, and a logged reason for each legal duty still open."""

    def run(case, form):
        reasons = {name.removeprefix("reason_"): f.data for name, f in form._fields.items()
                   if name.startswith("reason_")}
        cases.close(db.session, current_user, case, form.outcome.data, client_address(), reasons=reasons)

    return _form_action(public_id, _close_form, run, field="outcome", done=_("The case was closed."),
                        context=lambda form: {"close_form": form})


@bp.route("/<public_id>/reply", methods=["POST"])
def reply(public_id: str):
    """Write to the person who reported; logged in the chronology."""
    return _form_action(
        public_id, lambda case: ReplyForm(),
        lambda case, form: conversation.write_to_reporter(db.session, current_user, case, form.message.data,
                                                          client_address()),
        field="message", done=_("The message was sent. The reporter reads it on the portal."), anchor="#messages",
        context=lambda form: {"reply_form": form})


@bp.route("/<public_id>/classify", methods=["POST"])
def classify(public_id: str):
    """Record whether a student's request concerns a sex crime against a minor (it starts the checklist)."""
    return _form_action(
        public_id, lambda case: ClassifyForm(),
        lambda case, form: cases.classify(db.session, current_user, case, form.classification.data, client_address()),
        field="classification", done=_("The classification was recorded."), anchor="#duties-title",
        context=lambda form: {"classify_form": form})


@bp.route("/<public_id>/duties/<duty_id>/not-applicable", methods=["POST"])
def not_applicable(public_id: str, duty_id: str):
    """Mark a checklist item "not applicable"; the reason is logged."""
    return _form_action(
        public_id, lambda case: NotApplicableForm(prefix=duty_id),
        lambda case, form: cases.mark_not_applicable(db.session, current_user, case, duty_id, form.reason.data,
                                                     client_address()),
        field="reason", done=_("Marked as not applicable; the reason is in the log."), anchor="#duties-title",
        context=lambda form: {"na_form": form, "na_duty": duty_id})


@bp.route("/<public_id>/print")
def print_report(public_id: str):
    """A printable case report with the full chronology, ending with the audit hash."""
    case = _case(public_id, "case_exported")
    db.session.flush()
    digest = audit.case_hash(db.session, case.id)
    db.session.commit()
    return render_template("cases/print.html", case=case, digest=digest, printed_at=utcnow(),
                           rules=duties.rule_map(case.school.jurisdiction))


@bp.route("/<public_id>/access")
def access_log(public_id: str):
    """Who opened or changed the case and when (no content): for the lead and the school admin."""
    case = _case(public_id, "access_log_viewed", check=cases.may_see_access_log)
    rows = db.session.execute(select(AuditEvent, User).outerjoin(User, User.id == AuditEvent.actor_id)
                              .where(AuditEvent.case_id == case.id).order_by(AuditEvent.id)).all()
    db.session.commit()
    return render_template("cases/access.html", case=case, rows=rows)
