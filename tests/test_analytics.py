"""Analytics shared by the dashboard and the API: right numbers, constant query counts."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from sms_agent import analytics
from sms_agent.analytics.ranges import day_split
from sms_agent.extensions import db
from sms_agent.models import ModelCall, utcnow
from sms_agent.user_stats import user_stats
from tests.factories import make_task, make_user


@pytest.fixture
def history(app):
    now = utcnow()
    alice = make_user(tier="premium", last_active=now - timedelta(hours=2))
    bob = make_user(last_active=now - timedelta(days=3))
    make_user(tier="enterprise", last_active=now - timedelta(days=20))
    done = make_task(alice, category="coding", created_at=now - timedelta(days=2))
    done.mark_completed("ok", tokens_used=100, processing_time=1.0)
    again = make_task(alice, category="coding", created_at=now - timedelta(hours=1))
    again.mark_completed("ok", tokens_used=300, processing_time=3.0)
    failed = make_task(bob, category="debug", created_at=now - timedelta(hours=3))
    failed.mark_failed("boom")
    make_task(bob, created_at=now - timedelta(days=40))
    db.session.commit()
    return now


def test_overview_has_the_design_documents_fields(history):
    result = analytics.overview(now=history)
    assert result["total_users"] == 3
    assert result["active_users_24h"] == 1
    assert result["active_users_7d"] == 2
    assert result["total_tasks"] == 4
    assert result["tasks_24h"] == 2
    assert result["success_rate"] == 50.0
    assert result["avg_response_time"] == pytest.approx(2.0)
    assert result["tier_distribution"] == {"free": 1, "premium": 1, "enterprise": 1}
    assert result["top_categories"][0] == {"category": "coding", "count": 2}


def test_task_analytics_totals_categories_and_daily_series(history):
    result = analytics.task_analytics(now=history)
    assert result["total_tasks"] == 4
    assert result["successful_tasks"] == 2
    assert result["success_rate"] == 50.0
    assert result["avg_processing_time"] == pytest.approx(2.0)
    assert result["avg_tokens_used"] == pytest.approx(200)
    assert result["category_breakdown"]["coding"] == 2
    assert result["category_breakdown"]["design"] == 0
    series = result["daily_stats"]
    assert len(series) == 30
    assert series[-1]["date"] == history.date().isoformat()
    assert sum(day["total"] for day in series) == 3  # the 40-day-old task is outside the window
    assert sum(day["failed"] for day in series) == 1


def test_task_analytics_honours_filters(history):
    result = analytics.task_analytics({"category": "coding"}, now=history)
    assert result["total_tasks"] == 2
    assert result["success_rate"] == 100.0


def test_refused_texts_are_counted_apart_never_as_failures(history):
    bob = make_user()
    make_task(bob, created_at=history)  # taken on, still queued
    for _ in range(3):
        make_task(bob, status="refused", refusal_reason="over_quota", created_at=history)
    overview = analytics.overview(now=history)
    assert (overview["total_tasks"], overview["refused_tasks"]) == (5, 3)
    assert overview["success_rate"] == 40.0  # 2 of the 5 taken on, not 2 of 8
    result = analytics.task_analytics(now=history)
    assert (result["total_tasks"], result["refused_tasks"]) == (5, 3)
    assert result["success_rate"] == 40.0
    assert result["category_breakdown"]["general"] == 2  # the refused ones are not requests
    series = result["daily_stats"]
    assert sum(day["total"] for day in series) == 4  # 40-day-old task outside the window
    assert (sum(day["failed"] for day in series), sum(day["refused"] for day in series)) == (1, 3)
    assert user_stats([bob.phone_number])[bob.phone_number]["success_rate"] == 0.0
    refused_only = analytics.task_analytics({"status": "refused"}, now=history)
    assert (refused_only["total_tasks"], refused_only["success_rate"]) == (0, 0.0)


def test_empty_database_gives_zeros_not_errors(app):
    assert analytics.overview()["success_rate"] == 0.0
    assert analytics.task_analytics()["avg_tokens_used"] is None


def test_query_count_does_not_grow_with_data(history, count_queries):
    with count_queries() as small:
        analytics.overview()
        analytics.task_analytics()
    user = make_user()
    for days in range(25):
        make_task(user, created_at=utcnow() - timedelta(days=days))
    with count_queries() as large:
        analytics.overview()
        analytics.task_analytics()
    assert small.count == large.count <= 8


MIDNIGHT = datetime(2026, 11, 20, tzinfo=UTC)


def test_a_bound_inside_a_day_counts_each_task_once_at_every_edge(app, count_queries):
    """From 10:00 two days before to 05:00 the day after: the part-days at the ends come from
    the tasks, the two whole days between from the rollups, and a task on an edge's midnight
    or on a bound itself is counted once."""
    after, before = MIDNIGHT - timedelta(days=1, hours=14), MIDNIGHT + timedelta(days=1, hours=5)
    user = make_user()
    inside = [
        after,  # the first moment the range holds
        MIDNIGHT - timedelta(days=1) - timedelta(microseconds=1),  # the head's last
        MIDNIGHT - timedelta(days=1),  # the first whole day's midnight
        MIDNIGHT + timedelta(hours=23, minutes=59),
        MIDNIGHT + timedelta(days=1),  # the tail's midnight
        before,  # the last moment it holds
    ]
    outside = [after - timedelta(microseconds=1), before + timedelta(microseconds=1)]
    tasks = [make_task(user, category="coding", created_at=at) for at in inside + outside]
    for cents, task in enumerate(tasks, start=1):  # each task's model call costs apart
        cost = Decimal(cents) / 100
        db.session.add(
            ModelCall(task_id=task.id, user_phone=user.phone_number, model="m", cost_usd=cost)
        )
    db.session.commit()
    filters = {"created_after": after, "created_before": before}
    with count_queries() as counter:
        served = analytics.task_analytics(filters, now=before)
        spend = analytics.task_spend(filters)
    direct = analytics.task_analytics(filters, scope=[sa.true()], now=before)
    assert served == direct
    assert served["total_tasks"] == len(inside)
    assert analytics.task_count(filters) == len(inside)
    assert analytics.category_counts(filters)["coding"] == len(inside)
    paid = sum(Decimal(cents) / 100 for cents in range(1, len(inside) + 1))
    assert spend == {"sms_usd": 0, "model_usd": paid, "total_usd": paid}
    # Every read of the tasks is held to a part-day: none scans the range's whole days, and
    # the part-days' spend is their tasks' own, not a join with the ledgers.
    tasks_read = [sql for sql in counter.statements if "FROM tasks" in sql]
    assert tasks_read and all("tasks.created_at <" in sql for sql in tasks_read)
    assert not [sql for sql in counter.statements if "model_calls" in sql]


@pytest.mark.parametrize(
    ("after", "before"),
    [
        (MIDNIGHT + timedelta(hours=10), MIDNIGHT + timedelta(days=1, hours=9)),  # no whole day
        (datetime.max.replace(tzinfo=UTC) - timedelta(hours=1), None),  # the calendar's end
        (None, datetime.min.replace(tzinfo=UTC) + timedelta(hours=1)),  # and its start
    ],
    ids=["under-two-days", "last-day", "first-day"],
)
def test_a_range_without_a_whole_day_is_read_from_the_tasks(app, after, before):
    filters = {
        name: value
        for name, value in (("created_after", after), ("created_before", before))
        if value
    }
    assert day_split(filters) is None
    assert analytics.task_analytics(filters)["total_tasks"] == 0
