"""The school's public page (/s/<code>/), its poster, the anonymous form, and the conversation with a code.

Nothing here sets a cookie until the person sends something: the pages carry their language in the address
(?lang=) and their forms carry a signed token instead of a session-bound one. After sending (or entering the code)
one cookie holds the conversation's random token; it ends after a short idle time, on "End" and on quick exit.

Cross-site posts are refused twice over (SECURITY.md, "The school's public page"): every POST here must come from
this origin (the Origin header, which the pages' same-origin referrer policy makes browsers send), and must carry
a token the portal signed: for the first form a timed token naming the school, for the conversation an HMAC of
the conversation's own cookie, which a SameSite=Strict cookie keeps from other sites.
"""

from __future__ import annotations

import hmac
import io
import secrets
from urllib.parse import urlsplit

import segno
from flask import Blueprint, abort, current_app, make_response, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from limits import parse as parse_limit
from markupsafe import Markup
from sqlalchemy import select

from portal import jurisdiction
from portal.channel.forms import MessageForm, ReturnForm, TellForm
from portal.database import read_phase
from portal.extensions import client_address, csrf, db, limiter
from portal.i18n import locale_code
from portal.messages import message_for
from portal.models import Case, School
from portal.models.base import utcnow
from portal.services import cases, channel, conversation
from portal.urls import public_url

bp = Blueprint("channel", __name__, url_prefix="/s")
csrf.exempt(bp)  # no session before sending: the checks below replace the session-bound token
# No default per-address limit here: only the explicit ones below (sending, wrong codes), so that the rate-limit
# store holds no trace of someone who only read the page.
limiter.exempt(bp)

COOKIE = "portal_reporter"
FORM_TOKEN_AGE = 12 * 3600  # a form filled in slowly, over a lesson or an evening, must still send


@bp.before_request
def _same_origin_posts_only():
    """Refuse a POST that a browser says came from another site (or from an opaque origin)."""
    if request.method != "POST":
        return None
    origin = request.headers.get("Origin")
    if origin is None:
        # No Origin: not a browser form post from another site (browsers send Origin on every cross-site POST).
        return None if request.headers.get("Sec-Fetch-Site", "same-origin") in ("same-origin", "none") else abort(400)
    allowed = {request.host_url.rstrip("/"), _origin(current_app.config.get("PUBLIC_URL") or "")}
    return None if origin in allowed else abort(400)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


@bp.after_request
def _headers(response):
    # Same-origin referrers, so that a same-origin form post carries its Origin (with no-referrer it is "null");
    # other sites still get nothing. No page here is ever kept in a cache: it may hold a code or a conversation.
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


def _school(code: str) -> School:
    school = db.session.scalar(select(School).where(School.code == code.lower(), School.is_active.is_(True)))
    if school is None:
        abort(404)
    jurisdiction.use(school.jurisdiction)  # the page's help lines and law follow the school
    return school


def _here(endpoint: str, school: School, **values) -> str:
    """A link on these pages, keeping the language in the address."""
    return url_for(endpoint, code=school.code, lang=locale_code(), **values)


@bp.record_once
def _template_helpers(state):
    # Globals, not a context processor: imported macros (the school list on the home page) see only globals.
    state.app.jinja_env.globals.update(channel_url=_here, public_url=public_url, active_schools=_active_schools)


def _active_schools() -> list[School]:
    return list(db.session.scalars(select(School).where(School.is_active.is_(True)).order_by(School.name_ko)))


# --- the signed form token --------------------------------------------------------------------------------


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="channel-form")


def _new_form_token(school: School) -> str:
    return _serializer().dumps([school.code, secrets.token_urlsafe(18)])


def _form_nonce(form, school: School) -> str | None:
    """The form's nonce if its token is ours, for this school and recent; None if it expired; 400 if forged."""
    try:
        code, nonce = _serializer().loads(form.form_token.data or "", max_age=FORM_TOKEN_AGE)
    except SignatureExpired:
        return None
    except (BadSignature, ValueError, TypeError):
        abort(400)
    if code != school.code:
        abort(400)
    return nonce


# --- pages ------------------------------------------------------------------------------------------------


@bp.route("/<code>/")
def school_page(code: str):
    """"Tell a counselor": what happens, the way in, the way back with a code, help lines, quick exit."""
    school = _school(code)
    return render_template("channel/school.html", school=school, return_form=_return_form(school),
                           ended=request.args.get("ended") == "1")


@bp.route("/<code>/poster")
def poster(code: str):
    """A poster to print, in Korean and English, with a QR code made here (no outside service)."""
    school = _school(code)
    address = public_url("channel.school_page", code=school.code)
    svg = io.BytesIO()
    segno.make(address, error="m").save(svg, kind="svg", scale=8, border=2, xmldecl=False, svgns=True,
                                        title=address)
    texts = {}
    for language in ("ko", "en"):
        with force_locale(language):
            texts[language] = _poster_text()
    return render_template("channel/poster.html", school=school, address=address, texts=texts,
                           qr=Markup(svg.getvalue().decode()))  # noqa: S704  segno's own SVG of our address


def _poster_text() -> dict[str, str | list[str]]:
    """The poster's words in the current language (the poster carries Korean and English side by side)."""
    return {
        "title": _("Tell a counselor"),
        "lead": _("Is someone at school being hurt with a fake sexual picture or video? Tell the school's "
                  "counselors. You do not need an account or your name."),
        "steps": [_("Scan the code, or type the address below."),
                  _("Never send the picture: type a link or a name instead."),
                  _("You get a code to come back, read the answers and write back.")],
        "danger": " ".join([_("Someone in danger now? Call %(police)s.", **jurisdiction.numbers())] + (
            [_("School violence line: %(school)s.", school=school_line.number)]
            if (school_line := jurisdiction.line("school")) else [])),
    }


@bp.route("/<code>/tell", methods=["GET", "POST"])
def tell(code: str):
    """The form; on sending, the receipt code, shown once."""
    school = _school(code)
    form = TellForm()
    if request.method == "GET":
        form.form_token.data = _new_form_token(school)
        return render_template("channel/tell.html", school=school, form=form)
    if not form.validate():
        return _tell_again(school, form)
    nonce = _form_nonce(form, school)
    if nonce is None:
        form.form_token.errors = [_("This page was open for a long time. Check what you wrote and send it again.")]
        return _tell_again(school, form)
    if _used_up("RATELIMIT_CHANNEL_PER_ADDRESS", "channel-send"):
        form.form_token.errors = [_("Many reports were sent from this network in the last hour, so this one was "
                                    "not sent. Nothing you wrote is lost: send it again later, or tell a teacher "
                                    "or counselor you trust. If someone is in danger, call %(police)s now.",
                                    **jurisdiction.numbers())]
        return _tell_again(school, form, status=429)
    code_text = channel.new_code()
    with read_phase():  # the slow hash holds no write lock
        try:  # a cheap look first: a page past its hourly limit costs no hash (the count is made again below)
            cases.check_channel_limit(db.session, school, utcnow())
        except cases.CaseError as error:
            db.session.rollback()
            form.form_token.errors = [message_for(error)]
            return _tell_again(school, form)
        while channel.lookup_taken(db.session, code_text[:channel.LOOKUP_LENGTH]):
            code_text = channel.new_code()
        try:
            receipt = channel.hash_secret(code_text)
        except channel.ChannelBusy as error:
            db.session.rollback()
            form.form_token.errors = [message_for(error)]
            return _tell_again(school, form, status=429)
        db.session.rollback()
    data = cases.ReportData(
        categories=list(dict.fromkeys(form.categories.data)), victim_kind=form.about.data,
        platforms=list(dict.fromkeys(form.platforms.data or [])), links=form.links.data or None,
        description=form.description.data, urgent=form.urgent.data == "yes", kind="anonymous",
        reporter_relation=None if form.relation.data in (None, "", "unsaid") else form.relation.data,
        reporter_identity=(form.identity.data or "").strip() or None)
    try:
        case, created = cases.open_case(db.session, school, data, f"anon-{nonce}", receipt=receipt)
    except cases.CaseError as error:  # nobody to receive it, or the school's hourly limit: keep what was typed
        db.session.rollback()
        form.form_token.errors = [message_for(error)]
        return _tell_again(school, form)
    if not created:
        db.session.rollback()
        return render_template("channel/already_sent.html", school=school)
    # The lookup part may have been drawn again if a concurrent report took it first; the secret part is the same.
    code_text = case.receipt.lookup + code_text[channel.LOOKUP_LENGTH:]
    token = channel.start_session(db.session, case)
    db.session.commit()
    _count("RATELIMIT_CHANNEL_PER_ADDRESS", "channel-send")
    response = make_response(render_template("channel/sent.html", school=school, case=case,
                                             code_groups=channel.grouped(code_text),
                                             address=public_url("channel.school_page", code=school.code)))
    _set_cookie(response, token)
    return response


def _tell_again(school: School, form: TellForm, status: int = 422):
    """The form again with every typed value and a fresh token, and the messages at the top."""
    form.form_token.data = _new_form_token(school)
    return render_template("channel/tell.html", school=school, form=form), status


def _return_form(school: School, formdata=None) -> ReturnForm:
    form = ReturnForm(formdata=formdata)
    form.form_token.data = _new_form_token(school)
    return form


@bp.route("/<code>/return", methods=["GET", "POST"])
def come_back(code: str):
    """Enter the code. A wrong, unknown or paused code gets one answer; guesses are limited per code and address."""
    school = _school(code)
    form = ReturnForm()
    if request.method == "GET":
        return render_template("channel/return.html", school=school, form=_return_form(school))
    if not form.validate():
        return _return_again(school, form)
    if _form_nonce(form, school) is None:
        form.code.errors = [_("This page was open for a long time. Enter the code again.")]
        return _return_again(school, form)
    if _used_up("RATELIMIT_RECEIPT_PER_ADDRESS", "receipt-code"):
        form.code.errors = [_("Too many codes were tried from this network. Wait an hour and try again, or talk "
                              "to a counselor in person.")]
        return _return_again(school, form, status=429)
    now = utcnow()
    typed = channel.normalize(form.code.data)
    with read_phase():  # the slow check holds no write lock
        receipt = channel.find_receipt(db.session, school, typed)
        try:
            opened = channel.check_secret(receipt, typed, now)
        except channel.ChannelBusy:  # not a guess: nothing is counted
            db.session.rollback()
            form.code.errors = [_("Many people are using this page at this moment. Wait a few seconds and enter "
                                  "the code again.")]
            return _return_again(school, form, status=429)
        receipt_id = receipt.case_id if receipt else None
        db.session.rollback()
    channel.record_attempt(db.session, receipt_id, opened, now)
    if not opened:
        db.session.commit()
        if typed is not None:  # a typo that cannot be a code is not a guess
            _count("RATELIMIT_RECEIPT_PER_ADDRESS", "receipt-code")
        form.code.errors = [_("This code does not open a report at this school. Check each group of four and try "
                              "again.")]
        return _return_again(school, form)
    token = channel.start_session(db.session, db.session.get(Case, receipt_id))
    db.session.commit()
    response = redirect(_here("channel.conversation", school))
    _set_cookie(response, token)
    return response


def _return_again(school: School, form: ReturnForm, status: int = 422):
    form.form_token.data = _new_form_token(school)
    return render_template("channel/return.html", school=school, form=form), status


# Per-address limits, counted by hand so that a refusal can keep what was typed: sends through the page, and
# wrong codes. The counters live in the rate-limit store (the instance folder's file, as an HMAC of the address
# under a secret no file holds; Redis; or memory) for the window, never in the database.


def _used_up(setting: str, scope: str) -> bool:
    try:
        return not limiter.limiter.test(parse_limit(current_app.config[setting]), scope, client_address())
    except Exception:  # the shared store is down: the per-school and per-code limits still hold
        current_app.logger.warning("rate-limit store unavailable for %s", scope)
        return False


def _count(setting: str, scope: str) -> None:
    try:
        limiter.limiter.hit(parse_limit(current_app.config[setting]), scope, client_address())
    except Exception:
        current_app.logger.warning("rate-limit store unavailable for %s", scope)


# --- the conversation -------------------------------------------------------------------------------------


def _cookie_name() -> str:
    return f"__Host-{COOKIE}" if current_app.config["HTTPS"] else COOKIE


def _set_cookie(response, token: str) -> None:
    # A browser-session cookie, for the whole site so that quick exit (at /exit) can end it.
    response.set_cookie(_cookie_name(), token, path="/", httponly=True, samesite="Strict",
                        secure=current_app.config["HTTPS"])


def end_conversation(response):
    """End this browser's conversation, if any (the End button and quick exit)."""
    token = request.cookies.get(_cookie_name())
    if token:
        channel.end_session(db.session, token)
        db.session.commit()
        response.delete_cookie(_cookie_name(), path="/", httponly=True, samesite="Strict",
                               secure=current_app.config["HTTPS"])
    return response


def _same_token(sent: str | None, expected: str) -> bool:
    """Constant-time comparison of what was posted with the expected token (bytes: any text may be posted)."""
    return hmac.compare_digest((sent or "").encode(), expected.encode())


def _conversation_case(school: School) -> tuple[Case, str] | None:
    token = request.cookies.get(_cookie_name())
    case = channel.session_case(db.session, token)
    if case is None or case.school_id != school.id:
        return None
    return case, token


@bp.route("/<code>/conversation", methods=["GET", "POST"], endpoint="conversation")
def conversation_page(code: str):
    """The stage and the conversation; without an open conversation, back to the code."""
    school = _school(code)
    found = _conversation_case(school)
    if found is None:
        db.session.rollback()
        return redirect(_here("channel.come_back", school))
    case, token = found
    form = MessageForm()
    mac = channel.session_token_mac(token, current_app.secret_key)
    if request.method == "POST":
        if not _same_token(form.form_token.data, mac):
            abort(400)
        if form.validate():
            try:
                conversation.write_to_school(db.session, case, form.text.data)
            except cases.CaseError as error:
                form.text.errors = [message_for(error)]
            else:
                db.session.commit()
                return redirect(_here("channel.conversation", school, sent=1) + "#messages")
        db.session.rollback()
        found = _conversation_case(school)
        if found is None:
            return redirect(_here("channel.come_back", school))
        case = found[0]
    conversation.seen_by_reporter(db.session, case)
    db.session.commit()
    form.form_token.data = mac
    return render_template("channel/conversation.html", school=school, case=case, form=form,
                           sent=request.args.get("sent") == "1"), 200 if request.method == "GET" else 422


@bp.route("/<code>/end", methods=["POST"])
def end(code: str):
    """End the conversation in this browser; the code still opens it later."""
    school = _school(code)
    token = request.cookies.get(_cookie_name()) or ""
    if not token or not _same_token(request.form.get("form_token"),
                                    channel.session_token_mac(token, current_app.secret_key)):
        abort(400)
    return end_conversation(redirect(_here("channel.school_page", school, ended=1)))
