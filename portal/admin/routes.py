"""School admin: users, classes and roster import, settings, the aggregate dashboard."""

from __future__ import annotations

import base64

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, or_, select

from portal import jurisdiction
from portal.admin.forms import (
    ClassForm,
    MoveStudentsForm,
    NewUserForm,
    RoleForm,
    RosterApplyForm,
    RosterUploadForm,
    SettingsForm,
)
from portal.extensions import client_address, db, shared_limits_down
from portal.forms import EmptyForm
from portal.i18n import lang_attrs
from portal.messages import message_for
from portal.models import Classroom, Role, User, classroom_students
from portal.security import guard_blueprint
from portal.services import accounts, audit, cases, mail, notify_accounts, roster, stats
from portal.services.schools import SchoolError, set_lead
from portal.urls import public_url

bp = Blueprint("admin", __name__, url_prefix="/admin")
guard_blueprint(bp, Role.SCHOOL_ADMIN)


def _audit(action: str, target: str | None = None) -> None:
    audit.record(db.session, action, actor=current_user, school_id=current_user.school_id, target=target,
                 address=client_address())


def _school_user(user_id: int) -> User:
    """A user of the admin's own school; anyone else is not found."""
    user = db.session.get(User, user_id)
    if user is None or user.school_id != current_user.school_id:
        abort(404)
    return user


def _school_class(class_id: int) -> Classroom:
    classroom = db.session.get(Classroom, class_id)
    if classroom is None or classroom.school_id != current_user.school_id:
        abort(404)
    return classroom


@bp.route("/")
def dashboard():
    """Figures for the school: no names and no case text; counts of 1 to 4 shown as "fewer than 5"."""
    from portal.services.lessons import STAFF_TRAINING_BAND, lesson_library

    staff_lessons = tuple(lesson.slug for lesson in lesson_library().band(STAFF_TRAINING_BAND))
    figures = stats.school_figures(db.session, current_user.school, staff_lessons=staff_lessons)
    unsent, mail_error = mail.undelivered(db.session, current_user.school_id)
    return render_template("admin/dashboard.html", figures=figures, unsent=unsent, mail_error=mail_error,
                           limits_down=shared_limits_down())


@bp.route("/users")
def users():
    """Everyone at the school, a page at a time: searchable by name or username, filterable by role and class,
    each student shown with their class."""
    query = select(User).where(User.school_id == current_user.school_id)
    text = request.args.get("q", "").strip()[:80]
    role = request.args.get("role", "")
    classes = db.session.scalars(select(Classroom).where(Classroom.school_id == current_user.school_id,
                                                         Classroom.archived.is_(False)).order_by(Classroom.name)).all()
    class_id = request.args.get("class", type=int)
    if text:
        like = f"%{text.lower()}%"
        query = query.where(or_(func.lower(User.username).like(like), func.lower(User.display_name).like(like)))
    if role in (Role.STUDENT, Role.TEACHER, Role.COUNSELOR, Role.SCHOOL_ADMIN):
        query = query.where(User.role == role)
    if class_id in {c.id for c in classes}:
        query = query.where(User.id.in_(select(classroom_students.c.student_id)
                                        .where(classroom_students.c.classroom_id == class_id)))
    else:
        class_id = None
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    pages = max(1, -(-total // USERS_PER_PAGE))
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), pages)
    people = db.session.scalars(query.order_by(User.role, User.username)
                                .offset((page - 1) * USERS_PER_PAGE).limit(USERS_PER_PAGE)).all()
    return render_template("admin/users.html", people=people, q=text, role=role, classes=classes,
                           class_id=class_id, page=page, pages=pages, total=total, per_page=USERS_PER_PAGE,
                           class_names=_class_names([p.id for p in people if p.role == Role.STUDENT]))


USERS_PER_PAGE = 100


def _class_names(student_ids: list[int]) -> dict[int, str]:
    """Each of these students' current classes, by student id, in one query."""
    names: dict[int, list[str]] = {}
    if student_ids:
        rows = db.session.execute(select(classroom_students.c.student_id, Classroom.name)
                                  .join(Classroom, Classroom.id == classroom_students.c.classroom_id)
                                  .where(classroom_students.c.student_id.in_(student_ids),
                                         Classroom.archived.is_(False)).order_by(Classroom.name))
        for student_id, name in rows:
            names.setdefault(student_id, []).append(name)
    return {student_id: ", ".join(found) for student_id, found in names.items()}


def _link_url(raw: str) -> str:
    return public_url("auth.set_password", token=raw)


@bp.route("/users/new", methods=["GET", "POST"])
def new_user():
    """Add one user and hand over a one-time set-password link."""
    form = NewUserForm()
    if form.validate_on_submit():
        try:
            user = accounts.create_user(db.session, form.username.data, form.role.data, current_user.school, None,
                                        form.display_name.data.strip(), form.email.data or None)
        except accounts.AccountError as error:
            form.username.errors.append(message_for(error))
        else:
            user.grade = form.grade.data if form.role.data == Role.STUDENT else None
            raw = accounts.issue_link(db.session, user, current_user)
            _audit("user_created", user.username)
            notify_accounts.send_link(db.session, user, _link_url(raw))
            db.session.commit()
            return render_template("admin/link.html", user=user, link=_link_url(raw))
    return render_template("admin/new_user.html", form=form), 200 if request.method == "GET" else 422


@bp.route("/users/<int:user_id>")
def user(user_id: int):
    """One user: role, status, lead, links, second factor."""
    person = _school_user(user_id)
    return render_template("admin/user.html", person=person, role_form=RoleForm(role=person.role),
                           action_form=EmptyForm())


def _user_action(user_id: int, run, message: str):
    person = _school_user(user_id)
    if person.id == current_user.id:
        flash(_("You cannot change your own account here."), "error")
        return redirect(url_for("admin.user", user_id=user_id))
    try:
        run(person)
    except (accounts.AccountError, SchoolError) as error:
        db.session.rollback()
        flash(message_for(error), "error")
    else:
        db.session.commit()
        flash(message, "success")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.route("/users/<int:user_id>/role", methods=["POST"])
def change_role(user_id: int):
    """Change a role; the user's sessions end at once."""
    form = RoleForm()
    if not form.validate_on_submit():
        abort(400)

    def run(person):
        old = person.role
        accounts.change_role(person, form.role.data)
        _audit("role_changed", f"{person.username}:{old}->{person.role}")

    return _user_action(user_id, run, _("The role was changed. The user has been signed out everywhere."))


@bp.route("/users/<int:user_id>/deactivate", methods=["POST"])
def deactivate(user_id: int):
    """Deactivate a user; their sessions end at once."""
    if not EmptyForm().validate_on_submit():
        abort(400)

    def run(person):
        accounts.set_active(person, False)
        _audit("user_deactivated", person.username)

    return _user_action(user_id, run, _("The user was deactivated and signed out everywhere."))


@bp.route("/users/<int:user_id>/activate", methods=["POST"])
def activate(user_id: int):
    """Reactivate a user."""
    if not EmptyForm().validate_on_submit():
        abort(400)

    def run(person):
        accounts.set_active(person, True)
        _audit("user_activated", person.username)

    return _user_action(user_id, run, _("The user was reactivated."))


@bp.route("/users/<int:user_id>/lead", methods=["POST"])
def make_lead(user_id: int):
    """Make a counselor the school's designated lead."""
    if not EmptyForm().validate_on_submit():
        abort(400)

    def run(person):
        set_lead(db.session, person)
        _audit("lead_set", person.username)
        cases.hand_over_to_lead(db.session, current_user, person, client_address())

    return _user_action(user_id, run, _("This counselor is now the designated lead. They were added to the open "
                                        "cases they are not excluded from, and each case's counselors were told."))


@bp.route("/users/<int:user_id>/link", methods=["POST"])
def new_link(user_id: int):
    """Make a new one-time set-password link (older ones stop working)."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    person = _school_user(user_id)
    raw = accounts.issue_link(db.session, person, current_user, purpose="reset")
    _audit("password_link_issued", person.username)
    notify_accounts.send_link(db.session, person, _link_url(raw))
    db.session.commit()
    return render_template("admin/link.html", user=person, link=_link_url(raw))


@bp.route("/users/<int:user_id>/two-factor-reset", methods=["POST"])
def reset_two_factor(user_id: int):
    """Clear a user's second factor so they enrol again at their next sign-in."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    from portal.services import two_factor

    def run(person):
        two_factor.reset_two_factor(db.session, current_user, person)
        notify_accounts.warn_second_factor_reset(db.session, person)

    return _user_action(user_id, run, _("Two-factor sign-in was reset. The user will set it up again."))


# --- classes -------------------------------------------------------------------------------------------------


def _teacher_choices() -> list[tuple]:
    teachers = db.session.scalars(select(User).where(User.school_id == current_user.school_id,
                                                     User.role == Role.TEACHER, User.active.is_(True))
                                  .order_by(User.display_name)).all()
    # A Korean name in an English page is marked so that a screen reader reads it in Korean.
    return [(0, "—")] + [(t.id, f"{t.display_name} ({t.username})", lang_attrs(t.display_name)) for t in teachers]


@bp.route("/classes", methods=["GET", "POST"])
def classes():
    """The school's classes, and a form to add one."""
    form = ClassForm()
    form.teacher_id.choices = _teacher_choices()
    if form.validate_on_submit():
        name = form.name.data.strip()
        exists = db.session.scalar(select(Classroom).where(Classroom.school_id == current_user.school_id,
                                                           Classroom.name == name))
        if exists:
            form.name.errors.append(_("A class with this name already exists."))
        else:
            classroom = Classroom(school_id=current_user.school_id, name=name, grade=form.grade.data,
                                  teacher_id=form.teacher_id.data or None)
            db.session.add(classroom)
            _audit("class_created", name)
            db.session.commit()
            flash(_("The class was created."), "success")
            return redirect(url_for("admin.classes"))
    rows = db.session.scalars(select(Classroom).where(Classroom.school_id == current_user.school_id)
                              .order_by(Classroom.archived, Classroom.name)).all()
    return render_template("admin/classes.html", classes=rows, form=form), 200 if request.method == "GET" else 422


@bp.route("/classes/<int:class_id>", methods=["GET", "POST"])
def classroom(class_id: int):
    """Rename, archive, set the teacher, and move students in."""
    room = _school_class(class_id)
    form = ClassForm(obj=room if request.method == "GET" else None)
    form.teacher_id.choices = _teacher_choices()
    if request.method == "GET":
        form.teacher_id.data = room.teacher_id or 0
    move = MoveStudentsForm(prefix="move")
    others = db.session.scalars(select(User).where(User.school_id == current_user.school_id,
                                                   User.role == Role.STUDENT, User.active.is_(True))
                                .order_by(User.username)).all()
    move.students.choices = [(s.id, f"{s.display_name} ({s.username})", lang_attrs(s.display_name)) for s in others
                             if s not in room.students]
    if request.method == "POST" and form.submit.data and form.validate():
        clash = db.session.scalar(select(Classroom).where(Classroom.school_id == room.school_id,
                                                          Classroom.name == form.name.data.strip(),
                                                          Classroom.id != room.id))
        if clash:
            form.name.errors.append(_("A class with this name already exists."))
        else:
            room.name, room.grade = form.name.data.strip(), form.grade.data
            room.teacher_id, room.archived = form.teacher_id.data or None, form.archived.data
            _audit("class_changed", room.name)
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for("admin.classroom", class_id=room.id))
    elif request.method == "POST" and move.submit.data and move.validate():
        for student_id in move.students.data:
            student = _school_user(student_id)
            for old in db.session.scalars(select(Classroom).where(Classroom.school_id == room.school_id,
                                                                  Classroom.students.contains(student))):
                old.students.remove(student)
            room.students.append(student)
        _audit("students_moved", f"{room.name}:{len(move.students.data)}")
        db.session.commit()
        flash(_("The students were moved."), "success")
        return redirect(url_for("admin.classroom", class_id=room.id))
    return render_template("admin/classroom.html", room=room, form=form, move=move)


@bp.route("/classes/import", methods=["GET", "POST"])
def import_roster():
    """Upload a roster CSV and see, before anything is written, what it would do."""
    form = RosterUploadForm()
    if form.validate_on_submit():
        data = form.roster.data.read(current_app.config["MAX_CONTENT_LENGTH"] + 1)
        try:
            text = roster.decode(data)
        except accounts.AccountError:
            form.roster.errors.append(_("The file is neither UTF-8 nor CP949 text."))
        else:
            result = roster.preview(db.session, current_user.school, text)
            apply_form = RosterApplyForm(payload=base64.b64encode(text.encode()).decode())
            return render_template("admin/roster_preview.html", result=result, apply_form=apply_form)
    return render_template("admin/roster_upload.html", form=form), 200 if request.method == "GET" else 422


@bp.route("/classes/import/apply", methods=["POST"])
def apply_roster():
    """Apply the previewed roster in one transaction: all rows or none."""
    form = RosterApplyForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        text = base64.b64decode(form.payload.data or "", validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        abort(400)
    try:
        result, links = roster.apply(db.session, current_user.school, text, current_user)
    except accounts.AccountError:
        db.session.rollback()
        result = roster.preview(db.session, current_user.school, text)
        flash(_("Nothing was imported: the file has problems. Fix them and upload it again."), "error")
        return render_template("admin/roster_preview.html", result=result,
                               apply_form=RosterApplyForm(payload=form.payload.data)), 422
    _audit("roster_imported", f"rows:{len(result.rows)}")
    db.session.commit()
    return render_template("admin/roster_done.html", result=result,
                           links=[(user, _link_url(raw)) for user, raw in links])


@bp.route("/settings", methods=["GET", "POST"])
def settings():
    """The school's routing, deadlines, retention, time zone and jurisdiction."""
    school = current_user.school
    form = SettingsForm(obj=school)
    form.jurisdiction.choices = jurisdiction.choices()
    if form.validate_on_submit():
        form.populate_obj(school)
        cases.refresh_school_deadlines(db.session, school)  # acknowledgement deadlines may have moved
        _audit("settings_changed", school.code)
        db.session.commit()
        flash(_("The settings were saved."), "success")
        return redirect(url_for("admin.settings"))
    return render_template("admin/settings.html", form=form), 200 if request.method == "GET" else 422
