"""Aggregates shared by the admin dashboard and the API: a few GROUP BYs, never one per row.

Texts refused for a limit (status refused) are stored so staff see them, but they are not
requests the service took on: totals, success rates and categories leave them out, and
`refused_tasks` counts them apart, so a texter over the quota never looks like a failure."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from .extensions import db
from .models import Category, Task, TaskStatus, Tier, User, utcnow

#: The tasks the service took on: everything but the texts it refused.
TAKEN_ON = Task.status != TaskStatus.REFUSED.value
REFUSED = Task.status == TaskStatus.REFUSED.value


def _rate(part: int, whole: int) -> float:
    """A percentage with two decimals; 0.0 when there is nothing to divide."""
    return round(100.0 * part / whole, 2) if whole else 0.0


def _average(value) -> float | None:
    return round(float(value), 3) if value is not None else None


def _count_where(condition) -> sa.ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def overview(now: datetime | None = None) -> dict[str, Any]:
    """The design document's AnalyticsSerializer: users, activity, tasks, tiers, categories."""
    now = now or utcnow()
    day_ago, week_ago = now - timedelta(hours=24), now - timedelta(days=7)
    users = db.session.execute(
        sa.select(
            sa.func.count(User.phone_number),
            _count_where(User.last_active >= day_ago),
            _count_where(User.last_active >= week_ago),
        )
    ).one()
    tasks = db.session.execute(
        sa.select(
            _count_where(TAKEN_ON),
            _count_where(sa.and_(TAKEN_ON, Task.created_at >= day_ago)),
            _count_where(Task.success.is_(True)),
            sa.func.avg(Task.processing_time),
            _count_where(REFUSED),
        )
    ).one()
    tiers = dict(
        db.session.execute(sa.select(User.tier, sa.func.count()).group_by(User.tier)).all()
    )
    categories = category_counts()
    return {
        "total_users": users[0],
        "active_users_24h": int(users[1]),
        "active_users_7d": int(users[2]),
        "total_tasks": int(tasks[0]),
        "tasks_24h": int(tasks[1]),
        "refused_tasks": int(tasks[4]),
        "success_rate": _rate(int(tasks[2]), int(tasks[0])),
        "avg_response_time": _average(tasks[3]),
        "tier_distribution": {tier: tiers.get(tier, 0) for tier in Tier.values()},
        "top_categories": [
            {"category": name, "count": count}
            for name, count in sorted(categories.items(), key=lambda item: -item[1])
            if count
        ][:5],
    }


def category_counts(conditions: Iterable = ()) -> dict[str, int]:
    """Tasks taken on per category (every category present, zero when none)."""
    rows = db.session.execute(
        sa.select(Task.category, sa.func.count())
        .where(TAKEN_ON, *conditions)
        .group_by(Task.category)
    ).all()
    counts = dict(rows)
    return {category: counts.get(category, 0) for category in Category.values()}


def task_analytics(
    conditions: Iterable = (), now: datetime | None = None, days: int = 30
) -> dict[str, Any]:
    """Totals, averages, categories and a per-day series for the tasks matching `conditions`.

    `conditions` are SQL expressions on Task (the API passes its list filters), so the
    numbers always describe the same tasks the list would show.
    """
    conditions = list(conditions)
    now = now or utcnow()
    totals = db.session.execute(
        sa.select(
            _count_where(TAKEN_ON),
            _count_where(Task.success.is_(True)),
            sa.func.avg(Task.processing_time),
            sa.func.avg(Task.tokens_used),
            _count_where(REFUSED),
        ).where(*conditions)
    ).one()
    return {
        "total_tasks": int(totals[0]),
        "successful_tasks": int(totals[1]),
        "refused_tasks": int(totals[4]),
        "success_rate": _rate(int(totals[1]), int(totals[0])),
        "avg_processing_time": _average(totals[2]),
        "avg_tokens_used": _average(totals[3]),
        "category_breakdown": category_counts(conditions),
        "daily_stats": daily_stats(conditions, now=now, days=days),
    }


def daily_stats(conditions: Iterable = (), now: datetime | None = None, days: int = 30) -> list:
    """One entry per day for the last `days` days (UTC), oldest first, zeros included."""
    now = now or utcnow()
    first_day = now.date() - timedelta(days=days - 1)
    start = datetime.combine(first_day, datetime.min.time(), tzinfo=now.tzinfo)
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
    by_day = {_as_date(row[0]): row for row in rows}
    series = []
    for offset in range(days):
        current = first_day + timedelta(days=offset)
        row = by_day.get(current)
        series.append(
            {
                "date": current.isoformat(),
                "total": row[1] if row else 0,
                "successful": int(row[2]) if row else 0,
                "failed": int(row[3]) if row else 0,
                "refused": int(row[4]) if row else 0,
            }
        )
    return series


def _as_date(value) -> date:
    """SQLite's date() returns text, PostgreSQL's returns a date."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def user_stats(phones: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Each user's success rate, average response time and top three categories.

    Two GROUP BYs over the given users' tasks, however many users: the API shows a whole
    page of users with their stats without a query per user.
    """
    phones = list(phones)
    stats = {
        phone: {"success_rate": 0.0, "avg_response_time": None, "favorite_categories": []}
        for phone in phones
    }
    if not phones:
        return stats
    totals = db.session.execute(
        sa.select(
            Task.user_phone,
            _count_where(TAKEN_ON),
            _count_where(Task.success.is_(True)),
            sa.func.avg(Task.processing_time),
        )
        .where(Task.user_phone.in_(phones))
        .group_by(Task.user_phone)
    ).all()
    for phone, total, successful, average in totals:
        stats[phone]["success_rate"] = _rate(int(successful), int(total))
        stats[phone]["avg_response_time"] = _average(average)
    per_category = db.session.execute(
        sa.select(Task.user_phone, Task.category, sa.func.count(Task.id))
        .where(Task.user_phone.in_(phones), TAKEN_ON)
        .group_by(Task.user_phone, Task.category)
    ).all()
    for phone, category, _count in sorted(per_category, key=lambda row: (-row[2], row[1])):
        favourites = stats[phone]["favorite_categories"]
        if len(favourites) < 3:
            favourites.append(category)
    return stats
