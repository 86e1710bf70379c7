"""District admin views."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from portal.admin.forms import SchoolAdminForm, SchoolForm
from portal.extensions import client_address, db
from portal.forms import EmptyForm
from portal.messages import MESSAGES, message_for
from portal.models import Role, School, User
from portal.security import guard_blueprint
from portal.services import accounts, audit, district_signal, notify_accounts, stats
from portal.urls import public_url

bp = Blueprint("district", __name__, url_prefix="/district")
guard_blueprint(bp, Role.DISTRICT_ADMIN)


def _audit(action: str, school_id: int | None, target: str) -> None:
    audit.record(db.session, action, actor=current_user, school_id=school_id, target=target, address=client_address())


def _school(school_id: int) -> School:
    school = db.session.get(School, school_id)
    if school is None:
        abort(404)
    return school


@bp.route("/schools", methods=["GET", "POST"])
def schools():
    """Every school, and a form to add one."""
    form = SchoolForm()
    if form.validate_on_submit():
        try:
            school = accounts.create_school(db.session, form.code.data, form.name_ko.data, form.name_en.data)
        except accounts.AccountError as error:
            form.code.errors.append(message_for(error))
        else:
            _audit("school_created", school.id, school.code)
            db.session.commit()
            flash(_("The school was added."), "success")
            return redirect(url_for("district.school", school_id=school.id))
    rows = db.session.scalars(select(School).order_by(School.is_active.desc(), School.code)).all()
    return render_template("district/schools.html", schools=rows, form=form), 200 if request.method == "GET" else 422


@bp.route("/schools/<int:school_id>", methods=["GET", "POST"])
def school(school_id: int):
    """Edit a school's names, see and add its school admins, deactivate it."""
    school = _school(school_id)
    form = SchoolForm(obj=school)
    admin_form = SchoolAdminForm(prefix="admin")
    if request.method == "POST" and form.submit.data and form.validate():
        code = form.code.data.strip().lower()
        clash = db.session.scalar(select(School).where(School.code == code, School.id != school.id))
        if clash:
            form.code.errors.append(str(MESSAGES["code_taken"]))
        elif not code.replace("-", "").isalnum():
            form.code.errors.append(str(MESSAGES["bad_school_code"]))
        else:
            school.code, school.name_ko, school.name_en = code, form.name_ko.data.strip(), form.name_en.data.strip()
            _audit("school_changed", school.id, school.code)
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for("district.school", school_id=school.id))
    elif request.method == "POST" and admin_form.submit.data and admin_form.validate():
        try:
            user = accounts.create_user(db.session, admin_form.username.data, Role.SCHOOL_ADMIN, school, None,
                                        admin_form.display_name.data.strip(), admin_form.email.data or None)
        except accounts.AccountError as error:
            admin_form.username.errors.append(message_for(error))
        else:
            raw = accounts.issue_link(db.session, user, current_user)
            _audit("user_created", school.id, user.username)
            link = public_url("auth.set_password", token=raw)
            notify_accounts.send_link(db.session, user, link)
            db.session.commit()
            return render_template("admin/link.html", user=user, link=link, back=url_for("district.school",
                                                                                         school_id=school.id))
    admins = db.session.scalars(select(User).where(User.school_id == school.id, User.role == Role.SCHOOL_ADMIN)
                                .order_by(User.username)).all()
    status = 200 if request.method == "GET" else 422
    return render_template("district/school.html", school=school, form=form, admin_form=admin_form, admins=admins,
                           action_form=EmptyForm()), status


@bp.route("/schools/<int:school_id>/active", methods=["POST"])
def toggle_school(school_id: int):
    """Deactivate a school (its users can no longer sign in) or reactivate it."""
    school = _school(school_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    school.is_active = not school.is_active
    for user in db.session.scalars(select(User).where(User.school_id == school.id)):
        if not school.is_active:
            user.end_sessions()
    _audit("school_activated" if school.is_active else "school_deactivated", school.id, school.code)
    db.session.commit()
    flash(_("Saved."), "success")
    return redirect(url_for("district.school", school_id=school.id))


@bp.route("/")
def dashboard():
    """Figures across schools, a row per school, small counts hidden; channels reported at several schools."""
    from portal.services.lessons import STAFF_TRAINING_BAND, lesson_library

    staff_lessons = tuple(lesson.slug for lesson in lesson_library().band(STAFF_TRAINING_BAND))
    rows = [(s, stats.school_figures(db.session, s, staff_lessons=staff_lessons))
            for s in db.session.scalars(select(School).where(School.is_active.is_(True)).order_by(School.code))]
    # ?signals=N: the page of the channels' list (a number only: nothing from the cases in the address).
    number = min(request.args.get("signals", 1, type=int), MAX_SIGNAL_PAGE)
    return render_template("district/dashboard.html", rows=rows,
                           signals=district_signal.signal_page(db.session, number))


MAX_SIGNAL_PAGE = 100_000  # a larger number in the address is not a page (and would overflow the OFFSET)
