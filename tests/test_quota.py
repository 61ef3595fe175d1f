"""Quotas: tier limits, tier changes and the bulk monthly reset."""

from datetime import UTC, datetime

import pytest

from sms_agent import quota
from sms_agent.extensions import db
from tests.factories import make_user


def test_limits_come_from_config(app):
    app.config["QUOTA_FREE"] = 3
    user = make_user(monthly_requests=2)
    assert quota.remaining(user) == 1
    user.monthly_requests = 3
    assert not user.can_make_request()


def test_segment_budget_per_tier(app):
    assert quota.segment_budget("free") == 3
    assert quota.segment_budget("premium") == 10


def test_change_tier_returns_the_old_tier_and_resets_on_upgrade(app):
    user = make_user(monthly_requests=42)
    assert quota.change_tier(user, "enterprise") == "free"
    db.session.commit()
    assert user.tier == "enterprise"
    assert user.monthly_requests == 0


def test_change_to_an_unknown_tier_is_refused(app):
    user = make_user()
    with pytest.raises(quota.UnknownTier):
        quota.change_tier(user, "platinum")
    assert user.tier == "free"


def test_reset_all_starts_a_new_window_in_each_users_timezone(app):
    tokyo = make_user(monthly_requests=50, timezone="Asia/Tokyo")
    utc = make_user(monthly_requests=7)
    count = quota.reset_all(now=datetime(2026, 3, 10, tzinfo=UTC))
    db.session.commit()
    assert count == 2
    assert tokyo.monthly_requests == 0 and utc.monthly_requests == 0
    # Midnight on 1 April in Tokyo is 15:00 UTC on 31 March.
    assert tokyo.rate_limit_reset == datetime(2026, 3, 31, 15, tzinfo=UTC)
    assert utc.rate_limit_reset == datetime(2026, 4, 1, tzinfo=UTC)
