"""The SQL sums the aggregates share, and how their results are rounded."""

from __future__ import annotations

import sqlalchemy as sa

from ..models import Task, TaskRollup, TaskStatus

#: The tasks the service took on: everything but the texts it refused.
TAKEN_ON = Task.status != TaskStatus.REFUSED.value
REFUSED = Task.status == TaskStatus.REFUSED.value


def percentage(part: int, whole: int) -> float:
    """A percentage with two decimals; 0.0 when there is nothing to divide."""
    return round(100.0 * part / whole, 2) if whole else 0.0


def average(value) -> float | None:
    return round(float(value), 3) if value is not None else None


def count_where(condition) -> sa.ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def sum_of(column) -> sa.ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(column), 0)


def sum_where(condition, column=None) -> sa.ColumnElement[int]:
    return sum_of(sa.case((condition, column if column is not None else TaskRollup.tasks), else_=0))


def ratio(total, count) -> float | None:
    return round(float(total) / count, 3) if count else None
