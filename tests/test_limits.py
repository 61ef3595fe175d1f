"""Admission limits, through the signed webhook: the monthly spend cap per tier, the
sender's rate, the daily spend cap with its alerts, and the countries we may text."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from config import TestingConfig
from sms_agent import create_app, limits
from sms_agent.answering import pipeline
from sms_agent.extensions import db
from sms_agent.models import (
    ErrorLog,
    ModelCall,
    OutboundMessage,
    RefusalReason,
    StaffUser,
    Task,
    User,
    first_of_next_month,
    utcnow,
)
from sms_agent.notices import spend_cap_text
from tests.factories import make_staff, make_token, make_user
from tests.standins import inbound_form, signed_post, twilio_standin
from tests.test_webhook import queued_jobs

PHONE = "+15551230000"
D = Decimal


@pytest.fixture(autouse=True)
def empty_broker(app):
    queued_jobs(app)


def text(client, body: str = "What is DNS?", phone: str = PHONE) -> None:
    assert signed_post(client, "/sms/inbound", inbound_form(body, From=phone)).status_code == 200


def spent(phone: str, amount: str, days_ago: int = 0) -> None:
    """What answering this number already cost: a model call of `amount` USD."""
    when = utcnow() - timedelta(days=days_ago)
    db.session.add(ModelCall(user_phone=phone, model="gpt-4o", cost_usd=D(amount), created_at=when))
    db.session.commit()


def stored() -> list[tuple[str, str | None]]:
    """(status, refusal_reason) of every stored text, oldest first."""
    db.session.rollback()
    rows = db.session.execute(
        sa.select(Task.status, Task.refusal_reason).order_by(Task.created_at)
    ).all()
    return [tuple(row) for row in rows]


def notices(app) -> list[str]:
    return [args[1] for name, args in queued_jobs(app) if name.endswith("send_notice")]


def answers(jobs) -> int:
    return sum(1 for name, _args in jobs if name.endswith("answer_task"))


# -- the monthly spend cap per tier -------------------------------------------------------
def test_a_texter_past_the_spend_cap_gets_one_notice_and_is_not_answered(app, client):
    app.config.update(SPEND_CAP_FREE=D("0.50"))
    make_user(PHONE)
    spent(PHONE, "0.50")
    text(client)
    assert notices(app) == ["spend_cap"]
    text(client, "And now?")
    assert notices(app) == []  # one notice per month
    assert stored() == [("refused", "over_spend"), ("refused", "over_spend")]
    assert db.session.get(User, PHONE).monthly_requests == 0  # never counted


def test_the_spend_cap_counts_this_month_only_and_only_for_its_tier(app, client):
    app.config.update(SPEND_CAP_FREE=D("0.50"))
    make_user(PHONE)
    spent(PHONE, "9.99", days_ago=40)  # last month's
    premium = make_user(tier="premium")
    spent(premium.phone_number, "9.99")
    text(client)
    text(client, phone=premium.phone_number)
    assert answers(queued_jobs(app)) == 2
    assert stored() == [("queued", None), ("queued", None)]


def test_a_new_timezone_at_the_months_end_does_not_lift_the_spend_cap(app):
    """Moving east, where the next month has begun, brings no fresh cap: the cap's month is
    the UTC month, which no timezone moves."""
    app.config.update(SPEND_CAP_FREE=D("0.50"))
    user = make_user(PHONE, timezone="Etc/GMT+12")  # UTC-12: the evening of January 30
    now = datetime(2027, 1, 31, 10, 5, tzinfo=UTC)
    earlier = datetime(2027, 1, 20, tzinfo=UTC)
    db.session.add(
        ModelCall(user_phone=PHONE, model="gpt-4o", cost_usd=D("0.60"), created_at=earlier)
    )
    db.session.commit()
    assert limits.admit(user, now).refusal is RefusalReason.OVER_SPEND
    user.timezone = "Pacific/Kiritimati"  # UTC+14, where February 1 has begun
    db.session.commit()
    assert limits.admit(user, now).refusal is RefusalReason.OVER_SPEND
    assert "not answered until Feb 1 14:00." in spend_cap_text(user, now)  # midnight UTC
    assert limits.admit(user, datetime(2027, 2, 1, tzinfo=UTC)).refusal is None


@pytest.mark.parametrize(
    ("timezone", "lifts"),
    [("UTC", "Feb 1."), ("Pacific/Honolulu", "Jan 31 14:00."), ("Asia/Kolkata", "Feb 1 05:30.")],
)
def test_the_spend_cap_notice_says_when_the_cap_lifts_in_the_texters_time(app, timezone, lifts):
    """The cap's month is the UTC month: its end is midnight UTC, told in the texter's time."""
    user = make_user(PHONE, timezone=timezone)
    now = datetime(2027, 1, 20, 12, tzinfo=UTC)
    assert f"Texts are not answered until {lifts}" in spend_cap_text(user, now)


def test_an_unset_cap_means_no_cap(app, client):
    make_user(PHONE)
    spent(PHONE, "1000")
    text(client)
    assert stored() == [("queued", None)]


def test_the_spend_cap_refuses_api_tasks_too(app, client):
    app.config.update(SPEND_CAP_FREE=D("0.50"))
    make_user(PHONE)
    spent(PHONE, "0.60")
    headers = {"Authorization": "Token " + make_token(make_staff("admin", is_admin=True))}
    response = client.post(
        "/api/tasks/", json={"user_phone": PHONE, "sms_content": "Hi"}, headers=headers
    )
    assert response.status_code == 429
    assert response.get_json()["details"]["reason"] == "over_spend"


def test_the_api_says_when_the_spend_cap_lifts(app, client):
    """Like the quota's 429: the time in the body, the seconds left in Retry-After; the cap
    lifts when the next UTC month starts, whatever the texter's timezone."""
    app.config.update(SPEND_CAP_FREE=D("0.50"))
    make_user(PHONE, timezone="Pacific/Honolulu")
    spent(PHONE, "0.60")
    headers = {"Authorization": "Token " + make_token(make_staff("admin", is_admin=True))}

    before = utcnow()
    response = client.post(
        "/api/tasks/", json={"user_phone": PHONE, "sms_content": "Hi"}, headers=headers
    )
    after = utcnow()

    assert response.status_code == 429
    lifts = datetime.fromisoformat(response.get_json()["details"]["spend_cap_lifts"])
    assert lifts == first_of_next_month(before) and lifts.utcoffset() == timedelta(0)
    seconds = int(response.headers["Retry-After"])
    assert (lifts - after).total_seconds() <= seconds <= math.ceil((lifts - before).total_seconds())


# -- the sender's rate --------------------------------------------------------------------
def test_a_sender_past_its_rate_gets_one_notice_per_window_and_costs_nothing(app, client):
    app.config.update(SENDER_RATE="2/minute;100/day")
    make_user(PHONE)
    for body in ("one", "two", "three", "four"):
        text(client, body)
    jobs = queued_jobs(app)
    assert answers(jobs) == 2
    assert [args[1] for name, args in jobs if name.endswith("send_notice")] == ["rate_limited"]
    assert stored()[2:] == [("refused", "rate_limited"), ("refused", "rate_limited")]
    assert db.session.get(User, PHONE).monthly_requests == 2  # refused texts are not counted
    text(client, "HELP")  # keywords are always answered
    assert notices(app) == ["help"]


def test_twilios_retries_of_one_sms_do_not_use_up_the_senders_rate(app, client):
    app.config.update(SENDER_RATE="2/minute")
    make_user(PHONE)
    first = inbound_form("What is DNS?")
    for _delivery in range(3):  # Twilio got no answer in time and delivered it again
        assert signed_post(client, "/sms/inbound", first).status_code == 200
    text(client, "What is HTTP?")
    assert stored() == [("queued", None), ("queued", None)]
    assert notices(app) == []
    assert db.session.get(User, PHONE).monthly_requests == 2


def test_each_sender_has_its_own_rate(app, client):
    app.config.update(SENDER_RATE="1/minute")
    text(client, phone=PHONE)
    text(client, phone="+15551239999")
    assert stored() == [("queued", None), ("queued", None)]


def test_a_new_window_brings_one_more_notice(app, client):
    app.config.update(SENDER_RATE="1/second")
    make_user(PHONE)
    text(client, "one")
    text(client, "two")
    assert notices(app) == ["rate_limited"]
    time.sleep(1.05)
    text(client, "three")
    text(client, "four")
    assert notices(app) == ["rate_limited"]
    assert [reason for _s, reason in stored()] == [None, "rate_limited", None, "rate_limited"]


@pytest.mark.skipif(not TestingConfig.TEST_REDIS_URL, reason="TEST_REDIS_URL is not set")
def test_web_processes_share_the_senders_count_through_redis(app, client, database_url):
    phone = "+1555" + str(time.time_ns())[-7:]  # Redis outlives the test: a fresh number
    app.config.update(SENDER_RATE="1/minute", SENDER_RATE_STORAGE_URI=TestingConfig.TEST_REDIS_URL)
    other = create_app(
        TestingConfig,
        SQLALCHEMY_DATABASE_URI=database_url,
        SENDER_RATE="1/minute",
        SENDER_RATE_STORAGE_URI=TestingConfig.TEST_REDIS_URL,
    )
    text(client, phone=phone)
    with other.app_context():
        user = db.session.get(User, phone)
        refused = limits.admit(user)
        db.session.rollback()
        db.session.remove()
        db.engine.dispose()
    assert refused.refusal == "rate_limited"


def api_create(client, phone: str = PHONE):
    """POST /api/tasks/ for `phone` as an admin, as a client of the API creates a task."""
    admin = db.session.scalar(sa.select(StaffUser).where(StaffUser.username == "admin"))
    token = make_token(admin or make_staff("admin", is_admin=True))
    return client.post(
        "/api/tasks/",
        json={"user_phone": phone, "sms_content": "Hi"},
        headers={"Authorization": "Token " + token},
    )


def assert_lifts_at(response, key: str, lifts: datetime, before: datetime, after: datetime):
    """The 429 names when the refusal lifts (`details[key]`, UTC) and Retry-After the
    seconds from then, rounded up, as the quota's and the monthly spend cap's do."""
    assert response.status_code == 429
    said = datetime.fromisoformat(response.get_json()["details"][key])
    assert said == lifts and said.utcoffset() == timedelta(0)
    seconds = int(response.headers["Retry-After"])
    assert (said - after).total_seconds() <= seconds <= math.ceil((said - before).total_seconds())


def _rate_storages() -> list:
    url = TestingConfig.TEST_REDIS_URL
    return [
        pytest.param("memory://", id="memory"),
        pytest.param(
            url, id="redis", marks=pytest.mark.skipif(not url, reason="TEST_REDIS_URL is not set")
        ),
    ]


@pytest.mark.parametrize("storage", _rate_storages())
@pytest.mark.parametrize(
    ("rate", "window"), [("1/minute", 60), ("1/minute;1/day", 24 * 3600)], ids=["minute", "day"]
)
def test_the_api_says_when_the_sender_rate_lifts(app, client, storage, rate, window):
    """When the window that refused resets (the day's, when the day's is used up too)."""
    phone = "+1555" + str(time.time_ns())[-7:]  # Redis outlives the test: a fresh number
    app.config.update(SENDER_RATE=rate, SENDER_RATE_STORAGE_URI=storage)
    make_user(phone)
    began = utcnow()
    assert api_create(client, phone).status_code == 201

    before = utcnow()
    response = api_create(client, phone)
    after = utcnow()

    assert response.get_json()["details"]["reason"] == "rate_limited"
    lifts = datetime.fromisoformat(response.get_json()["details"]["sender_rate_lifts"])
    # The window started with the first request; Redis keeps its expiry in whole seconds.
    assert began + timedelta(seconds=window - 1) <= lifts <= after + timedelta(seconds=window)
    assert_lifts_at(response, "sender_rate_lifts", lifts, before, after)


# -- the daily spend cap ------------------------------------------------------------------
@pytest.fixture
def alert_hook(app):
    with twilio_standin() as hook:
        app.config.update(DAILY_SPEND_CAP=D("1.00"), ALERT_WEBHOOK_URL=hook.url + "/alert")
        yield hook


def alerts_posted(hook, count: int) -> list[dict]:
    deadline = time.monotonic() + 5
    while len(hook.requests) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)  # nothing more arrives
    return [body for _method, _path, body in hook.requests]


def test_the_daily_cap_alerts_at_80_and_100_percent_once_each(app, client, alert_hook, caplog):
    make_user(PHONE)
    spent(PHONE, "0.79")
    text(client, "one")
    assert alerts_posted(alert_hook, 0) == []
    spent(PHONE, "0.01")
    text(client, "two")
    text(client, "three")
    [eighty] = alerts_posted(alert_hook, 1)
    assert eighty["error_type"] == "daily_spend_cap" and eighty["level"] == 80
    spent(PHONE, "0.20")
    text(client, "four")
    text(client, "five")
    [_, hundred] = alerts_posted(alert_hook, 2)
    assert hundred["level"] == 100 and "only keywords" in hundred["message"]
    assert caplog.text.count("ALERT daily_spend_cap") == 2
    assert [reason for _s, reason in stored()] == [None, None, None, "daily_cap", "daily_cap"]


def test_past_the_daily_cap_only_keywords_are_answered_until_staff_raise_it(
    app, client, alert_hook, runner
):
    make_user(PHONE)
    other = make_user()
    spent(other.phone_number, "1.00")
    text(client, "one")
    assert notices(app) == ["paused"]
    text(client, "two")
    assert notices(app) == []  # one notice a day
    text(client, "USAGE")
    assert notices(app) == ["usage"]
    result = runner.invoke(args=["spend", "raise-cap", "2.5"])
    assert result.exit_code == 0 and "2.500000 USD" in result.output
    text(client, "three")
    assert answers(queued_jobs(app)) == 1
    assert [reason for _s, reason in stored()] == ["daily_cap", "daily_cap", None]


@pytest.mark.parametrize("typo", ["nan", "NaN", "inf", "-inf", "1e400", "1e6", "ten", ""])
def test_raising_the_daily_cap_to_no_amount_is_refused_and_keeps_the_cap(app, runner, typo):
    """`nan` used to lift the cap altogether (stored as no cap), `inf` to crash."""
    app.config["DAILY_SPEND_CAP"] = Decimal("1.00")

    result = runner.invoke(args=["spend", "raise-cap", "--", typo])

    assert result.exit_code == 2 and "Invalid value for 'AMOUNT'" in result.output
    assert limits.daily_cap(utcnow().date()) == Decimal("1.00")


def test_yesterdays_spend_does_not_count_against_today(app, client, alert_hook):
    make_user(PHONE)
    spent(PHONE, "5.00", days_ago=1)
    text(client)
    assert stored() == [("queued", None)]
    assert alerts_posted(alert_hook, 0) == []


def test_the_api_says_the_daily_cap_lifts_at_midnight_utc(app, client, alert_hook):
    """Past the daily cap, the 429 names the next midnight UTC, whatever the texter's
    timezone, and Retry-After the seconds until then."""
    make_user(PHONE, timezone="Pacific/Honolulu")
    spent(make_user().phone_number, "1.00")

    before = utcnow()
    response = api_create(client)
    after = utcnow()

    assert response.get_json()["details"]["reason"] == "daily_cap"
    midnight = before.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    assert_lifts_at(response, "daily_cap_lifts", midnight, before, after)


# -- the countries we may text ------------------------------------------------------------
def test_send_message_abroad_is_refused_with_403_and_an_error_log(app, client):
    uk = make_user("+447700900123")
    headers = {"Authorization": "Token " + make_token(make_staff("admin", is_admin=True))}
    response = client.post(
        "/api/users/%2B447700900123/send_message/", json={"message": "hi"}, headers=headers
    )
    assert response.status_code == 403
    body = response.get_json()
    assert body["details"] == {"country": "GB", "allowed_countries": ["US"]}
    assert db.session.scalars(sa.select(OutboundMessage)).all() == []
    [error] = db.session.scalars(sa.select(ErrorLog)).all()
    assert error.error_type == "validation_error" and error.user_phone == uk.phone_number


def test_a_text_from_abroad_is_not_sent_to_the_model_nor_answered(app, client, openai_server):
    text(client, phone="+447700900123")
    [(_name, [task_id])] = [job for job in queued_jobs(app) if job[0].endswith("answer_task")]
    assert pipeline.answer(task_id) == "not_sent"
    assert openai_server.requests == []
    assert db.session.scalars(sa.select(OutboundMessage)).all() == []
    assert stored() == [("failed", None)]
    assert {e.error_type for e in db.session.scalars(sa.select(ErrorLog))} == {"validation_error"}


def test_allowed_countries_may_be_widened(app, client):
    app.config.update(ALLOWED_COUNTRIES=("US", "GB"))
    text(client, phone="+447700900123")
    [(_name, [task_id])] = [job for job in queued_jobs(app) if job[0].endswith("answer_task")]
    assert pipeline.answer(task_id) == "answered"
    [sms] = db.session.scalars(sa.select(OutboundMessage).where(OutboundMessage.kind == "reply"))
    assert sms.to_number == "+447700900123"


def test_the_default_is_the_country_of_our_own_number(app):
    app.config.update(TWILIO_PHONE_NUMBER="+447700900000")
    from sms_agent.outbound.send import allowed_countries

    assert allowed_countries() == ("GB",)
