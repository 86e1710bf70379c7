"""Classes: a teacher's own classes (all of the school's for a school admin), assignments, completion, CSV."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.classes.forms import assign_form
from portal.extensions import client_address, db, limiter
from portal.i18n import locale_code
from portal.messages import message_for
from portal.models import Classroom, Role
from portal.security import guard_blueprint, roles_required
from portal.services import audit
from portal.services import classes as service
from portal.services.content import lesson_library
from portal.services.lessons import STATUS_LABELS

bp = Blueprint("classes", __name__, url_prefix="/classes")
guard_blueprint(bp, Role.TEACHER, Role.SCHOOL_ADMIN)  # everyone else gets 404; views narrow further



def _classroom_or_404(class_id: int) -> Classroom:
    """The class if the current user may see it; 404 otherwise, also for another teacher at the same school."""
    try:
        return service.classroom_for(db.session, current_user, class_id)
    except service.ClassroomNotFound:
        abort(404)


def _user_key() -> str:
    return f"user:{current_user.get_id()}"


@bp.route("/")
def index():
    """The classes this user may follow."""
    classrooms = service.visible_classrooms(db.session, current_user)
    counts = {c.id: len(service.class_assignments(db.session, c)) for c in classrooms}
    return render_template("classes/index.html", classrooms=classrooms, assignment_counts=counts)


def _render_class(classroom: Classroom, form, status: int = 200):
    grid = service.completion_grid(db.session, classroom)
    return render_template("classes/show.html", classroom=classroom, grid=grid, form=form), status


@bp.route("/<int:class_id>")
def show(class_id: int):
    """A class: roster, assigned lessons, completion grid, and the form to assign a lesson."""
    classroom = _classroom_or_404(class_id)
    return _render_class(classroom, assign_form(lesson_library(), locale_code()))


@bp.route("/<int:class_id>/assign", methods=["POST"])
def assign(class_id: int):
    """Give the class a lesson with a due date (again: change its due date)."""
    classroom = _classroom_or_404(class_id)
    form = assign_form(lesson_library(), locale_code())
    if not form.validate_on_submit():
        return _render_class(classroom, form, 400)
    try:
        _assignment, created = service.assign_lesson(db.session, classroom, form.lesson.data, form.due_on.data,
                                                     current_user)
    except service.AssignmentError as error:
        db.session.rollback()
        form.due_on.errors = [*form.due_on.errors, message_for(error)]
        return _render_class(classroom, form, 400)
    db.session.commit()
    flash(_("The lesson was assigned.") if created else _("The due date was changed."), "success")
    return redirect(url_for("classes.show", class_id=classroom.id))


@bp.route("/<int:class_id>/export.csv")
@limiter.limit("30 per minute", key_func=_user_key)  # exports are personal data: no bulk harvesting
def export(class_id: int):
    """The completion grid as a CSV file, safe to open in a spreadsheet."""
    classroom = _classroom_or_404(class_id)
    grid = service.completion_grid(db.session, classroom)
    headers = {"username": _("Username"), "name": _("Name"), "status": _("Status"), "score": _("Best score (%)")}
    statuses = {key: str(label) for key, label in STATUS_LABELS.items()}
    body = service.grid_csv(grid, locale_code(), headers, statuses)
    audit.record(db.session, "class_progress_exported", actor=current_user, school_id=classroom.school_id,
                 target=f"classroom:{classroom.id}", address=client_address())
    db.session.commit()
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="class-{classroom.id}-lessons.csv"',
    })


@bp.route("/staff-training")
@roles_required(Role.SCHOOL_ADMIN)
def staff_training():
    """Band D completion of every staff member of the admin's school."""
    report = service.staff_training(db.session, current_user.school_id)
    return render_template("classes/staff_training.html", report=report)
