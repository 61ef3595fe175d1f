"""The data model: the design document's model tests, query helpers and model rules."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from sms_agent.extensions import db
from sms_agent.models import (
    ApiToken,
    Category,
    ErrorLog,
    ErrorType,
    OutboundMessage,
    Task,
    TaskStatus,
    Tier,
    User,
    utcnow,
)
from sms_agent.models.cache_keys import hashed_once
from tests.factories import make_error, make_staff, make_task, make_user
from tests.standins import unused_port


# The design document's UserModelTest
def test_user_creation_defaults_to_free_tier_with_no_requests(app):
    user = make_user("+12345678901", email="test@example.com", full_name="Test User")
    assert user.phone_number == "+12345678901"
    assert user.tier == Tier.FREE
    assert user.total_requests == 0
    assert user.monthly_requests == 0
    assert user.is_active is True
    assert user.preferences == {}
    assert user.rate_limit_reset > utcnow()


def test_phone_numbers_are_stored_in_e164(app):
    user = make_user("+1 (555) 867-5309")
    assert user.phone_number == "+15558675309"


@pytest.mark.parametrize("bad", ["", "hello", "+1 555", "12"])
def test_invalid_phone_number_is_refused(app, bad):
    with pytest.raises(ValueError):
        User(phone_number=bad)


def test_unknown_tier_and_timezone_are_refused(app):
    with pytest.raises(ValueError, match="tier"):
        User(phone_number="+15551230000", tier="gold")
    with pytest.raises(ValueError, match="timezone"):
        User(phone_number="+15551230000", timezone="Mars/Olympus")


# The design document's TaskModelTest
def test_task_creation_is_queued_general_and_not_yet_successful(app):
    task = make_task(sms_content="Hello, AI!")
    assert task.id is not None
    assert task.user_phone == task.user.phone_number
    assert task.category == Category.GENERAL
    assert task.status == TaskStatus.QUEUED
    assert task.success is False
    assert task.metadata_ == {}


def test_mark_completed_records_the_answer(app):
    task = make_task()
    task.mark_completed("Paris.", tokens_used=12, processing_time=0.8)
    db.session.commit()
    assert task.success is True
    assert task.status == TaskStatus.COMPLETED
    assert task.ai_response == "Paris."
    assert task.tokens_used == 12
    assert task.processing_time == 0.8
    assert task.completed_at is not None


def test_mark_failed_records_the_error(app):
    task = make_task()
    task.mark_failed("The model timed out")
    db.session.commit()
    assert task.success is False
    assert task.status == TaskStatus.FAILED
    assert task.error_message == "The model timed out"
    assert task.completed_at is not None


def test_tasks_are_listed_newest_first(app):
    user = make_user()
    old = make_task(user, created_at=utcnow() - timedelta(hours=2))
    new = make_task(user)
    assert db.session.scalars(Task.newest_first()).all() == [new, old]
    assert user.tasks == [new, old]


def test_task_metadata_is_stored_in_a_column_named_metadata(app):
    task = make_task(metadata_={"request_id": "req_1"})
    raw = db.session.execute(sa.text("SELECT metadata FROM tasks")).scalar_one()
    assert "req_1" in (raw if isinstance(raw, str) else str(raw))
    assert task.metadata_ == {"request_id": "req_1"}


def test_message_sid_is_unique(app):
    make_task(message_sid="SM" + "1" * 32)
    with pytest.raises(sa.exc.IntegrityError):
        make_task(message_sid="SM" + "1" * 32)
    db.session.rollback()


def test_deleting_a_user_deletes_their_tasks_and_keeps_their_errors(app):
    task = make_task()
    error = make_error(user_phone=task.user_phone, task_id=task.id)
    db.session.delete(task.user)
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count(Task.id))) == 0
    db.session.refresh(error)
    assert error.user_phone is None and error.task_id is None


# Model rules (the design document's signals)
def test_upgrade_to_premium_resets_monthly_requests(app):
    user = make_user(monthly_requests=80)
    user.tier = Tier.PREMIUM.value
    db.session.commit()
    assert user.monthly_requests == 0


def test_downgrade_keeps_monthly_requests(app):
    user = make_user(tier="premium", monthly_requests=80)
    user.tier = Tier.FREE.value
    db.session.commit()
    assert user.monthly_requests == 80


def test_a_new_error_is_logged_at_error_level(app, caplog):
    with caplog.at_level(logging.INFO, logger="sms_agent"):
        make_error(error_type="openai_error", error_message="bad gateway")
    record = next(r for r in caplog.records if "bad gateway" in r.getMessage())
    assert record.levelno == logging.ERROR
    assert not any(r.name == "sms_agent.alerts" for r in caplog.records)


@pytest.mark.parametrize("error_type", ["database_error", "system_error"])
def test_critical_errors_raise_an_alert(app, caplog, error_type):
    with caplog.at_level(logging.INFO, logger="sms_agent"):
        make_error(error_type=error_type, error_message="disk full")
    alerts = [r for r in caplog.records if r.name == "sms_agent.alerts"]
    assert alerts and alerts[0].levelno == logging.CRITICAL


def test_a_critical_error_that_is_rolled_back_pages_nobody(app, caplog):
    """The alert follows the commit: a flushed error row that never commits never happened."""
    from sms_agent.models import ErrorLog

    with caplog.at_level(logging.INFO, logger="sms_agent"):
        db.session.add(ErrorLog(error_type="system_error", error_message="disk full"))
        db.session.flush()
        db.session.rollback()
        db.session.commit()
    assert not any(r.name == "sms_agent.alerts" for r in caplog.records)
    assert "disk full" not in caplog.text


def test_critical_error_alert_is_posted_to_the_configured_webhook(app):
    import http.server
    import json
    import threading

    received = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    app.config["ALERT_WEBHOOK_URL"] = f"http://127.0.0.1:{server.server_port}/alert"
    make_error(error_type="system_error", error_message="worker crashed", user_phone=None)
    thread.join(timeout=5)
    server.server_close()
    assert received == [{"error_type": "system_error", "message": "worker crashed", "user": "-"}]


def test_an_alert_webhook_that_fails_is_logged_by_its_host_alone(app, caplog):
    """Regression: the warning wrote the whole URL, and a chat webhook's URL (Slack's
    /services/T.../B.../secret) is its password: anyone reading the logs could post."""
    port = unused_port()
    app.config["ALERT_WEBHOOK_URL"] = f"http://127.0.0.1:{port}/services/T000/B000/s3cr3t"
    make_error(error_type="system_error", error_message="worker crashed", user_phone=None)
    deadline = time.monotonic() + 5
    while "alert webhook" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.05)
    assert f"alert webhook http://127.0.0.1:{port} failed" in caplog.text
    assert "s3cr3t" not in caplog.text


def test_error_resolve_records_notes(app):
    error = make_error()
    error.resolve("Restarted the provider")
    db.session.commit()
    assert error.resolved is True
    assert error.resolution_notes == "Restarted the provider"


def test_unknown_error_type_is_refused(app):
    with pytest.raises(ValueError):
        ErrorLog(error_type="oops", error_message="x")


# The design document's managers
def test_user_query_helpers(app):
    now = utcnow()
    free = make_user(tier="free", last_active=now - timedelta(days=1))
    premium = make_user(tier="premium", last_active=now - timedelta(days=10))
    enterprise = make_user(tier="enterprise", last_active=now)
    make_user(tier="premium", is_active=False)

    def phones(query):
        return {u.phone_number for u in db.session.scalars(query)}

    assert phones(User.active()) == {
        free.phone_number,
        premium.phone_number,
        enterprise.phone_number,
    }
    assert phones(User.by_tier("premium")) == {premium.phone_number}
    assert phones(User.active_recently(days=7)) == {free.phone_number, enterprise.phone_number}
    assert phones(User.premium()) == {premium.phone_number, enterprise.phone_number}


def test_a_texter_staff_added_who_never_texted_is_not_active_recently(app):
    """Regression: staff's new texter got last_active = their creation, so they counted as
    active recently though they never texted."""
    never = User(phone_number="+15550100123")
    db.session.add(never)
    db.session.commit()
    assert never.last_active is None
    assert db.session.scalars(User.active_recently(days=7)).all() == []


def test_task_query_helpers(app):
    user = make_user()
    done = make_task(user, category="coding")
    done.mark_completed("ok", tokens_used=100, processing_time=2.0)
    failed = make_task(user, category="debug")
    failed.mark_failed("boom")
    failed.processing_time = 4.0
    queued = make_task(user)
    db.session.commit()

    def ids(query):
        return {t.id for t in db.session.scalars(query)}

    assert ids(Task.successful()) == {done.id}
    assert ids(Task.failed()) == {failed.id}
    assert ids(Task.by_category("coding")) == {done.id}
    assert ids(Task.completed_today()) == {done.id, failed.id}
    assert queued.id not in ids(Task.completed_today())
    stats = Task.processing_stats()
    assert stats["count"] == 2
    assert stats["avg_processing_time"] == pytest.approx(3.0)
    assert stats["avg_tokens_used"] == pytest.approx(100)


def test_error_query_helpers(app):
    old = make_error(timestamp=utcnow() - timedelta(hours=30), error_type="twilio_error")
    new = make_error(error_type="openai_timeout")
    fixed = make_error(error_type="openai_timeout", resolved=True)

    def ids(query):
        return {e.id for e in db.session.scalars(query)}

    assert ids(ErrorLog.unresolved()) == {old.id, new.id}
    assert ids(ErrorLog.by_type(ErrorType.OPENAI_TIMEOUT)) == {new.id, fixed.id}
    assert ids(ErrorLog.recent(hours=24)) == {new.id, fixed.id}


# Outbound messages, staff and tokens
def test_outbound_message_defaults(app):
    message = OutboundMessage(to_number="+15551230000", body="hi")
    db.session.add(message)
    db.session.commit()
    assert (message.status, message.encoding, message.segments) == ("queued", "GSM-7", 1)


def test_staff_password_is_hashed(app):
    staff = make_staff(password="s3cret-pass")
    assert "s3cret-pass" not in staff.password_hash
    assert staff.check_password("s3cret-pass")
    assert not staff.check_password("wrong")


def test_api_token_stores_only_a_hash_and_finds_its_owner(app):
    staff = make_staff()
    token, key = ApiToken.issue(staff_user=staff, name="ci")
    db.session.add(token)
    db.session.commit()
    assert key not in (token.key_hash, token.prefix)
    assert key.startswith(token.prefix)
    assert ApiToken.find_active(key) is token
    assert ApiToken.find_active(key + "x") is None
    token.revoke()
    db.session.commit()
    assert ApiToken.find_active(key) is None


def test_token_of_an_owner_made_inactive_is_refused(app):
    user = make_user()
    token, key = ApiToken.issue(user=user)
    db.session.add(token)
    user.is_active = False
    db.session.commit()
    assert ApiToken.find_active(key) is None


def test_no_token_is_issued_for_an_inactive_owner(app):
    from sms_agent.models.staff import InactiveOwner

    with pytest.raises(InactiveOwner):
        ApiToken.issue(user=make_user(is_active=False))


def test_a_token_has_exactly_one_owner(app):
    with pytest.raises(ValueError):
        ApiToken.issue()
    db.session.add(ApiToken(name="orphan", prefix="sat_x", key_hash="0" * 64))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_a_statement_hashed_once_runs_as_before_and_one_made_from_it_has_its_own_key(app):
    users = User.__table__
    statement = hashed_once(
        sa.select(users.c.tier).where(users.c.phone_number == sa.bindparam("phone"))
    )
    derived = statement.where(users.c.is_active.is_(False))
    user = make_user(tier="premium")
    for _ in range(2):  # compiled, then found in the statement cache by the kept key
        assert db.session.scalar(statement, {"phone": user.phone_number}) == "premium"
    assert db.session.scalar(derived, {"phone": user.phone_number}) is None
    assert derived._generate_cache_key() != statement._generate_cache_key()
