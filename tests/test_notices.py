"""The service's own short texts, each sent at most once per inbound SMS."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from sms_agent import notices
from sms_agent.extensions import db
from sms_agent.models import User, utcnow
from tests.factories import make_user
from tests.test_pipeline import outbox


def test_a_notice_keeps_the_sid_a_webhook_recorded_meanwhile(app):
    """The notice job read the texter before a webhook of theirs handled a keyword."""
    user = make_user()
    assert user.service_state == {}  # read by the job...
    with db.engine.begin() as webhook:  # ...when the webhook commits a handled keyword
        webhook.execute(
            sa.update(User)
            .where(User.phone_number == user.phone_number)
            .values(service_state={"handled_sids": ["SM" + "2" * 32]})
        )
    assert notices.send_notice(user, "help", reply_to="SM" + "1" * 32) is True
    db.session.expire_all()
    assert db.session.get(User, user.phone_number).service_state == {
        "handled_sids": ["SM" + "2" * 32],
        "noticed_sids": ["SM" + "1" * 32],
    }


def test_send_notice_is_skipped_for_opted_out_users(app):
    user = make_user(opted_out_at=utcnow())
    assert notices.send_notice(user, "help") is False
    assert outbox() == []


def test_help_tells_the_commands_and_the_quota_left(app):
    user = make_user(monthly_requests=7)
    assert notices.send_notice(user, "help") is True
    [sms] = outbox("help")
    assert "RESET" in sms.body and "USAGE" in sms.body and "STOP" in sms.body
    assert "93 of 100 requests left" in sms.body


def test_usage_and_quota_notices_say_when_the_quota_resets(app):
    from datetime import UTC, datetime

    reset = datetime(2031, 3, 1, tzinfo=UTC)
    user = make_user(monthly_requests=100, rate_limit_reset=reset)
    notices.send_notice(user, "usage")
    notices.send_notice(user, "quota")
    usage, quota_notice = outbox("usage")[0], outbox("quota")[0]
    assert "used 100 of 100" in usage.body and "Mar 1" in usage.body
    assert "all 100 requests" in quota_notice.body and "Mar 1" in quota_notice.body


def test_the_reset_day_is_the_texters_local_day(app):
    from datetime import UTC, datetime

    # Midnight on Mar 1 in Tokyo is still Feb 28 in UTC.
    reset = datetime(2031, 2, 28, 15, 0, tzinfo=UTC)
    user = make_user(timezone="Asia/Tokyo", rate_limit_reset=reset)
    notices.send_notice(user, "usage")
    assert "Mar 1" in outbox("usage")[0].body


@pytest.mark.parametrize("kind", ["help", "usage", "quota", "media", "opt_in", "reset", "apology"])
def test_every_notice_fits_one_sms(app, kind):
    """One segment even with the longest numbers: a five-digit quota, a long month."""
    app.config["QUOTA_ENTERPRISE"] = 99999
    reset = utcnow().replace(month=9, day=30, hour=12)
    notices.send_notice(make_user(tier="enterprise", rate_limit_reset=reset), kind)
    [sms] = outbox(kind)
    assert sms.segments == 1 and sms.encoding == "GSM-7"


def test_an_unknown_notice_is_a_programming_error(app):
    with pytest.raises(ValueError, match="unknown notice"):
        notices.send_notice(make_user(), "birthday")
