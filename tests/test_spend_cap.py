"""The texter's monthly spend cap per tier (SPEND_CAP_<TIER>): past it, one notice a month
and no answers, nor tasks through the API, until the next UTC month."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from sms_agent import limits
from sms_agent.extensions import db
from sms_agent.models import ModelCall, RefusalReason, User, first_of_next_month, utcnow
from sms_agent.notices import spend_cap_text, usage_text
from tests.admission import PHONE, D, answers, notices, spent, stored, text
from tests.factories import make_staff, make_token, make_user
from tests.test_webhook import queued_jobs

pytestmark = pytest.mark.usefixtures("empty_broker", "mid_month_noon")


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


def test_usage_past_the_spend_cap_says_the_limit_holds_answers_back_until_when(app):
    """Regression: USAGE past the spend cap said "You have used 3 of 100 requests", nothing
    more, right after the spend_cap notice said texts are not answered: the texter, with 97
    requests left by our own count, could not tell why they got no answers."""
    app.config.update(SPEND_CAP_ENTERPRISE=D("0.50"), QUOTA_ENTERPRISE=99999)
    user = make_user(PHONE, tier="enterprise", timezone="Pacific/Honolulu", monthly_requests=3)
    spent(PHONE, "0.50")
    body = usage_text(user)
    lifts = first_of_next_month(utcnow()).astimezone(ZoneInfo("Pacific/Honolulu"))
    assert body.startswith("You have used 3 of 99999 requests this month (enterprise plan).")
    assert body.endswith(f"Usage limit reached: no answers until {lifts:%b} {lifts.day} 14:00.")
    assert len(body) <= 160


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
