"""The API's task filters as SQL conditions: on the tasks, and, where they can answer, on the
task rollups, which count whole UTC days.

A time bound inside a day splits the range: the whole days between the bounds are read from
the rollups, and only the part-days at its ends from the tasks, an index range of at most a
day at each end. "The last 24 hours" then reads a few hundred rollup rows and one day's
tasks, not every task since.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from ..models import Task, TaskRollup

#: The filters the rollups keep apart; any other (a texter, a refusal reason) needs the tasks.
ROLLUP_FILTERS = {"category", "status", "success", "created_after", "created_before"}
_SAME_IN_BOTH = ("category", "status", "success")
_DAY = timedelta(days=1)


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


@dataclass(frozen=True)
class DaySplit:
    """The tasks some filters select, as two parts that never overlap: `buckets`, conditions
    on TaskRollup for the whole UTC days of the range, and `edges`, conditions on Task for
    the part-days at its ends (None: both bounds are whole days, or there are none)."""

    buckets: list
    edges: list | None


def day_split(filters: Mapping[str, Any]) -> DaySplit | None:
    """`filters` split between the rollups and the tasks; None when the rollups cannot help
    (a filter they do not keep, or a range of under two days, which the tasks answer at once)."""
    if set(filters) - ROLLUP_FILTERS:
        return None
    buckets = [getattr(TaskRollup, n) == filters[n] for n in _SAME_IN_BOTH if n in filters]
    edges = []
    first = last = None
    if "created_after" in filters:
        after = filters["created_after"].astimezone(UTC)
        first = _whole_days_from(after)
        if first is None:
            return None
        if first != after.date():
            edges.append(_between(after, _midnight(first), upper_inclusive=False))
        buckets.append(TaskRollup.day >= first)
    if "created_before" in filters:
        before = filters["created_before"].astimezone(UTC)
        last = _whole_days_until(before)
        if last is None:
            return None
        if last != before.date():
            edges.append(_between(_midnight(before.date()), before, upper_inclusive=True))
        buckets.append(TaskRollup.day <= last)
    if first is not None and last is not None and first > last:
        return None
    same = task_conditions({name: filters[name] for name in _SAME_IN_BOTH if name in filters})
    return DaySplit(buckets, [*same, sa.or_(*edges)] if edges else None)


def rollup_conditions(filters: Mapping[str, Any]) -> list | None:
    """The filters as conditions on TaskRollup alone, or None when part of them needs the
    tasks (see day_split)."""
    split = day_split(filters)
    return split.buckets if split is not None and split.edges is None else None


def _whole_days_from(after: datetime) -> date | None:
    """The first whole day at or after `after` (None past the calendar's last day)."""
    if after.timetz().replace(tzinfo=None) == time.min:
        return after.date()
    return after.date() + _DAY if after.date() < date.max else None


def _whole_days_until(before: datetime) -> date | None:
    """The last whole day up to `before`, inclusive; a bare date is parsed as its last
    microsecond (not the next midnight: 9999-12-31 has none)."""
    if before.timetz().replace(tzinfo=None) == time.max:
        return before.date()
    return before.date() - _DAY if before.date() > date.min else None


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _between(start: datetime, end: datetime, *, upper_inclusive: bool):
    upper = Task.created_at <= end if upper_inclusive else Task.created_at < end
    return sa.and_(Task.created_at >= start, upper)
