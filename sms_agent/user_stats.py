"""Each texter's own figures for the users list: success rate, average response time and
favourite categories, from the per-user rollups (models/rollups.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from .analytics import percentage, ratio
from .extensions import db
from .models import UserTaskRollup

#: The per-user rollup rows of some users (`phones`), each user's categories most used
#: first: the table's own columns, so the rows are plain tuples, not ORM results, and the
#: statement is built once.
_ROLLUP = UserTaskRollup.__table__
_CATEGORIES_OF = (
    sa.select(
        _ROLLUP.c.user_phone,
        _ROLLUP.c.category,
        _ROLLUP.c.tasks,
        _ROLLUP.c.successful,
        _ROLLUP.c.processing_time_sum,
        _ROLLUP.c.processing_time_count,
    )
    .where(_ROLLUP.c.user_phone.in_(sa.bindparam("phones", expanding=True)), _ROLLUP.c.tasks > 0)
    .order_by(_ROLLUP.c.user_phone, _ROLLUP.c.tasks.desc(), _ROLLUP.c.category)
)

#: A user without rollup rows: tasks, successful, time sum, time count, categories.
_NONE = (0, 0, 0.0, 0, [])


def user_stats(phones: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Each user's success rate, average response time and top three categories.

    One read of the per-user rollups (a few rows per user), however many tasks they have:
    the API shows a whole page of users with their stats without a query per user.
    """
    phones = list(phones)
    totals: dict[str, list] = {}
    if phones:
        for phone, category, tasks, successful, time_sum, time_count in db.session.execute(
            _CATEGORIES_OF, {"phones": phones}
        ).all():
            if (mine := totals.get(phone)) is None:
                mine = totals[phone] = [0, 0, 0.0, 0, []]
            mine[0] += tasks
            mine[1] += successful
            mine[2] += time_sum
            mine[3] += time_count
            mine[4].append(category)
    stats = {}
    for phone in phones:
        tasks, successful, time_sum, time_count, categories = totals.get(phone, _NONE)
        stats[phone] = {
            "success_rate": percentage(successful, tasks),
            "avg_response_time": ratio(time_sum, time_count),
            "favorite_categories": categories[:3],
        }
    return stats
