"""Column types and time helpers shared by every model."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

#: JSONB on PostgreSQL (indexable, compact), plain JSON on SQLite.
JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator):
    """Timestamps are always timezone-aware UTC in Python.

    SQLite drops the offset on the way in, so values read back from it would be naive and
    could not be compared with aware ones; this type puts UTC back on.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def first_of_next_month(now: datetime, timezone_name: str = "UTC") -> datetime:
    """Midnight on the first of the next month in the user's timezone, returned in UTC."""
    from zoneinfo import ZoneInfo

    local = now.astimezone(ZoneInfo(timezone_name))
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    reset_local = local.replace(
        year=year, month=month, day=1, hour=0, minute=0, second=0, microsecond=0
    )
    return reset_local.astimezone(now.tzinfo)
