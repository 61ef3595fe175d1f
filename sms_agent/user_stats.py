"""Each texter's own figures for the users list: success rate, average response time and
favourite categories, from the per-user rollups (models/rollups.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from .analytics import percentage, ratio
from .extensions import db
from .models import UserTaskRollup

#: Between categories in the text that lists a user's categories (never in a name).
_NEXT = "\x1f"

#: A category as text that sorts as the list ranks categories, most tasks first, then by
#: name: 10^10 - tasks (ten digits for any count below 2^31) before the name.
_RANKED_WIDTH = 10
_RANKED_BASE = sa.literal_column(str(10**_RANKED_WIDTH), sa.BigInteger)

#: Some users' (`phones`) totals over their categories, one row each, with their ranked
#: categories as one text, in no particular order: a row per user rather than one per user
#: and category is a sixth of the values to fetch. Built once, from the table's columns.
_ROLLUP = UserTaskRollup.__table__
_TOTALS_OF = (
    sa.select(
        _ROLLUP.c.user_phone,
        sa.func.sum(_ROLLUP.c.tasks),
        sa.func.sum(_ROLLUP.c.successful),
        sa.func.sum(_ROLLUP.c.processing_time_sum),
        sa.func.sum(_ROLLUP.c.processing_time_count),
        sa.func.aggregate_strings(
            sa.cast(_RANKED_BASE - _ROLLUP.c.tasks, sa.String) + _ROLLUP.c.category, _NEXT
        ),
    )
    .where(_ROLLUP.c.user_phone.in_(sa.bindparam("phones", expanding=True)), _ROLLUP.c.tasks > 0)
    .group_by(_ROLLUP.c.user_phone)
)

#: A user without rollup rows: tasks, successful, time sum, time count, categories.
_NONE = (0, 0, 0.0, 0, "")


def user_stats(phones: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Each user's success rate, average response time and top three categories (most
    tasks first, then by name).

    One read of the per-user rollups (a few rows per user), however many tasks they have:
    the API shows a whole page of users with their stats without a query per user.
    """
    phones = list(phones)
    totals = {}
    if phones:
        read = db.session.connection().execute(_TOTALS_OF, {"phones": phones}).all()
        totals = {row[0]: row[1:] for row in read}
    stats = {}
    for phone in phones:
        tasks, successful, time_sum, time_count, categories = totals.get(phone, _NONE)
        stats[phone] = {
            "success_rate": percentage(successful, tasks),
            "avg_response_time": ratio(time_sum, time_count),
            "favorite_categories": _top_three(categories),
        }
    return stats


def _top_three(categories: str) -> list[str]:
    """The first three of a user's ranked categories (see _RANKED_WIDTH)."""
    if not categories:
        return []
    return [ranked[_RANKED_WIDTH:] for ranked in sorted(categories.split(_NEXT))[:3]]
