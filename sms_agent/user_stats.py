"""Each texter's own figures for the users list: success rate, average response time and
favourite categories, from the per-user rollups (models/rollups.py).

The list reads them as one more column of its page (`stats_column`): a correlated subquery
that sums the texter's few rollup rows and writes the sums and the ranked categories as
one text ("80 66 266.009 80 <categories>"), since a subquery in a select list gives one
value. Beside the page, a separate statement for the page's texters cost as much again in
execution (its expanding IN list, its rows) as the database spends on the rollups. SQLite
writes a sum of seconds with 15 significant digits, far more than the average's three
decimals need.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from .analytics import percentage, ratio
from .extensions import db
from .models import User, UserTaskRollup

#: Between the figures of the packed text, and between its categories (neither occurs in a
#: number or a category's name).
_BETWEEN, _NEXT = " ", "\x1f"

#: A category as text that sorts as the list ranks categories, most tasks first, then by
#: name: 10^10 - tasks (ten digits for any count below 2^31) before the name.
_RANKED_WIDTH = 10
_RANKED_BASE = sa.literal_column(str(10**_RANKED_WIDTH), sa.BigInteger)

_ROLLUP = UserTaskRollup.__table__


def stats_column(phone: sa.ColumnElement[str]) -> sa.Label:
    """The packed stats (see the module) of the texter whose number is `phone`, NULL for a
    texter with no task taken on; `stats_of` reads it."""
    sums = [
        sa.cast(sa.func.sum(column), sa.String)
        for column in (
            _ROLLUP.c.tasks,
            _ROLLUP.c.successful,
            _ROLLUP.c.processing_time_sum,
            _ROLLUP.c.processing_time_count,
        )
    ]
    ranked = sa.cast(_RANKED_BASE - _ROLLUP.c.tasks, sa.String) + _ROLLUP.c.category
    between = sa.literal_column(f"'{_BETWEEN}'", sa.String)
    packed = sums[0]
    for figure in (*sums[1:], sa.func.aggregate_strings(ranked, _NEXT)):
        packed = packed + between + figure
    return (
        sa.select(packed)
        .where(_ROLLUP.c.user_phone == phone, _ROLLUP.c.tasks > 0)
        .scalar_subquery()
        .label("stats")
    )


def stats_of(packed: str | None) -> dict[str, Any]:
    """A texter's success rate, average response time and top three categories (most tasks
    first, then by name), from their `stats_column`."""
    if packed is None:  # no task taken on
        return {"success_rate": 0.0, "avg_response_time": None, "favorite_categories": []}
    tasks, successful, time_sum, time_count, categories = packed.split(_BETWEEN, 4)
    return {
        "success_rate": percentage(int(successful), int(tasks)),
        "avg_response_time": ratio(float(time_sum), int(time_count)),
        "favorite_categories": [
            ranked[_RANKED_WIDTH:] for ranked in sorted(categories.split(_NEXT))[:3]
        ],
    }


def user_stats(phones: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The stats of some texters, by number, in one statement; a number nobody has gets a
    texter's stats with no task."""
    phones = list(phones)
    stats = {phone: stats_of(None) for phone in phones}
    if phones:
        read = sa.select(User.phone_number, stats_column(User.phone_number)).where(
            User.phone_number.in_(phones)
        )
        stats.update((phone, stats_of(packed)) for phone, packed in db.session.execute(read))
    return stats
