"""The per-day series of the dashboard and /api/tasks/analytics/: one entry per UTC day,
oldest first, zeros included."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from ..extensions import db
from ..models import Task, TaskRollup, TaskStatus, utcnow
from .ranges import DaySplit, day_split, task_conditions
from .sums import REFUSED, TAKEN_ON, count_where, sum_where


def _first_day(now: datetime, days: int) -> date:
    """The series' first day: `days` days up to `now`'s, or the calendar's first day, 1 Jan
    of year 1, for a series ending within `days` of it (which is then shorter)."""
    last = now.astimezone(UTC).date()
    return date.fromordinal(max(1, last.toordinal() - (days - 1)))


def series_end(filters: Mapping[str, Any], now: datetime) -> datetime:
    """When the series of the tasks `filters` select ends: now, or `created_before` when
    that is earlier (last October's tasks are charted in October, not as 30 empty days up
    to today; within its days of the calendar's start, the series is shorter, never past it)."""
    if "created_before" not in filters:
        return now
    return min(now, filters["created_before"])


def daily_stats(
    filters: Mapping[str, Any] | None = None, now: datetime | None = None, days: int = 30
) -> list:
    """One entry per day for the last `days` days (UTC) of the tasks `filters` select
    (series_end), oldest first, zeros included."""
    filters = filters or {}
    now = series_end(filters, now or utcnow())
    split = day_split(filters)
    if split is None:
        return direct_daily_stats(task_conditions(filters), now, days)
    return split_daily_stats(split, now, days)


def split_daily_stats(split: DaySplit, now: datetime, days: int) -> list:
    first_day = _first_day(now, days)
    rows = _rollup_daily_rows(split.buckets, first_day)
    if split.edges is not None:
        rows += _direct_daily_rows(split.edges, first_day)
    return _series(first_day, now, rows)


def _rollup_daily_rows(conditions: list, first_day: date) -> list:
    return db.session.execute(
        sa.select(
            TaskRollup.day,
            sum_where(TaskRollup.status != TaskStatus.REFUSED.value),
            sum_where(TaskRollup.success.is_(True)),
            sum_where(TaskRollup.status == TaskStatus.FAILED.value),
            sum_where(TaskRollup.status == TaskStatus.REFUSED.value),
        )
        .where(TaskRollup.day >= first_day, *conditions)
        .group_by(TaskRollup.day)
    ).all()


def direct_daily_stats(conditions: list, now: datetime, days: int) -> list:
    first_day = _first_day(now, days)
    return _series(first_day, now, _direct_daily_rows(conditions, first_day))


def _direct_daily_rows(conditions: list, first_day: date) -> list:
    start = datetime.combine(first_day, time.min, tzinfo=UTC)
    day = sa.func.date(Task.created_at)
    return db.session.execute(
        sa.select(
            day,
            count_where(TAKEN_ON),
            count_where(Task.success.is_(True)),
            count_where(Task.status == TaskStatus.FAILED.value),
            count_where(REFUSED),
        )
        .where(Task.created_at >= start, *conditions)
        .group_by(day)
    ).all()


def _series(first_day: date, now: datetime, rows) -> list:
    """One entry a day from `first_day` to `now`'s, from `rows` of (day, total, successful,
    failed, refused); rows of the same day (the rollups' and a part-day's tasks) are added."""
    by_day: dict[date, list[int]] = {}
    for row in rows:
        sums = by_day.setdefault(_as_date(row[0]), [0, 0, 0, 0])
        for index, value in enumerate(row[1:]):
            sums[index] += int(value)
    series = []
    for offset in range((now.astimezone(UTC).date() - first_day).days + 1):
        current = first_day + timedelta(days=offset)
        total, successful, failed, refused = by_day.get(current, (0, 0, 0, 0))
        series.append(
            {
                "date": current.isoformat(),
                "total": total,
                "successful": successful,
                "failed": failed,
                "refused": refused,
            }
        )
    return series


def _as_date(value) -> date:
    """SQLite's date() returns text, PostgreSQL's returns a date."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))
