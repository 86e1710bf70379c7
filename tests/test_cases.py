"""The counselor's case work, confidentiality, the audit chain, escalation and e-mail."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import pytest
from casehelpers import assert_not_in_sqlite_files, case_url, file_report, only_case, signed_in
from conftest import deliver_mail, post
from sqlalchemy import func, select, text

from portal.extensions import db
from portal.models import AuditEvent, AuditHead, Case, DutyItem, Notification, ResponseEntry, User
from portal.models.base import utcnow
from portal.services import audit, background, cases, keys
from portal.testing import free_port

CANARY = "CANARY-7f3a9c-DO-NOT-STORE"


@pytest.fixture
def staff(make_user):
    return {
        "lead": make_user(role="counselor", lead=True),
        "counselor": make_user(role="counselor"),
        "teacher": make_user(role="teacher"),
        "teacher2": make_user(role="teacher"),
        "admin": make_user(role="school_admin"),
        "other_counselor": make_user(role="counselor", school="saesol", lead=True),
        "district": make_user(role="district_admin", school=None),
    }


@pytest.fixture
def reported(app, staff, login):
    """A case filed by the teacher through the form."""
    teacher = app.test_client()
    login(teacher, staff["teacher"])
    file_report(teacher)
    return only_case(app)


def test_full_journey_from_report_to_closure(app, staff, login, reported):
    lead = signed_in(app, login, staff["lead"])
    inbox = lead.get("/cases/").get_data(as_text=True)
    assert reported.reference in inbox and "Kim Minji" not in inbox  # no names in the list
    page = lead.get(case_url(reported)).get_data(as_text=True)
    assert "내용 주의" in page and "<details" in page  # content note before the narrative
    assert post(lead, case_url(reported, "/acknowledge"), token_from=case_url(reported)).status_code == 302
    entry = {"kind": "police_report", "happened_at": "2026-11-20T10:00", "agency": "Seoul Mapo Police",
             "report_number": "2026-4471", "text": "Reported by phone."}
    assert post(lead, case_url(reported, "/entries"), entry, token_from=case_url(reported)).status_code == 302
    takedown = {"kind": "takedown", "happened_at": "2026-11-20T11:00", "link": "t.me/example-channel",
                "platform": "telegram", "takedown_status": "requested", "text": ""}
    assert post(lead, case_url(reported, "/entries"), takedown, token_from=case_url(reported)).status_code == 302
    assert post(lead, case_url(reported, "/close"), {"outcome": "referred_to_police", "confirm": "y"},
                token_from=case_url(reported)).status_code == 302
    with app.app_context():
        case = db.session.get(Case, reported.id)
        assert case.status == "closed" and case.outcome == "referred_to_police"
        police = next(d for d in case.duties if d.duty_id == "police_report")
        assert police.done_at is not None
        assert [e.kind for e in case.entries] == ["police_report", "takedown"]
    printed = lead.get(case_url(reported, "/print")).get_data(as_text=True)
    assert "2026-4471" in printed and "Seoul Mapo Police" in printed and "t.me/example-channel" in printed
    with app.app_context():
        digest = audit.case_hash(db.session, reported.id)
        assert digest in printed
        actions = list(db.session.scalars(select(AuditEvent.action).where(AuditEvent.case_id == reported.id)))
    for action in ("case_created", "case_viewed", "case_acknowledged", "entry_added", "case_closed", "case_exported"):
        assert action in actions
    english = lead.get(case_url(reported), headers={"Accept-Language": "en"})
    assert "Response log" in english.get_data(as_text=True)


def test_reopen_and_a_late_entry_on_a_closed_case(app, staff, login, reported):
    lead = signed_in(app, login, staff["lead"])
    with app.app_context():
        case = db.session.get(Case, reported.id)
        user = db.session.get(User, staff["lead"])
        cases.acknowledge(db.session, user, case)
        cases.close(db.session, user, case, "resolved", reasons={"police_report": "reported by the victim's family"})
        db.session.commit()
    # A police report number that arrives after closing is still logged, as an addendum; the case stays closed.
    late = {"kind": "police_report", "happened_at": "2026-11-20T10:00", "agency": "Mapo Police",
            "report_number": "2026-9001", "text": ""}
    page = lead.get(case_url(reported)).get_data(as_text=True)
    assert "종결 후 기록 추가" in page
    assert post(lead, case_url(reported, "/entries"), late, token_from=case_url(reported)).status_code == 302
    with app.app_context():
        case = db.session.get(Case, reported.id)
        entry = next(e for e in case.entries if e.kind == "police_report")
        assert case.status == "closed" and entry.after_close
        assert next(d for d in case.duties if d.duty_id == "police_report").done_at is not None
    english = lead.get(case_url(reported), headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Added after the case was closed" in english
    assert post(lead, case_url(reported, "/reopen"), token_from=case_url(reported)).status_code == 302
    with app.app_context():
        assert db.session.get(Case, reported.id).status == "in_progress"


def test_log_is_append_only_and_corrections_point_back(app, staff, login, reported):
    lead = signed_in(app, login, staff["lead"])
    post(lead, case_url(reported, "/entries"), {"kind": "note", "happened_at": "2026-11-20T10:00",
                                                "text": "Met the student at 10."}, token_from=case_url(reported))
    with app.app_context():
        first = db.session.scalar(select(ResponseEntry))
    post(lead, case_url(reported, "/entries"), {"kind": "note", "happened_at": "2026-11-20T10:00",
                                                "text": "The meeting was at 11, not 10.", "corrects": str(first.id)},
         token_from=case_url(reported))
    with app.app_context():
        entries = db.session.scalars(select(ResponseEntry).order_by(ResponseEntry.id)).all()
        assert [e.text for e in entries] == ["Met the student at 10.", "The meeting was at 11, not 10."]
        assert entries[1].corrects_id == first.id
    page = lead.get(case_url(reported)).get_data(as_text=True)
    assert f"기록 #{first.id} 정정" in page
    # There is no route that edits or deletes an entry.
    rules = [r.rule for r in app.url_map.iter_rules() if r.endpoint.startswith("cases.")]
    assert not any("edit" in r or "delete" in r for r in rules)


def test_bad_log_entry_keeps_what_was_typed(app, staff, login, reported):
    lead = signed_in(app, login, staff["lead"])
    response = post(lead, case_url(reported, "/entries"), {"kind": "police_report", "happened_at": "2026-11-20T10:00",
                                                           "report_number": "KEEP-ME-123", "agency": ""},
                    token_from=case_url(reported))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "신고한 경찰관서를 입력하십시오" in page and "KEEP-ME-123" in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ResponseEntry)) == 0


def test_add_and_transfer_counselors(app, staff, make_user, login):
    with app.app_context():
        db.session.execute(db.text("UPDATE schools SET routing = 'lead'"))
        db.session.commit()
    teacher = signed_in(app, login, staff["teacher"])
    file_report(teacher)
    case = only_case(app)
    counselor = signed_in(app, login, staff["counselor"])
    assert counselor.get(case_url(case)).status_code == 404
    lead = signed_in(app, login, staff["lead"])
    post(lead, case_url(case, "/assign"), {"counselor": str(staff["counselor"])}, token_from=case_url(case))
    assert counselor.get(case_url(case)).status_code == 200
    third = make_user(role="counselor")
    post(counselor, case_url(case, "/assign"), {"counselor": str(third), "transfer": "y"}, token_from=case_url(case))
    assert counselor.get(case_url(case)).status_code == 404  # handed over
    assert signed_in(app, login, third).get(case_url(case)).status_code == 200


@pytest.mark.parametrize("who", ["teacher2", "teacher", "other_counselor", "district", "admin"])
def test_outsiders_get_404_and_are_audited(app, staff, login, reported, who):
    client = signed_in(app, login, staff[who])
    for suffix in ("", "/print"):
        response = client.get(case_url(reported, suffix))
        assert response.status_code == 404, (who, suffix)
    for suffix, data in (("/acknowledge", {}), ("/entries", {"kind": "note", "text": "x"}),
                         ("/close", {"outcome": "resolved", "confirm": "y"})):
        assert post(client, case_url(reported, suffix), data).status_code == 404
    with app.app_context():
        denied = db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "case_denied", AuditEvent.actor_id == staff[who]))
        assert denied == 5  # each of the five attempts, the case file among them
        assert db.session.get(Case, reported.id).status == "new"


def _committed_meanwhile(app, after: str, sql: str, params: dict):
    """Once the request's first statement containing `after` has run, another connection runs `sql` and commits:
    a change that lands while the request is between its reading and its writing."""
    from sqlalchemy import event

    with app.app_context():
        engine = db.engine
    done = []

    def meanwhile(conn, cursor, statement, *args):
        if not done and after in statement:
            done.append(True)
            with engine.connect() as other:
                other.execute(text(sql), params)
                other.commit()

    event.listen(engine, "after_cursor_execute", meanwhile)
    return lambda: event.remove(engine, "after_cursor_execute", meanwhile) or bool(done)


def _audited(app, action: str, user_id: int) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == action, AuditEvent.actor_id == user_id))


def test_an_outsider_on_a_case_url_is_refused_and_audited_while_others_write(app, staff, login, reported):
    """The case file's request begins as a reader (SQLite: no write lock while it reads). A teacher trying its
    address is recorded in a transaction of its own, even when another writer committed after the request began
    (a reader's transaction could not write then: "database is locked")."""
    teacher = signed_in(app, login, staff["teacher2"])
    finished = _committed_meanwhile(app, "FROM users", "UPDATE users SET display_name = display_name || '.' "
                                    "WHERE id = :user", {"user": staff["lead"]})
    try:
        assert teacher.get(case_url(reported)).status_code == 404
    finally:
        assert finished()
    assert _audited(app, "case_denied", staff["teacher2"]) == 1


@pytest.mark.parametrize("change", [
    "DELETE FROM case_assignees WHERE case_id = :case AND user_id = :user",  # taken off the case
    "UPDATE users SET role = 'teacher', session_version = session_version + 1 WHERE id = :user",  # role changed
    "UPDATE users SET session_version = session_version + 1 WHERE id = :user",  # signed out everywhere
    "UPDATE schools SET is_active = false WHERE id = (SELECT school_id FROM cases WHERE id = :case)",
])
def test_a_case_file_checks_access_again_when_it_records_the_view(app, staff, login, reported, change):
    """The case file finds the case and checks access as a reader, then records the view as a writer: what ended
    in between (an assignment, the counselor's role, their sessions, the school's account) is seen there, and the
    counselor gets not found, recorded as a denial, not the file."""
    lead = signed_in(app, login, staff["lead"])
    viewed = _audited(app, "case_viewed", staff["lead"])
    finished = _committed_meanwhile(app, "case_assignees", change, {"case": reported.id, "user": staff["lead"]})
    try:
        page = lead.get(case_url(reported))
    finally:
        assert finished()
    assert page.status_code == 404 and "Kim Minji" not in page.get_data(as_text=True)
    assert _audited(app, "case_viewed", staff["lead"]) == viewed
    assert _audited(app, "case_denied", staff["lead"]) == 1


def test_unassigned_counselor_gets_404(app, staff, login, make_user, reported):
    late_joiner = make_user(role="counselor")  # joined after routing
    assert signed_in(app, login, late_joiner).get(case_url(reported)).status_code == 404


def test_admin_and_lead_see_who_opened_the_case(app, staff, login, reported):
    lead = signed_in(app, login, staff["lead"])
    lead.get(case_url(reported))
    admin = signed_in(app, login, staff["admin"])
    page = admin.get(case_url(reported, "/access")).get_data(as_text=True)
    assert "사안 기록 열람" in page
    assert "Kim Minji" not in page and "group chat" not in page
    assert signed_in(app, login, staff["counselor"]).get(case_url(reported, "/access")).status_code == 404


def test_case_urls_are_opaque(reported):
    assert len(reported.public_id) >= 20 and str(reported.id) != reported.public_id
    assert reported.reference not in reported.public_id


def test_canary_never_reaches_the_database_file_outbox_or_logs(app, database_url, staff, login, make_user, caplog,
                                                                tmp_path):
    caplog.set_level("DEBUG")
    make_user(role="counselor", email="c@school.test")
    teacher = signed_in(app, login, staff["teacher"])
    file_report(teacher, description=f"story {CANARY}", victim_names=CANARY, links=f"t.me/{CANARY}",
                suspects=CANARY, how_learned=CANARY, police_told="yes", police_report_number=CANARY)
    case = only_case(app)
    lead = signed_in(app, login, staff["lead"])
    post(lead, case_url(case, "/entries"), {"kind": "note", "happened_at": "2026-11-20T10:00", "text": CANARY},
         token_from=case_url(case))
    with app.app_context():
        assert db.session.get(Case, case.id).description.endswith(CANARY)  # readable through the app
        raw = db.session.execute(text("SELECT description, victim_names FROM cases")).one()
        assert CANARY not in raw[0] and raw[0].startswith("v1:")
    assert deliver_mail(app) >= 1
    assert CANARY not in caplog.text
    outbox = list((tmp_path / "instance" / "outbox").glob("*.eml"))
    assert outbox, "the counselor with an e-mail address got a queued mail"
    for mail in outbox:
        assert CANARY.encode() not in mail.read_bytes() and b"Kim" not in mail.read_bytes()
    assert_not_in_sqlite_files(database_url, CANARY)


def test_key_rotation_reencrypts_everything(app, staff, login, reported, tmp_path):
    config = tmp_path / "instance" / "config.py"
    config.write_text(f"DATA_KEY_ID = 't1'\nDATA_KEYS = {app.config['DATA_KEYS']!r}\n")
    with app.app_context():
        new_id, count = keys.rotate(app, db.session)
        keys.write_key_to_config(config, new_id, app.config["DATA_KEYS"][new_id])
        db.session.commit()
        assert count >= 5 and keys.stale_values(db.session, new_id) == 0
        assert db.session.get(Case, reported.id).victim_names == "Kim Minji, 2-3"
    assert f"DATA_KEY_ID = '{new_id}'" in config.read_text() and "'t1'" in config.read_text()
    # Without the old key, only values under the new key can be read: the new key really is in use.
    app.config["DATA_KEYS"] = {new_id: app.config["DATA_KEYS"][new_id]}
    with app.app_context():
        assert db.session.get(Case, reported.id).description.startswith("A fake image")


def _tamper(app, sql):
    with app.app_context():
        db.session.execute(text(sql))
        db.session.commit()


def _verify(app):
    with app.app_context():
        return audit.verify(db.session)


def test_audit_chain_catches_changed_removed_and_inserted_rows(app, staff, login, reported):
    lead = signed_in(app, login, staff["lead"])
    for _ in range(3):
        lead.get(case_url(reported))
    count, problem = _verify(app)
    assert problem is None and count >= 5
    _tamper(app, "UPDATE audit_events SET actor_id = NULL WHERE id = 3")
    assert _verify(app)[1].row_id == 3


def test_audit_chain_catches_a_removed_row(app, staff, login, reported):
    signed_in(app, login, staff["lead"]).get(case_url(reported))
    _tamper(app, "DELETE FROM audit_events WHERE id = 2")
    assert _verify(app)[1].row_id == 2


def test_audit_chain_catches_a_removed_last_row(app, staff, login, reported):
    count, _ = _verify(app)
    _tamper(app, f"DELETE FROM audit_events WHERE id = {count}")
    assert _verify(app)[1] is not None


def test_audit_chain_catches_an_inserted_row(app, staff, login, reported):
    with app.app_context():
        row = db.session.scalar(select(AuditEvent).where(AuditEvent.id == 2))
        values = (row.at, row.hash, row.hash[::-1])
    _tamper(app, "UPDATE audit_events SET id = id + 1000 WHERE id >= 3")
    with app.app_context():
        db.session.execute(text("INSERT INTO audit_events (id, at, action, prev_hash, hash) "
                                "VALUES (3, :at, 'case_viewed', :prev, :hash)"),
                           {"at": values[0], "prev": values[1], "hash": values[2]})
        db.session.commit()
    problem = _verify(app)[1]
    assert problem is not None and problem.row_id in (3, 1003, 1004)


def test_escalation_notifies_lead_and_admin_once(app, staff, reported):
    with app.app_context():
        case = db.session.get(Case, reported.id)
        before = db.session.scalar(select(func.count()).select_from(Notification))
        # The police duty is due at once, but "overdue" and escalation wait for the school's grace (60 minutes).
        assert cases.escalate(db.session, app, case.created_at + timedelta(minutes=59, seconds=59)) == 0
        assert cases.escalate(db.session, app, case.created_at + timedelta(minutes=60)) == 1
        db.session.commit()
        late = case.created_at + timedelta(hours=25)
        done = cases.escalate(db.session, app, late)
        db.session.commit()
        assert done >= 1
        assert cases.escalate(db.session, app, late + timedelta(hours=1)) == 0  # once per item
        db.session.commit()
        kinds = db.session.execute(select(Notification.user_id, Notification.kind)
                                   .where(Notification.id > before)).all()
    notified = {user for user, _kind in kinds}
    assert notified == {staff["lead"], staff["admin"]}
    assert {"ack_overdue", "duty_overdue"} <= {kind for _user, kind in kinds}


def test_acknowledged_in_time_is_not_escalated(app, staff, reported):
    with app.app_context():
        case = db.session.get(Case, reported.id)
        cases.acknowledge(db.session, db.session.get(User, staff["lead"]), case)
        for item in case.duties:
            item.done_at = case.created_at
        db.session.commit()
        assert cases.escalate(db.session, app, case.created_at + timedelta(days=3)) == 0


def test_tick_runs_the_registered_checks(app, reported):
    results = background.run_checks(app, now=reported.created_at + timedelta(hours=30))
    assert results["escalate"] >= 1



def test_mail_goes_through_a_real_smtp_server(app, make_user, staff, login):
    from aiosmtpd.controller import Controller

    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope)
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
        with app.app_context():
            lead = db.session.get(User, staff["lead"])
            lead.email, lead.locale = "lead@school.test", "en"
            db.session.commit()
        teacher = signed_in(app, login, staff["teacher"])
        file_report(teacher, urgent="yes", description=f"x {CANARY}")
        assert received == []  # nothing leaves the process inside the request's transaction
        assert deliver_mail(app) == 1
    finally:
        controller.stop()
    case = only_case(app)
    assert len(received) == 1 and received[0].rcpt_tos == ["lead@school.test"]
    from email import message_from_bytes, policy

    body = message_from_bytes(received[0].content, policy=policy.default).get_body().get_content()
    body += received[0].content.decode()
    assert case.reference in body and "URGENT" in body and f"/cases/{case.public_id}" in body
    for secret in (CANARY, "Kim Minji", "telegram", "t.me"):
        assert secret not in body
    asyncio.get_event_loop_policy()  # the controller's loop is closed cleanly


def test_inbox_orders_urgent_and_overdue_first(app, staff):
    with app.app_context():
        teacher = db.session.get(User, staff["teacher"])
        calm, _ = cases.submit_report(db.session, teacher, cases.ReportData(["other"], "unknown"), "tok-calm-000000000")
        hot, _ = cases.submit_report(db.session, teacher, cases.ReportData(["threat"], "student", urgent=True),
                                     "tok-hot-0000000000")
        db.session.commit()
        other, _ = cases.submit_report(db.session, teacher, cases.ReportData(["other"], "staff"),
                                       "tok-other-00000000")
        lead = db.session.get(User, staff["lead"])
        cases.acknowledge(db.session, lead, db.session.get(Case, calm.id))
        db.session.commit()
        order = [c.reference for c in cases.inbox(db.session, lead).cases]
        assert order[0] == hot.reference  # urgent first
        # Then by the earliest open deadline, stored on the case: "calm" has the police duty due at once;
        # "other" (an adult victim: no police duty) is due to be acknowledged within 24 hours.
        assert order[1:] == [calm.reference, other.reference]
        stored = db.session.get(Case, calm.id)
        assert stored.next_due_at == cases.next_deadline(stored, utcnow()).at
        only_threats = cases.inbox(db.session, lead, category="threat").cases
        assert [c.reference for c in only_threats] == [hot.reference]
        assert calm.reference in order


def test_case_numbers_restart_each_year_per_school(app, staff):
    from datetime import UTC, datetime

    with app.app_context():
        teacher = db.session.get(User, staff["teacher"])
        a, _ = cases.submit_report(db.session, teacher, cases.ReportData(["other"], "unknown"), "tok-y1-00000000001",
                                   now=datetime(2026, 12, 31, 14, tzinfo=UTC))
        b, _ = cases.submit_report(db.session, teacher, cases.ReportData(["other"], "unknown"), "tok-y2-00000000002",
                                   now=datetime(2027, 1, 2, 1, tzinfo=UTC))
        db.session.commit()
        assert a.reference == "HANBIT-2026-0001" and b.reference == "HANBIT-2027-0001"


def test_case_numbers_go_on_past_9999_without_losing_a_digit(app, staff):
    """The number is at least four digits and is never cut: PostgreSQL writes it in SQL, SQLite in Python."""
    from datetime import UTC, datetime

    from portal.models import CaseCounter, School

    with app.app_context():
        teacher = db.session.get(User, staff["teacher"])
        db.session.add(CaseCounter(school_id=teacher.school_id, year=2026, last_number=9998))
        db.session.commit()
        sent = [cases.submit_report(db.session, teacher, cases.ReportData(["other"], "unknown"), f"tok-9999-{n:010d}",
                                    now=datetime(2026, 12, 1, 9, tzinfo=UTC))[0].reference for n in range(3)]
        db.session.commit()
        code = db.session.get(School, teacher.school_id).code.upper()
        stored = db.session.scalars(select(Case.reference).order_by(Case.id)).all()
    assert sent == stored == [f"{code}-2026-9999", f"{code}-2026-10000", f"{code}-2026-10001"]


def test_no_case_ids_in_notification_text(app, staff, reported):
    with app.app_context():
        n = db.session.scalar(select(Notification))
        from portal.services.notify import describe

        with app.test_request_context():
            assert re.fullmatch(r".*HANBIT-\d{4}-\d{4}.*", describe(n))
        assert db.session.scalar(select(func.count()).select_from(DutyItem)) >= 4


# --- Deadlines that tell the truth: one computation, tested at its boundaries -------------------------------


def _states(app, case_id, at):
    with app.app_context():
        case = db.session.get(Case, case_id)
        now = case.created_at + at
        return ({item.duty_id: cases.duty_deadline(case, item, now).state for item in case.duties},
                cases.next_deadline(case, now).state)


@pytest.mark.parametrize(("at", "police", "pressing"), [
    (timedelta(0), "due_now", "due_now"),
    (timedelta(minutes=59, seconds=59), "due_now", "due_now"),
    (timedelta(minutes=60), "overdue", "overdue"),
    (timedelta(minutes=61), "overdue", "overdue"),
])
def test_an_immediate_duty_is_due_now_then_overdue_after_the_grace(app, reported, at, police, pressing):
    states, most_pressing = _states(app, reported.id, at)
    assert states["police_report"] == police and most_pressing == pressing


@pytest.mark.parametrize(("at", "state"), [
    (timedelta(hours=23, minutes=59, seconds=59), "due"),
    (timedelta(hours=24), "overdue"),
    (timedelta(hours=24, seconds=1), "overdue"),
])
def test_guidance_keeps_its_own_deadline_without_grace(app, reported, at, state):
    states, _ = _states(app, reported.id, at)
    assert states["guardian_contact"] == state and states["safety_measure"] == state
    assert states["school_violence_procedure"] == "due"  # 72 hours


def test_the_grace_period_is_a_school_setting(app, staff, login, reported):
    admin = signed_in(app, login, staff["admin"])
    page = admin.get("/admin/settings").get_data(as_text=True)
    assert 'name="duty_grace_minutes"' in page and 'value="60"' in page
    form = {"routing": "all", "ack_urgent_hours": "1", "ack_normal_hours": "24", "duty_grace_minutes": "15",
            "retention_days": "1825", "timezone": "Asia/Seoul", "jurisdiction": "KR"}
    assert post(admin, "/admin/settings", {**form, "duty_grace_minutes": "0"},
                token_from="/admin/settings").status_code == 422
    assert post(admin, "/admin/settings", form, token_from="/admin/settings").status_code == 302
    states, _ = _states(app, reported.id, timedelta(minutes=15))
    assert states["police_report"] == "overdue"


def test_a_new_case_says_due_now_not_overdue(app, staff, login, reported):
    lead = signed_in(app, login, staff["lead"])
    for path in ("/cases/", case_url(reported)):
        page = lead.get(path).get_data(as_text=True)
        assert "즉시 이행(청소년성보호법 제34조 제2항)" in page, path
        assert "기한 지남" not in page, path
    english = lead.get(case_url(reported), headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Due now — immediately (Child and Youth Sex Protection Act Art. 34(2))" in english
    assert "Legal duties and school guidance" in english and "Legal duties and deadlines" not in english
    assert english.count(">Legal duty<") == 1 and english.count(">School guidance<") == 4
    assert "Call the police now" in english  # what to do


def test_the_print_view_marks_open_items_not_done(app, staff, login, reported):
    lead = signed_in(app, login, staff["lead"])
    page = lead.get(case_url(reported, "/print"), headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert page.count("<strong>not done</strong>") == 5
    assert "[Legal duty]" in page and "[School guidance]" in page


def test_an_escalation_mail_says_how_long_the_case_has_been_open_and_names_no_law(app, staff, reported):
    from email import message_from_bytes, policy
    from pathlib import Path

    with app.app_context():
        lead = db.session.get(User, staff["lead"])
        lead.email, lead.locale = "lead@school.test", "en"
        db.session.commit()
        case = db.session.get(Case, reported.id)
        cases.escalate(db.session, app, case.created_at + timedelta(hours=2, minutes=5))
        db.session.commit()
    assert deliver_mail(app) >= 1
    bodies = [message_from_bytes(p.read_bytes(), policy=policy.default).get_body().get_content()
              for p in (Path(app.instance_path) / "outbox").glob("*.eml")]
    escalation = next(b for b in bodies if "checklist item is still open" in b)
    assert "The case was opened 2 hours ago." in escalation
    assert "legal duty" not in escalation.lower() and "overdue" not in escalation.lower()


# --- Closing a case: no preselected outcome, a confirmation, a reason for each open legal duty -------------


def _acknowledged(app, staff, case_id):
    with app.app_context():
        cases.acknowledge(db.session, db.session.get(User, staff["lead"]), db.session.get(Case, case_id))
        db.session.commit()


def test_closing_needs_an_outcome_and_a_confirmation_and_nothing_is_preselected(app, staff, login, reported):
    _acknowledged(app, staff, reported.id)
    lead = signed_in(app, login, staff["lead"])
    page = lead.get(case_url(reported)).get_data(as_text=True)
    close_form = page[page.index('id="close"'):]
    assert "checked" not in close_form[:close_form.index("</form>")]  # no outcome is preselected
    reasons = {"reason_police_report": "The victim's guardian reported it at the police station."}
    for data, message in (({"confirm": "y", **reasons}, "처리 결과를 선택하십시오"),
                          ({"outcome": "resolved", **reasons}, "종결 확인란에 체크하십시오")):
        response = post(lead, case_url(reported, "/close"), data, token_from=case_url(reported))
        assert response.status_code == 422 and message in response.get_data(as_text=True)
        assert "The victim&#39;s guardian reported it" in response.get_data(as_text=True)  # kept
    with app.app_context():
        assert db.session.get(Case, reported.id).status == "acknowledged"


def test_closing_with_an_open_legal_duty_requires_a_logged_reason(app, staff, login, reported):
    _acknowledged(app, staff, reported.id)
    lead = signed_in(app, login, staff["lead"])
    page = lead.get(case_url(reported), headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Legal duties are still open" in page
    assert "Why is this legal duty not done: Report to an investigative agency (the police) immediately" in page
    refused = post(lead, case_url(reported, "/close"), {"outcome": "resolved", "confirm": "y"},
                   token_from=case_url(reported))
    assert refused.status_code == 422 and "사유를 적으십시오" in refused.get_data(as_text=True)
    reason = "The victim's guardian reported it at Mapo police station; number to follow."
    ok = post(lead, case_url(reported, "/close"), {"outcome": "referred_to_police", "confirm": "y",
                                                   "reason_police_report": reason}, token_from=case_url(reported))
    assert ok.status_code == 302
    with app.app_context():
        case = db.session.get(Case, reported.id)
        assert case.status == "closed"
        [entry] = [e for e in case.entries if e.kind == "duty_open_at_close"]
        assert entry.text == reason and entry.duty_id == "police_report"
        assert next(d for d in case.duties if d.duty_id == "police_report").done_at is None  # still not done
    printed = lead.get(case_url(reported, "/print"), headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert printed.count("<strong>not done</strong>") == 5 and reason.replace("'", "&#39;") in printed


def test_guidance_open_at_close_needs_no_reason(app, staff, login, reported):
    _acknowledged(app, staff, reported.id)
    lead = signed_in(app, login, staff["lead"])
    police = {"kind": "police_report", "happened_at": "2026-11-20T10:00", "agency": "Mapo Police", "text": ""}
    assert post(lead, case_url(reported, "/entries"), police, token_from=case_url(reported)).status_code == 302
    page = lead.get(case_url(reported), headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Legal duties are still open" not in page
    assert post(lead, case_url(reported, "/close"), {"outcome": "resolved", "confirm": "y"},
                token_from=case_url(reported)).status_code == 302


def test_a_duty_marked_not_applicable_needs_a_reason_and_logs_it(app, staff, login, reported):
    lead = signed_in(app, login, staff["lead"])
    url = case_url(reported, "/duties/guardian_contact/not-applicable")
    refused = post(lead, url, {"guardian_contact-reason": "  "}, token_from=case_url(reported))
    assert refused.status_code == 422 and "사유를 적으십시오" in refused.get_data(as_text=True)
    reason = "The person affected is an adult member of staff."
    assert post(lead, url, {"guardian_contact-reason": reason}, token_from=case_url(reported)).status_code == 302
    again = post(lead, url, {"guardian_contact-reason": reason}, token_from=case_url(reported))
    assert again.status_code == 422  # already decided
    with app.app_context():
        case = db.session.get(Case, reported.id)
        item = next(d for d in case.duties if d.duty_id == "guardian_contact")
        entry = db.session.get(ResponseEntry, item.not_applicable_entry_id)
        assert item.not_applicable_at is not None and entry.text == reason and entry.kind == "duty_not_applicable"
        now = case.created_at + timedelta(days=2)
        assert cases.duty_deadline(case, item, now) is None  # no longer overdue, no escalation
        assert item not in cases.overdue_duties(case, now)
        assert "duty_not_applicable" in set(db.session.scalars(select(AuditEvent.action)))
    page = lead.get(case_url(reported), headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Not applicable" in page and "Checklist item marked not applicable" in page
    assert post(lead, case_url(reported, "/duties/no_such_duty/not-applicable"), {"no_such_duty-reason": "x"},
                token_from=case_url(reported)).status_code == 422


# --- Which duties a case carries ---------------------------------------------------------------------------


def _duty_ids(app, case_id) -> set[str]:
    with app.app_context():
        return {d.duty_id for d in db.session.get(Case, case_id).duties}


def test_a_report_about_an_adult_staff_member_carries_no_police_duty(app, staff, login):
    from casehelpers import file_report as send

    teacher = signed_in(app, login, staff["teacher"])
    send(teacher, victim_kind="staff")
    case = only_case(app)
    duties = _duty_ids(app, case.id)
    assert "police_report" not in duties and "guardian_contact" in duties  # guidance still applies


def test_a_student_request_starts_without_duties_until_it_is_classified(app, staff, login, make_user):
    student = signed_in(app, login, make_user(role="student"))
    page = student.get("/reports/help").get_data(as_text=True)
    token = re.search(r'name="submission_token"[^>]*value="([^"]+)"', page).group(1)
    post(student, "/reports/help", {"message": "Someone is sharing a fake picture of me.", "urgent": "no",
                                    "submission_token": token}, token_from="/reports/help")
    case = only_case(app)
    assert _duty_ids(app, case.id) == set()
    lead = signed_in(app, login, staff["lead"])
    page = lead.get(case_url(case)).get_data(as_text=True)
    assert "이 요청은 어떤 사안입니까" in page and "즉시 이행" not in page
    assert post(lead, case_url(case, "/classify"), {}, token_from=case_url(case)).status_code == 422
    before = utcnow()
    assert post(lead, case_url(case, "/classify"), {"classification": "minor_sex_crime"},
                token_from=case_url(case)).status_code == 302
    with app.app_context():
        stored = db.session.get(Case, case.id)
        police = next(d for d in stored.duties if d.duty_id == "police_report")
        assert police.due_at >= before.replace(microsecond=0) - timedelta(seconds=1)  # due from now, not filing
        assert [e.kind for e in stored.entries] == ["classified_minor_sex_crime"]
        assert cases.duty_deadline(stored, police, utcnow()).state == "due_now"
    page = lead.get(case_url(case)).get_data(as_text=True)
    assert "즉시 이행(청소년성보호법 제34조 제2항)" in page
    again = post(lead, case_url(case, "/classify"), {"classification": "other"}, token_from=case_url(case))
    assert again.status_code == 422  # decided once, and logged


def test_a_request_classified_as_something_else_carries_no_duties(app, staff, login, make_user):
    with app.app_context():
        student = db.session.get(User, make_user(role="student"))
        case, _ = cases.submit_report(db.session, student, cases.ReportData(["other"], "student",
                                      description="help", kind="student_request"), "classify-token-0000001")
        cases.classify(db.session, db.session.get(User, staff["lead"]), case, "other")
        db.session.commit()
        assert db.session.get(Case, case.id).duties == []
        assert cases.next_deadline(db.session.get(Case, case.id), utcnow()).rule is None  # only acknowledging


# --- A school admin acting alone cannot quietly widen who reads a case ------------------------------------


def test_a_new_lead_reaches_open_cases_only_through_a_notified_handover(app, staff, login, make_user):
    """The rogue-admin path: excluded from a case, the admin makes a fresh counselor the lead. The new lead is
    added to the open cases, and every case's counselors are told at once, with a log entry naming the admin."""
    from casehelpers import file_report as send

    teacher = signed_in(app, login, staff["teacher"])
    send(teacher, excluded=[str(staff["admin"])])
    excluded_case = only_case(app)
    with app.app_context():
        closed, _ = cases.submit_report(db.session, db.session.get(User, staff["teacher"]),
                                        cases.ReportData(["other"], "staff"), "closed-case-token-0001")
        lead = db.session.get(User, staff["lead"])
        cases.acknowledge(db.session, lead, closed)
        cases.close(db.session, lead, closed, "resolved")
        db.session.commit()
        closed_id = closed.public_id
    puppet = make_user(role="counselor", username="new-counselor")
    puppet_client = signed_in(app, login, puppet)
    assert puppet_client.get(case_url(excluded_case)).status_code == 404  # not routed to them
    admin = signed_in(app, login, staff["admin"])
    before = _notices(app)
    assert post(admin, f"/admin/users/{puppet}/lead", token_from=f"/admin/users/{puppet}").status_code == 302
    assert puppet_client.get(case_url(excluded_case)).status_code == 200
    assert puppet_client.get(f"/cases/{closed_id}").status_code == 404  # closed cases are not handed over
    told = {(user, kind) for user, kind in _notices(app) - before}
    assert {(staff["lead"], "lead_added"), (staff["counselor"], "lead_added"), (puppet, "assigned")} <= told
    with app.app_context():
        case = db.session.get(Case, excluded_case.id)
        [entry] = [e for e in case.entries if e.kind == "lead_handover"]
        assert entry.author_id == staff["admin"]
        assert "lead_handover" in set(db.session.scalars(select(AuditEvent.action)
                                                         .where(AuditEvent.case_id == case.id)))
    page = signed_in(app, login, staff["counselor"]).get(case_url(excluded_case), headers={"Accept-Language": "en"})
    assert "The new lead counselor was added to the case" in page.get_data(as_text=True)


def _notices(app) -> set[tuple[int, str]]:
    with app.app_context():
        return {(n.user_id, n.kind) for n in db.session.scalars(select(Notification))}


def test_a_second_factor_reset_is_mailed_to_the_user(app, staff, login):
    from email import message_from_bytes, policy
    from pathlib import Path

    with app.app_context():
        counselor = db.session.get(User, staff["counselor"])
        counselor.email, counselor.locale = "counselor@school.test", "en"
        db.session.commit()
    admin = signed_in(app, login, staff["admin"])
    url = f"/admin/users/{staff['counselor']}"
    assert post(admin, url + "/two-factor-reset", token_from=url).status_code == 302
    assert deliver_mail(app) == 1
    [mail] = (Path(app.instance_path) / "outbox").glob("*.eml")
    body = message_from_bytes(mail.read_bytes(), policy=policy.default).get_body().get_content()
    assert "A school admin reset your two-factor sign-in" in body and "If you did not ask for this" in body


def test_an_action_is_audited_as_what_it_did_not_as_an_extra_view(app, staff, login, reported):
    lead = signed_in(app, login, staff["lead"])
    token_page = case_url(reported)
    lead.get(token_page)
    with app.app_context():
        before = db.session.scalar(select(func.max(AuditEvent.id)))
    assert post(lead, case_url(reported, "/acknowledge"), token_from="/cases/").status_code == 302
    with app.app_context():
        actions = list(db.session.scalars(select(AuditEvent.action).where(AuditEvent.id > before,
                                                                          AuditEvent.case_id == reported.id)))
    assert actions == ["case_acknowledged"]


def test_the_stored_next_deadline_follows_the_case(app, staff, login, reported):
    lead = signed_in(app, login, staff["lead"])
    with app.app_context():
        case = db.session.get(Case, reported.id)
        assert case.next_due_at == case.created_at  # the police report, due at once
    police = {"kind": "police_report", "happened_at": "2026-11-20T10:00", "agency": "Mapo Police", "text": ""}
    post(lead, case_url(reported, "/acknowledge"), token_from=case_url(reported))
    post(lead, case_url(reported, "/entries"), police, token_from=case_url(reported))
    with app.app_context():
        case = db.session.get(Case, reported.id)
        assert case.next_due_at == case.created_at + timedelta(hours=24)  # now the first guidance item
    post(lead, case_url(reported, "/close"), {"outcome": "resolved", "confirm": "y"}, token_from=case_url(reported))
    with app.app_context():
        assert db.session.get(Case, reported.id).next_due_at is None


def test_rewriting_a_row_and_recomputing_the_chain_without_the_key_is_caught(app, staff, login, reported):
    """The chain is an HMAC under a key kept outside the database: a database writer who changes a row and
    recomputes every later hash (here with plain SHA-256, all they could do) still fails verification."""
    import hashlib
    import json

    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        rows[1].target = "forged"
        prev = rows[0].hash
        for row in rows[1:]:
            body = json.dumps([row.id, row.at.isoformat(), row.actor_id, row.actor_role, row.action, row.school_id,
                               row.case_id, row.target, row.address, prev], ensure_ascii=False, separators=(",", ":"))
            row.prev_hash, row.hash = prev, hashlib.sha256(body.encode()).hexdigest()
            prev = row.hash
        head = db.session.get(AuditHead, 1)
        head.last_hash = prev
        db.session.commit()
        count, problem = audit.verify(db.session)
    assert problem is not None and problem.row_id == rows[1].id


def test_a_checkpoint_and_the_check_read_the_head_as_rows_written_in_the_same_transaction_left_it(app, reported):
    """Rows go in without the ORM (audit.record): a head object loaded earlier in the same session must not be
    what a checkpoint writes or what the check compares with."""
    with app.app_context():
        head = db.session.get(AuditHead, 1)  # loaded into the session first, and kept there
        before = head.last_id
        audit.record(db.session, "case_viewed", case_id=reported.id, address="test")
        point = audit.write_checkpoint(db.session, app.instance_path)
        count, problem = audit.verify(db.session)
        db.session.commit()
    assert point.last_id == before + 1 == count and problem is None and head is not None


def test_the_periodic_check_writes_a_checkpoint_a_day(app, reported):
    from pathlib import Path

    start = utcnow()
    background.run_checks(app, now=start)
    background.run_checks(app, now=start + timedelta(hours=1))
    log = Path(app.instance_path) / "audit-checkpoints.log"
    assert len(log.read_text().splitlines()) == 1
    assert (log.stat().st_mode & 0o777) == 0o600
    background.run_checks(app, now=start + timedelta(hours=25))
    assert len(log.read_text().splitlines()) == 2
    with app.app_context():
        assert audit.verify_all(db.session, app.instance_path)[1] is None


def test_korean_pages_write_four_digit_years(app, staff, login, reported):
    """Dates are written as each language writes them, always with the full year (never "26. 11. 30.")."""
    lead = signed_in(app, login, staff["lead"])
    for path in ("/cases/", case_url(reported), case_url(reported, "/print")):
        page = lead.get(path).get_data(as_text=True)
        assert re.search(r"20\d\d\. \d{1,2}\. \d{1,2}\.", page), path
        assert not re.search(r"(?<![\d.])\d{2}\. \d{1,2}\. \d{1,2}\.", page), path
    english = lead.get(case_url(reported), headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert re.search(r"\d{1,2} [A-Z][a-z]{2} 20\d\d, \d{1,2}:\d{2}", english)


def test_the_counselors_landing_page_shows_the_work_and_each_figure_opens_it(app, staff, login, make_user):
    teacher = signed_in(app, login, staff["teacher"])
    file_report(teacher, urgent="yes", description="urgent one")
    file_report(teacher, urgent="no", victim_kind="staff", description="about an adult")
    file_report(teacher, urgent="no", description="a third")
    lead = signed_in(app, login, staff["lead"])
    with app.app_context():
        first = db.session.scalar(select(Case).where(Case.urgent.is_(True)))
    post(lead, case_url(first, "/acknowledge"), token_from=case_url(first))
    page = lead.get("/dashboard/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    figures = dict(re.findall(r'attention=(\w+)"><span class="figure-number">(\d+)</span>', page))
    # Three open; one urgent; two not acknowledged; the police report is due now on the two about students.
    assert figures == {"open": "3", "urgent": "1", "new": "2", "due_now": "2", "overdue": "0", "waiting": "0",
                       "takedown": "0", "takedown_late": "0"}
    inbox = lead.get("/cases/?attention=new", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Showing: Not acknowledged yet." in inbox
    table = inbox[inbox.index('<table class="inbox">'):]  # the notices above the table still name every case
    assert first.reference not in table and table.count("<tr>") == 1 + 2  # the header row and two cases
    urgent = lead.get("/cases/?attention=urgent").get_data(as_text=True)
    assert urgent[urgent.index('<table class="inbox">'):].count("<tr>") == 1 + 1
    assert lead.get("/cases/?attention=nonsense").status_code == 200  # an unknown group shows every open case
    other = signed_in(app, login, staff["other_counselor"])
    assert 'attention=open"><span class="figure-number">0<' in other.get("/dashboard/").get_data(as_text=True)


def _inputs(page: str) -> set[str]:
    """The names of the fields on the log form (the form that posts to /entries)."""
    form = re.search(r'<form[^>]*action="[^"]*/entries".*?</form>', page, re.S)
    return set(re.findall(r'name="([a-z_]+)"', form.group(0))) if form else set()


def test_the_log_form_asks_for_the_kind_first_then_only_its_fields(app, staff, login, reported):
    lead = signed_in(app, login, staff["lead"])
    page = lead.get(case_url(reported)).get_data(as_text=True)
    assert _inputs(page) == set()  # no form until a kind is chosen: a list of links that work without JavaScript
    assert f'href="/cases/{reported.public_id}?log=police_report#log"' in page
    assert "완료: 수사기관(경찰)에 즉시 신고" in page  # the kind that completes the open legal duty says so

    police = lead.get(case_url(reported, "?log=police_report")).get_data(as_text=True)
    assert _inputs(police) == {"csrf_token", "kind", "happened_at", "agency", "report_number", "text", "corrects",
                               "submit"}
    assert "이 기록은 ‘수사기관(경찰)에 즉시 신고’ 의무를 완료합니다(청소년성보호법 제34조 제2항)." in police
    assert re.search(r'<label for="agency">[^<]*<span class="required-mark">\(필수\)', police)

    takedown = lead.get(case_url(reported, "?log=takedown")).get_data(as_text=True)
    assert _inputs(takedown) == {"csrf_token", "kind", "happened_at", "link", "platform", "takedown_status", "text",
                                 "corrects", "submit"}
    note = lead.get(case_url(reported, "?log=note")).get_data(as_text=True)
    assert _inputs(note) == {"csrf_token", "kind", "happened_at", "text", "corrects", "submit"}
    assert re.search(r'<label for="text">[^<]*<span class="required-mark">\(필수\)', note)
    assert "의무를 완료합니다" not in note
    english = lead.get(case_url(reported, "?log=police_report"), headers={"Accept-Language": "en"})
    assert ("This entry completes the legal duty “Report to an investigative agency (the police) immediately” "
            "(Child and Youth Sex Protection Act Art. 34(2)).") in english.get_data(as_text=True)
    unknown = lead.get(case_url(reported, "?log=duty_not_applicable")).get_data(as_text=True)
    assert _inputs(unknown) == set()  # a kind the portal writes itself is not offered: back to the list


def test_a_field_of_another_kind_is_ignored_not_stored(app, staff, login, reported):
    lead = signed_in(app, login, staff["lead"])
    note = {"kind": "note", "happened_at": "2026-11-20T10:00", "text": "Talked with the homeroom teacher.",
            "agency": "x" * 500, "report_number": "NOT-STORED", "link": "t.me/not-stored", "platform": "telegram",
            "takedown_status": "bogus"}
    assert post(lead, case_url(reported, "/entries"), note, token_from=case_url(reported)).status_code == 302
    police = {"kind": "police_report", "happened_at": "2026-11-20T11:00", "agency": "Mapo Police Station",
              "report_number": "2026-1", "link": "t.me/not-stored-either", "takedown_status": "removed"}
    assert post(lead, case_url(reported, "/entries"), police, token_from=case_url(reported)).status_code == 302
    with app.app_context():
        entries = db.session.scalars(select(ResponseEntry).order_by(ResponseEntry.id)).all()
        assert [(e.kind, e.agency, e.report_number, e.link, e.platform, e.takedown_status) for e in entries] == [
            ("note", None, None, None, None, None),
            ("police_report", "Mapo Police Station", "2026-1", None, None, None)]
        duty = db.session.scalar(select(DutyItem).where(DutyItem.duty_id == "police_report"))
        assert duty.done_entry_id == entries[1].id
        actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.action == "entry_added")).all()
        assert len(actions) == 2
    # The service keeps to the kind too, whoever calls it.
    with app.app_context():
        case = db.session.get(Case, reported.id)
        user = db.session.get(User, staff["lead"])
        entry = cases.add_entry(db.session, user, case, "guardian_contact", utcnow() - timedelta(hours=1),
                                "Called the mother.", agency="Ignored", link="t.me/ignored", takedown_status="removed")
        assert (entry.agency, entry.link, entry.takedown_status) == (None, None, None)
        db.session.rollback()


@pytest.mark.parametrize(("kind", "data", "field", "message"), [
    ("police_report", {"report_number": "KEEP-ME-1", "text": "kept text"}, "agency", "신고한 경찰관서를 입력하십시오."),
    ("takedown", {"link": "t.me/keep-me", "platform": "telegram", "text": "kept text"}, "takedown_status",
     "삭제 요청 상태를 선택하십시오."),
    ("takedown", {"takedown_status": "requested", "text": "kept text"}, "link", "링크나 계정 이름을 입력하십시오."),
    ("note", {"corrects": ""}, "text", "조치 내용을 적으십시오."),
])
def test_a_kinds_required_field_is_asked_for_on_that_field(app, staff, login, reported, kind, data, field, message):
    lead = signed_in(app, login, staff["lead"])
    response = post(lead, case_url(reported, "/entries"), {"kind": kind, "happened_at": "2026-11-20T10:00", **data},
                    token_from=case_url(reported))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert re.search(rf'<p class="error" id="{field}-error">{re.escape(message)}', page)
    assert f'<input type="hidden" name="kind" value="{kind}">' in page  # the same kind's form, shown again
    for value in data.values():
        assert value in page
    summary = re.findall(r'<div class="error-summary".*?</div>', page, re.S)[0]
    assert "다음 항목을 고쳐 주십시오" in summary and "?:" not in summary and " :" not in summary
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ResponseEntry)) == 0


def test_an_unknown_kind_is_refused_and_the_list_shown_again(app, staff, login, reported):
    lead = signed_in(app, login, staff["lead"])
    response = post(lead, case_url(reported, "/entries"), {"kind": "duty_not_applicable", "text": "x",
                                                           "happened_at": "2026-11-20T10:00"},
                    token_from=case_url(reported))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert _inputs(page) == set() and "?log=police_report#log" in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ResponseEntry)) == 0


def test_the_case_files_error_summary_names_fields_without_doubled_punctuation(app, staff, login, reported):
    lead = signed_in(app, login, staff["lead"])
    page = post(lead, case_url(reported, "/close"), {}, token_from=case_url(reported)).get_data(as_text=True)
    summary = re.findall(r'<div class="error-summary".*?</div>', page, re.S)[0]
    assert "다음 항목을 고쳐 주십시오" in summary  # staff pages: 합니다체
    items = [re.sub(r"<[^>]+>", "", item).strip() for item in re.findall(r"<li>(.*?)</li>", summary, re.S)]
    names = [item.partition(": ")[0] for item in items]
    assert names == ["처리 결과", "종결 확인", "수사기관(경찰)에 즉시 신고"], items
    for item in items:
        name, _colon, message = item.partition(": ")
        assert message.endswith("니다.") or message.endswith("십시오."), item
        assert ": " not in message and not re.search(r"[?.:]$", name), item
