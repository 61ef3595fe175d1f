"""Each texter's own figures for the users list: success rate, average response time and
favourite categories, from the per-user rollups (models/rollups.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from .analytics import percentage, ratio
from .extensions import db
from .models import UserTaskRollup


def user_stats(phones: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Each user's success rate, average response time and top three categories.

    One read of the per-user rollups (a few rows per user), however many tasks they have:
    the API shows a whole page of users with their stats without a query per user.
    """
    phones = list(phones)
    stats = {
        phone: {"success_rate": 0.0, "avg_response_time": None, "favorite_categories": []}
        for phone in phones
    }
    if not phones:
        return stats
    rollup = UserTaskRollup
    rows = db.session.execute(
        sa.select(
            rollup.user_phone,
            rollup.category,
            rollup.tasks,
            rollup.successful,
            rollup.processing_time_sum,
            rollup.processing_time_count,
        ).where(rollup.user_phone.in_(phones), rollup.tasks > 0)
    ).all()
    per_user: dict[str, list] = {}
    for row in rows:
        per_user.setdefault(row[0], []).append(row)
    for phone, categories in per_user.items():
        total = sum(row.tasks for row in categories)
        stats[phone]["success_rate"] = percentage(sum(row.successful for row in categories), total)
        stats[phone]["avg_response_time"] = ratio(
            sum(row.processing_time_sum for row in categories),
            sum(row.processing_time_count for row in categories),
        )
        ranked = sorted(categories, key=lambda row: (-row.tasks, row.category))
        stats[phone]["favorite_categories"] = [row.category for row in ranked[:3]]
    return stats
