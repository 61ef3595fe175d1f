"""Aggregates shared by the admin dashboard and the API.

Task numbers come from the rollups the database keeps exact (models/rollups.py), so they
read a few hundred rows however many tasks there are; a time bound inside a day adds the
tasks of that part-day (ranges.py). Filters the rollups cannot answer (a texter, a refusal
reason, a range under two days, a texter's own token) fall back to GROUP BYs over the tasks
themselves; every way takes a fixed number of statements.

Texts refused for a limit (status refused) are stored so staff see them, but they are not
requests the service took on: totals, success rates and categories leave them out, and
`refused_tasks` counts them apart, so a texter over the quota never looks like a failure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ..costs import report
from ..extensions import db
from ..models import (
    Category,
    Task,
    TaskHourlyCount,
    TaskRollup,
    TaskStatus,
    Tier,
    User,
    utcnow,
)
from .daily import daily_stats, direct_daily_stats, series_end, split_daily_stats
from .ranges import DaySplit, day_split, rollup_conditions, task_conditions
from .sums import REFUSED, TAKEN_ON, average, count_where, percentage, ratio, sum_of, sum_where

__all__ = [
    "category_counts",
    "daily_stats",
    "overview",
    "percentage",
    "ratio",
    "rollup_conditions",
    "task_analytics",
    "task_conditions",
    "task_count",
    "task_spend",
    "tasks_since",
]


def overview(now: datetime | None = None) -> dict[str, Any]:
    """The design document's AnalyticsSerializer: users, activity, tasks, tiers, categories.

    Users are counted from their own table (indexed; it grows with texters, not tasks)."""
    now = now or utcnow()
    day_ago, week_ago = now - timedelta(hours=24), now - timedelta(days=7)
    users = db.session.execute(
        sa.select(
            sa.func.count(User.phone_number),
            count_where(User.last_active >= day_ago),
            count_where(User.last_active >= week_ago),
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
    whole_hours = sa.select(sum_of(TaskHourlyCount.tasks)).where(TaskHourlyCount.hour > hour)
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
            sum_where(TaskRollup.status != TaskStatus.REFUSED.value),
            sum_where(TaskRollup.success.is_(True)),
            sum_of(TaskRollup.processing_time_sum),
            sum_of(TaskRollup.processing_time_count),
            sum_of(TaskRollup.tokens_used_sum),
            sum_of(TaskRollup.tokens_used_count),
            sum_where(TaskRollup.status == TaskStatus.REFUSED.value),
        )
        .where(*conditions)
        .group_by(TaskRollup.category)
    ).all()
    return {row[0]: dict(zip(_BY_CATEGORY, row[1:], strict=True)) for row in rows}


_BY_CATEGORY = ("tasks", "successful", "pt_sum", "pt_count", "tk_sum", "tk_count", "refused")


def _direct_by_category(conditions: list) -> dict[str, dict[str, Any]]:
    """The rollups' sums per category, counted over the tasks themselves."""
    rows = db.session.execute(
        sa.select(
            Task.category,
            count_where(TAKEN_ON),
            count_where(Task.success.is_(True)),
            sum_of(Task.processing_time),
            sa.func.count(Task.processing_time),
            sum_of(Task.tokens_used),
            sa.func.count(Task.tokens_used),
            count_where(REFUSED),
        )
        .where(*conditions)
        .group_by(Task.category)
    ).all()
    return {row[0]: dict(zip(_BY_CATEGORY, row[1:], strict=True)) for row in rows}


def _split_by_category(split: DaySplit) -> dict[str, dict[str, Any]]:
    """Per category: the whole days' rollups, plus the part-days' tasks."""
    by_category = _rollup_by_category(split.buckets)
    if split.edges is not None:
        for name, row in _direct_by_category(split.edges).items():
            sums = by_category.setdefault(name, dict.fromkeys(_BY_CATEGORY, 0))
            for key, value in row.items():
                sums[key] += value
    return by_category


def category_counts(filters: Mapping[str, Any] | None = None) -> dict[str, int]:
    """Tasks taken on per category (every category present, zero when none)."""
    filters = filters or {}
    split = day_split(filters)
    if split is not None:
        by_category = _split_by_category(split)
    else:
        by_category = _direct_by_category(task_conditions(filters))
    return {name: int(by_category.get(name, {}).get("tasks", 0)) for name in Category.values()}


def task_count(filters: Mapping[str, Any]) -> int | None:
    """How many tasks match `filters` (refused texts included: the list shows them), from
    the rollups (and a part-day's tasks); None when they cannot tell."""
    split = day_split(filters)
    if split is None:
        return None
    count = sa.select(sum_of(TaskRollup.tasks)).where(*split.buckets).scalar_subquery()
    if split.edges is not None:
        count = count + sa.select(sa.func.count(Task.id)).where(*split.edges).scalar_subquery()
    return int(db.session.scalar(sa.select(count)))


def task_spend(filters: Mapping[str, Any] | None = None, *, scope: Iterable = ()) -> dict:
    """What the tasks matching `filters` and `scope` cost (costs.report.of_tasks): the whole
    days from the task rollups, which keep their tasks' costs, the rest from the ledgers."""
    filters, scope = dict(filters or {}), list(scope)
    split = None if scope else day_split(filters)
    if split is None:
        return report.of_tasks([*task_conditions(filters), *scope])
    spend = report.of_buckets(split.buckets)
    if split.edges is not None:
        rest = report.of_tasks(split.edges)
        spend = {name: spend[name] + rest[name] for name in spend}
    return spend


def task_analytics(
    filters: Mapping[str, Any] | None = None,
    *,
    scope: Iterable = (),
    now: datetime | None = None,
    days: int = 30,
) -> dict[str, Any]:
    """Totals, averages, categories and a per-day series for the tasks matching `filters`
    (the API's task filters, so the numbers describe the tasks the list would show) and
    `scope` (conditions on Task, such as a texter token's own number). The series is the
    last `days` days of the selection (daily.series_end)."""
    filters, scope = dict(filters or {}), list(scope)
    now = series_end(filters, now or utcnow())
    split = None if scope else day_split(filters)
    if split is None:
        return _direct_task_analytics([*task_conditions(filters), *scope], now, days)
    by_category = _split_by_category(split)
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
        "daily_stats": split_daily_stats(split, now, days),
    }


def _direct_task_analytics(conditions: list, now: datetime, days: int) -> dict[str, Any]:
    totals = db.session.execute(
        sa.select(
            count_where(TAKEN_ON),
            count_where(Task.success.is_(True)),
            sa.func.avg(Task.processing_time),
            sa.func.avg(Task.tokens_used),
            count_where(REFUSED),
        ).where(*conditions)
    ).one()
    by_category = _direct_by_category(conditions)
    return {
        "total_tasks": int(totals[0]),
        "successful_tasks": int(totals[1]),
        "refused_tasks": int(totals[4]),
        "success_rate": percentage(int(totals[1]), int(totals[0])),
        "avg_processing_time": average(totals[2]),
        "avg_tokens_used": average(totals[3]),
        "category_breakdown": {
            name: int(by_category.get(name, {}).get("tasks", 0)) for name in Category.values()
        },
        "daily_stats": direct_daily_stats(conditions, now, days),
    }
