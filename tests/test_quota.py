"""Quotas: limits, the window, admission (exact under concurrency), giving back, resets."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from sms_agent import quota
from sms_agent.answering import pipeline
from sms_agent.extensions import db
from sms_agent.models import Task, User, utcnow
from tests.factories import make_task, make_user


def reloaded(user: User) -> User:
    db.session.expire_all()
    return db.session.get(User, user.phone_number)


def test_limits_come_from_config(app):
    app.config["QUOTA_FREE"] = 3
    user = make_user(monthly_requests=2)
    assert quota.remaining(user) == 1
    user.monthly_requests = 3
    assert not quota.has_room(user)


def test_segment_budget_per_tier(app):
    assert quota.segment_budget("free") == 3
    assert quota.segment_budget("premium") == 10


def test_admission_counts_the_request_at_once(app):
    user = make_user(monthly_requests=5, total_requests=40)
    window = quota.admit(user)
    db.session.commit()
    assert window == user.window_started_at
    fresh = reloaded(user)
    assert (fresh.monthly_requests, fresh.total_requests) == (6, 41)


def test_admission_refuses_at_the_limit_and_counts_nothing(app):
    user = make_user(monthly_requests=100)
    assert quota.admit(user) is None
    db.session.commit()
    assert reloaded(user).monthly_requests == 100


def test_admission_after_the_window_ended_starts_a_new_one(app):
    user = make_user(monthly_requests=100, rate_limit_reset=utcnow() - timedelta(days=1))
    now = utcnow()
    window = quota.admit(user, now)
    db.session.commit()
    assert window == now and user.rate_limit_reset > now
    assert reloaded(user).monthly_requests == 1


def test_a_tier_with_no_requests_admits_none_when_its_month_rolls_over(app):
    """Regression: the UPDATE that admits rolled an ended window and counted the request in
    it whatever the tier's limit, so with QUOTA_FREE=0 (answers for paying plans only) each
    free texter's first text after their month rolled over was admitted and answered at
    the model's cost, one a month each."""
    app.config["QUOTA_FREE"] = 0
    user = make_user(rate_limit_reset=utcnow() - timedelta(hours=1))
    assert quota.admit(user) is None
    db.session.commit()
    assert (reloaded(user).monthly_requests, reloaded(user).total_requests) == (0, 0)


def test_the_limit_is_the_tier_the_row_has_when_admitted(app):
    """A tier change committed after the texter was loaded still decides."""
    user = make_user(monthly_requests=100)
    with db.engine.begin() as other:
        other.execute(
            sa.update(User).where(User.phone_number == user.phone_number).values(tier="premium")
        )
    assert quota.admit(user) is not None


def test_parallel_admissions_at_quota_minus_one_admit_exactly_one(app):
    phone = make_user(monthly_requests=99).phone_number
    barrier = threading.Barrier(6)
    admitted = []

    def request():
        with app.app_context():
            user = db.session.get(User, phone)
            barrier.wait()
            admitted.append(quota.admit(user) is not None)
            db.session.commit()
            db.session.remove()

    threads = [threading.Thread(target=request) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(admitted) == [False] * 5 + [True]
    assert reloaded(db.session.get(User, phone)).monthly_requests == 100


def test_a_failed_task_gives_its_request_back(app):
    user = make_user(monthly_requests=10, total_requests=10)
    window = quota.admit(user)
    task = make_task(user=user, quota_window=window)
    pipeline.give_up(task.id, RuntimeError("model down"))
    fresh = reloaded(user)
    assert (fresh.monthly_requests, fresh.total_requests) == (10, 10)
    assert db.session.get(Task, task.id).quota_window is None


def test_a_request_is_given_back_only_once(app):
    user = make_user(monthly_requests=10)
    task = make_task(user=user, quota_window=quota.admit(user))
    quota.give_back(task)
    quota.give_back(task)
    db.session.commit()
    assert reloaded(user).monthly_requests == 10


def test_a_failure_from_an_ended_window_leaves_the_new_window_alone(app):
    user = make_user(monthly_requests=3, total_requests=50)
    task = make_task(user=user, quota_window=datetime(2020, 1, 1, tzinfo=UTC))
    quota.give_back(task)
    db.session.commit()
    fresh = reloaded(user)
    assert (fresh.monthly_requests, fresh.total_requests) == (3, 49)


def _reset_by_command(app, user):
    assert app.test_cli_runner().invoke(args=["quota", "reset", "--yes"]).exit_code == 0


def _reset_by_staff(_app, user):
    quota.reset_user(user)
    db.session.commit()


def _upgrade(_app, user):
    quota.change_tier(user, "premium")
    db.session.commit()


@pytest.mark.parametrize("new_window", [_reset_by_command, _reset_by_staff, _upgrade])
def test_a_task_counted_before_a_reset_that_fails_after_it_takes_nothing_from_the_new_count(
    app, new_window
):
    """A reset (or an upgrade) within the month starts a window that ends when the old one
    did: the failed task was counted in the old one, so the new count keeps its request."""
    user = make_user(monthly_requests=10, total_requests=10)
    task = make_task(user=user, quota_window=quota.admit(user))
    new_window(app, user)
    user = reloaded(user)
    make_task(user=user, quota_window=quota.admit(user))
    db.session.commit()
    pipeline.give_up(task.id, RuntimeError("model down"))
    fresh = reloaded(user)
    assert (fresh.monthly_requests, fresh.total_requests) == (1, 11)


def test_a_failure_after_a_timezone_change_still_gives_its_request_back(app):
    """A new timezone moves the window's end, not the window: the request comes back."""
    user = make_user(monthly_requests=10, total_requests=10, timezone="Europe/Paris")
    task = make_task(user=user, quota_window=quota.admit(user))
    user = reloaded(user)  # as the API and the admin load a texter before editing them
    user.timezone = "America/Chicago"
    db.session.commit()
    pipeline.give_up(task.id, RuntimeError("model down"))
    fresh = reloaded(user)
    assert (fresh.monthly_requests, fresh.total_requests) == (10, 10)


def test_change_tier_returns_the_old_tier_and_resets_on_upgrade(app):
    user = make_user(monthly_requests=42)
    assert quota.change_tier(user, "enterprise") == "free"
    db.session.commit()
    assert user.tier == "enterprise"
    assert user.monthly_requests == 0


def test_change_tier_returns_the_tier_the_row_has_when_it_changes(app):
    """Two changes at once (a client posting update_tier/ twice): the second finds the tier
    the first committed, so the texter is told of one change, not two."""
    user = make_user()
    assert user.tier == "free"
    with db.engine.begin() as other:  # the first change, committed meanwhile
        other.execute(
            sa.update(User).where(User.phone_number == user.phone_number).values(tier="premium")
        )
    assert quota.change_tier(user, "premium") == "premium"


def test_a_move_down_to_a_paid_tier_keeps_the_monthly_count(app):
    """Enterprise to premium is a downgrade: like one to free, it resets nothing (a reset
    would hand an enterprise texter a fresh premium month on top of what they used)."""
    user = make_user(tier="enterprise", monthly_requests=4000)
    window = user.window_started_at
    assert quota.change_tier(user, "premium") == "enterprise"
    db.session.commit()
    fresh = reloaded(user)
    assert (fresh.tier, fresh.monthly_requests, fresh.window_started_at) == (
        "premium",
        4000,
        window,
    )
    assert not quota.has_room(fresh)


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


@pytest.mark.parametrize(
    ("tier", "limit"), [("free", 100), ("premium", 1000), ("enterprise", 10000)]
)
def test_each_tier_has_its_monthly_limit(app, tier, limit):
    user = make_user(tier=tier, monthly_requests=limit - 1)
    assert quota.has_room(user)
    user.monthly_requests = limit
    assert not quota.has_room(user)


def test_an_ended_window_rolls_to_the_first_of_next_month_in_the_users_timezone(app):
    user = make_user(monthly_requests=100, timezone="America/New_York")
    user.rate_limit_reset = datetime(2026, 1, 1, tzinfo=UTC)
    db.session.commit()
    now = datetime(2026, 1, 15, 12, tzinfo=UTC)
    assert quota.has_room(user, now)
    assert quota.admit(user, now) == now
    assert user.rate_limit_reset == datetime(2026, 2, 1, 5, tzinfo=UTC)  # midnight in NY
    assert user.monthly_requests == 1


def test_a_texter_created_with_a_timezone_has_a_first_window_ending_at_midnight_there(
    app, mid_month_noon
):
    """Regression: a texter staff or the API created with timezone America/New_York got a
    first window ending at midnight UTC, 19:00 on the last of the month in New York: their
    quota reset five hours early, and USAGE said it resets "on Jan 31"."""
    user = make_user(timezone="America/New_York")
    assert user.rate_limit_reset == datetime(2027, 2, 1, 5, tzinfo=UTC)  # midnight in NY
    assert make_user().rate_limit_reset == datetime(2027, 2, 1, tzinfo=UTC)


def test_a_new_timezone_moves_the_windows_end_but_not_its_month(app):
    """A window ends on the first of the month, midnight where the texter is: moving to
    another timezone (a texter's token may) re-reads that midnight there, so moving west
    just before it cannot roll into a second window inside the same month."""
    user = make_user(timezone="Pacific/Kiritimati")  # UTC+14
    quota.admit(user, now=datetime(2027, 1, 1, 12, tzinfo=UTC))
    assert user.rate_limit_reset == datetime(2027, 1, 31, 10, tzinfo=UTC)  # Feb 1 there
    user.timezone = "Etc/GMT+12"  # UTC-12, where it is still January 30
    db.session.commit()
    assert user.rate_limit_reset == datetime(2027, 2, 1, 12, tzinfo=UTC)  # Feb 1 there
    quota.admit(user, now=datetime(2027, 1, 31, 10, 5, tzinfo=UTC))
    assert user.monthly_requests == 2
    quota.admit(user, now=datetime(2027, 2, 1, 12, 5, tzinfo=UTC))
    assert (user.monthly_requests, user.rate_limit_reset) == (
        1,
        datetime(2027, 3, 1, 12, tzinfo=UTC),
    )


def test_a_december_window_ends_in_january(app):
    user = make_user()
    quota.start_new_window(user, now=datetime(2026, 12, 20, tzinfo=UTC))
    assert user.rate_limit_reset == datetime(2027, 1, 1, tzinfo=UTC)


def test_completing_a_task_counts_nothing_more(app):
    """The request was counted when it was admitted."""
    user = make_user()
    task = make_task(user=user, quota_window=quota.admit(user))
    task.mark_completed("Answer")
    db.session.commit()
    task.mark_completed("Edited")
    db.session.commit()
    fresh = reloaded(user)
    assert (fresh.total_requests, fresh.monthly_requests) == (1, 1)
