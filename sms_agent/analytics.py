"""Aggregates shared by the admin dashboard and the API.

Task numbers come from the rollups the database keeps exact (models/rollups.py), so they
read a few hundred rows however many tasks there are. Filters the rollups cannot answer (a
texter, a refusal reason, a bound that is not a whole UTC day, a texter's own token) fall
back to GROUP BYs over the tasks themselves; both ways take a fixed number of statements.

Texts refused for a limit (status refused) are stored so staff see them, but they are not
requests the service took on: totals, success rates and categories leave them out, and
`refused_tasks` counts them apart, so a texter over the quota never looks like a failure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from .extensions import db
from .models import (
    Category,
    Task,
    TaskHourlyCount,
    TaskRollup,
    TaskStatus,
    Tier,
    User,
    utcnow,
)

#: The tasks the service took on: everything but the texts it refused.
TAKEN_ON = Task.status != TaskStatus.REFUSED.value
REFUSED = Task.status == TaskStatus.REFUSED.value


def percentage(part: int, whole: int) -> float:
    """A percentage with two decimals; 0.0 when there is nothing to divide."""
    return round(100.0 * part / whole, 2) if whole else 0.0


def _average(value) -> float | None:
    return round(float(value), 3) if value is not None else None


def _count_where(condition) -> sa.ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def task_conditions(filters: Mapping[str, Any]) -> list:
    """The SQL conditions on Task for the API's task filters (the list and its analytics)."""
    conditions = [
        getattr(Task, name) == filters[name]
        for name in ("category", "status", "refusal_reason", "user_phone")
        if name in filters
    ]
    if "success" in filters:
        conditions.append(Task.success.is_(filters["success"]))
    if "created_after" in filters:
        conditions.append(Task.created_at >= filters["created_after"])
    if "created_before" in filters:
        conditions.append(Task.created_at <= filters["created_before"])
    return conditions


def rollup_conditions(filters: Mapping[str, Any]) -> list | None:
    """The same filters as conditions on TaskRollup, or None when the rollups cannot answer
    them: a texter's tasks, or a created_after/created_before that is not a whole UTC day
    (midnight for the first, the last microsecond of a day for the second, which is what a
    bare date becomes)."""
    if set(filters) - {"category", "status", "success", "created_after", "created_before"}:
        return None
    conditions = [
        getattr(TaskRollup, name) == filters[name]
        for name in ("category", "status", "success")
        if name in filters
    ]
    if "created_after" in filters:
        after = filters["created_after"].astimezone(UTC)
        if after.timetz().replace(tzinfo=None) != time.min:
            return None
        conditions.append(TaskRollup.day >= after.date())
    if "created_before" in filters:
        # Compared as the day's last microsecond, not as the next midnight: 9999-12-31 has none.
        before = filters["created_before"].astimezone(UTC)
        if before.timetz().replace(tzinfo=None) != time.max:
            return None
        conditions.append(TaskRollup.day <= before.date())
    return conditions


def _sum(column) -> sa.ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(column), 0)


def _sum_where(condition, column=None) -> sa.ColumnElement[int]:
    return _sum(sa.case((condition, column if column is not None else TaskRollup.tasks), else_=0))


def ratio(total, count) -> float | None:
    return round(float(total) / count, 3) if count else None


def overview(now: datetime | None = None) -> dict[str, Any]:
    """The design document's AnalyticsSerializer: users, activity, tasks, tiers, categories.

    Users are counted from their own table (indexed; it grows with texters, not tasks)."""
    now = now or utcnow()
    day_ago, week_ago = now - timedelta(hours=24), now - timedelta(days=7)
    users = db.session.execute(
        sa.select(
            sa.func.count(User.phone_number),
            _count_where(User.last_active >= day_ago),
            _count_where(User.last_active >= week_ago),
        )
    ).one()
    tiers = dict(
        db.session.execute(sa.select(User.tier, sa.func.count()).group_by(User.tier)).all()
    )
    by_category = _rollup_by_category([])
    total = sum(row["tasks"] for row in by_category.values())
    successful = sum(row["successful"] for row in by_category.values())
    categories = {name: by_category.get(name, {}).get("tasks", 0) for name in Category.values()}
    return {
        "total_users": users[0],
        "active_users_24h": int(users[1]),
        "active_users_7d": int(users[2]),
        "total_tasks": total,
        "tasks_24h": tasks_since(day_ago),
        "refused_tasks": int(sum(row["refused"] for row in by_category.values())),
        "success_rate": percentage(successful, total),
        "avg_response_time": ratio(
            sum(row["pt_sum"] for row in by_category.values()),
            sum(row["pt_count"] for row in by_category.values()),
        ),
        "tier_distribution": {tier: tiers.get(tier, 0) for tier in Tier.values()},
        "top_categories": [
            {"category": name, "count": count}
            for name, count in sorted(categories.items(), key=lambda item: -item[1])
            if count
        ][:5],
    }


def tasks_since(moment: datetime) -> int:
    """Tasks taken on at or after `moment`: whole hours from the hourly counts, the rest of
    `moment`'s hour from the tasks (an index range of at most an hour), in one statement."""
    moment = moment.astimezone(UTC)
    hour = int(moment.timestamp()) // 3600
    next_hour = datetime.fromtimestamp((hour + 1) * 3600, UTC)
    whole_hours = sa.select(_sum(TaskHourlyCount.tasks)).where(TaskHourlyCount.hour > hour)
    partial = sa.select(sa.func.count(Task.id)).where(
        TAKEN_ON, Task.created_at >= moment, Task.created_at < next_hour
    )
    return int(
        db.session.scalar(sa.select(whole_hours.scalar_subquery() + partial.scalar_subquery()))
    )


def _rollup_by_category(conditions: list) -> dict[str, dict[str, Any]]:
    rows = db.session.execute(
        sa.select(
            TaskRollup.category,
            _sum_where(TaskRollup.status != TaskStatus.REFUSED.value),
            _sum_where(TaskRollup.success.is_(True)),
            _sum(TaskRollup.processing_time_sum),
            _sum(TaskRollup.processing_time_count),
            _sum(TaskRollup.tokens_used_sum),
            _sum(TaskRollup.tokens_used_count),
            _sum_where(TaskRollup.status == TaskStatus.REFUSED.value),
        )
        .where(*conditions)
        .group_by(TaskRollup.category)
    ).all()
    keys = ("tasks", "successful", "pt_sum", "pt_count", "tk_sum", "tk_count", "refused")
    return {row[0]: dict(zip(keys, row[1:], strict=True)) for row in rows}


def category_counts(filters: Mapping[str, Any] | None = None) -> dict[str, int]:
    """Tasks taken on per category (every category present, zero when none)."""
    filters = filters or {}
    conditions = rollup_conditions(filters)
    if conditions is not None:
        counts = {name: row["tasks"] for name, row in _rollup_by_category(conditions).items()}
    else:
        counts = _direct_category_counts(task_conditions(filters))
    return {category: int(counts.get(category, 0)) for category in Category.values()}


def _direct_category_counts(conditions: list) -> dict[str, int]:
    rows = db.session.execute(
        sa.select(Task.category, sa.func.count())
        .where(TAKEN_ON, *conditions)
        .group_by(Task.category)
    ).all()
    return dict(rows)


def task_count(filters: Mapping[str, Any]) -> int | None:
    """How many tasks match `filters` (refused texts included: the list shows them), from
    the rollups; None when they cannot tell."""
    conditions = rollup_conditions(filters)
    if conditions is None:
        return None
    return int(db.session.scalar(sa.select(_sum(TaskRollup.tasks)).where(*conditions)))


def task_analytics(
    filters: Mapping[str, Any] | None = None,
    *,
    scope: Iterable = (),
    now: datetime | None = None,
    days: int = 30,
) -> dict[str, Any]:
    """Totals, averages, categories and a per-day series for the tasks matching `filters`
    (the API's task filters, so the numbers describe the tasks the list would show) and
    `scope` (conditions on Task, such as a texter token's own number)."""
    filters, scope = dict(filters or {}), list(scope)
    now = now or utcnow()
    conditions = None if scope else rollup_conditions(filters)
    if conditions is None:
        return _direct_task_analytics([*task_conditions(filters), *scope], now, days)
    by_category = _rollup_by_category(conditions)
    total = sum(row["tasks"] for row in by_category.values())
    successful = sum(row["successful"] for row in by_category.values())
    return {
        "total_tasks": int(total),
        "successful_tasks": int(successful),
        "refused_tasks": int(sum(row["refused"] for row in by_category.values())),
        "success_rate": percentage(successful, total),
        "avg_processing_time": ratio(
            sum(row["pt_sum"] for row in by_category.values()),
            sum(row["pt_count"] for row in by_category.values()),
        ),
        "avg_tokens_used": ratio(
            sum(row["tk_sum"] for row in by_category.values()),
            sum(row["tk_count"] for row in by_category.values()),
        ),
        "category_breakdown": {
            name: int(by_category.get(name, {}).get("tasks", 0)) for name in Category.values()
        },
        "daily_stats": _rollup_daily_stats(conditions, now, days),
    }


def _direct_task_analytics(conditions: list, now: datetime, days: int) -> dict[str, Any]:
    totals = db.session.execute(
        sa.select(
            _count_where(TAKEN_ON),
            _count_where(Task.success.is_(True)),
            sa.func.avg(Task.processing_time),
            sa.func.avg(Task.tokens_used),
            _count_where(REFUSED),
        ).where(*conditions)
    ).one()
    counts = _direct_category_counts(conditions)
    return {
        "total_tasks": int(totals[0]),
        "successful_tasks": int(totals[1]),
        "refused_tasks": int(totals[4]),
        "success_rate": percentage(int(totals[1]), int(totals[0])),
        "avg_processing_time": _average(totals[2]),
        "avg_tokens_used": _average(totals[3]),
        "category_breakdown": {name: counts.get(name, 0) for name in Category.values()},
        "daily_stats": _direct_daily_stats(conditions, now, days),
    }


def _first_day(now: datetime, days: int) -> date:
    return now.astimezone(UTC).date() - timedelta(days=days - 1)


def daily_stats(
    filters: Mapping[str, Any] | None = None, now: datetime | None = None, days: int = 30
) -> list:
    """One entry per day for the last `days` days (UTC), oldest first, zeros included."""
    filters, now = filters or {}, now or utcnow()
    conditions = rollup_conditions(filters)
    if conditions is None:
        return _direct_daily_stats(task_conditions(filters), now, days)
    return _rollup_daily_stats(conditions, now, days)


def _rollup_daily_stats(conditions: list, now: datetime, days: int) -> list:
    first_day = _first_day(now, days)
    rows = db.session.execute(
        sa.select(
            TaskRollup.day,
            _sum_where(TaskRollup.status != TaskStatus.REFUSED.value),
            _sum_where(TaskRollup.success.is_(True)),
            _sum_where(TaskRollup.status == TaskStatus.FAILED.value),
            _sum_where(TaskRollup.status == TaskStatus.REFUSED.value),
        )
        .where(TaskRollup.day >= first_day, *conditions)
        .group_by(TaskRollup.day)
    ).all()
    return _series(first_day, days, rows)


def _direct_daily_stats(conditions: list, now: datetime, days: int) -> list:
    first_day = _first_day(now, days)
    start = datetime.combine(first_day, time.min, tzinfo=UTC)
    day = sa.func.date(Task.created_at)
    rows = db.session.execute(
        sa.select(
            day,
            _count_where(TAKEN_ON),
            _count_where(Task.success.is_(True)),
            _count_where(Task.status == TaskStatus.FAILED.value),
            _count_where(REFUSED),
        )
        .where(Task.created_at >= start, *conditions)
        .group_by(day)
    ).all()
    return _series(first_day, days, rows)


def _series(first_day: date, days: int, rows) -> list:
    by_day = {_as_date(row[0]): row for row in rows}
    series = []
    for offset in range(days):
        current = first_day + timedelta(days=offset)
        row = by_day.get(current)
        series.append(
            {
                "date": current.isoformat(),
                "total": int(row[1]) if row else 0,
                "successful": int(row[2]) if row else 0,
                "failed": int(row[3]) if row else 0,
                "refused": int(row[4]) if row else 0,
            }
        )
    return series


def _as_date(value) -> date:
    """SQLite's date() returns text, PostgreSQL's returns a date."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))
