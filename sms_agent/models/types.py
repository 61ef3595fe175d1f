"""Column types and the product's choice lists, shared by every model."""

from __future__ import annotations

import enum
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


class Choice(enum.StrEnum):
    """A str-enum whose members compare equal to their stored string value."""

    @classmethod
    def values(cls) -> list[str]:
        return [member.value for member in cls]

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        return [(member.value, member.value.replace("_", " ").capitalize()) for member in cls]


class Tier(Choice):
    FREE = "free"
    PREMIUM = "premium"
    ENTERPRISE = "enterprise"


class Category(Choice):
    GENERAL = "general"
    CODING = "coding"
    DEBUG = "debug"
    DESIGN = "design"
    DOCUMENTATION = "documentation"
    ANALYSIS = "analysis"


class TaskStatus(Choice):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class ErrorType(Choice):
    OPENAI_TIMEOUT = "openai_timeout"
    OPENAI_ERROR = "openai_error"
    TWILIO_ERROR = "twilio_error"
    DATABASE_ERROR = "database_error"
    VALIDATION_ERROR = "validation_error"
    SYSTEM_ERROR = "system_error"


#: Error types that page a human (the design document's critical errors).
CRITICAL_ERROR_TYPES = frozenset({ErrorType.DATABASE_ERROR, ErrorType.SYSTEM_ERROR})


class DeliveryStatus(Choice):
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"


#: Statuses a Twilio status callback can never move a message out of.
FINAL_DELIVERY_STATUSES = frozenset(
    {DeliveryStatus.DELIVERED, DeliveryStatus.UNDELIVERED, DeliveryStatus.FAILED}
)


def check_choice(choice: type[Choice], field: str, value: str) -> str:
    """Reject a value outside a choice list before it reaches the database."""
    if value not in choice.values():
        raise ValueError(f"{field} must be one of {', '.join(choice.values())}; got {value!r}")
    return str(value)
