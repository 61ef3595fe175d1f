"""The product's choice lists, stored as plain strings: tiers, categories, statuses."""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable

import sqlalchemy as sa


class Choice(enum.StrEnum):
    """A str-enum whose members compare equal to their stored string value."""

    @classmethod
    def values(cls) -> list[str]:
        return [member.value for member in cls]

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        return [(member.value, member.value.replace("_", " ").capitalize()) for member in cls]


def written_in(values: Iterable[str]) -> list[sa.ColumnElement]:
    """Fixed choices for an IN of a statement built once, written into its SQL: a list of
    plain values is an expanding parameter, which SQLAlchemy renders into the statement's
    SQL again at every execution."""
    written = []
    for value in values:
        if "'" in value:
            raise ValueError(f"not a choice to write into SQL: {value!r}")
        written.append(sa.literal_column(f"'{value}'"))
    return written


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
    #: Stored so staff see it, never answered nor counted: see Task.refusal_reason.
    REFUSED = "refused"


class RefusalReason(Choice):
    """Why a texted request was stored without being answered (limits.py decides)."""

    OVER_QUOTA = "over_quota"
    OVER_SPEND = "over_spend"
    RATE_LIMITED = "rate_limited"
    #: A text that came while the conversation was waiting for or with staff: kept for
    #: staff to read, not refused as such, but likewise never answered by the model nor counted.
    HELD_FOR_STAFF = "held_for_staff"
    #: The service's daily spend cap is reached: only keywords are answered until tomorrow.
    DAILY_CAP = "daily_cap"
    #: A tapback sent as a text ("Liked “What is 2+2?”"): kept as the texter sent it, but it
    #: asks nothing, so it is neither answered nor counted (inbound/reactions.py).
    REACTION = "reaction"
    #: The same words again while the first sending was still being answered, as a phone
    #: that said "Not delivered" sends them (inbound/resent.py): that one answer is its answer.
    RESENT = "resent"
    #: A text whose sender is a number of ours (inbound/form.py, from_us), as stored
    #: before such texts stopped making a texter's row or a task: rows of old still say it.
    OWN_NUMBER = "own_number"
    #: A WhatsApp message of a kind we cannot read (a poll, an edit, contacts: its
    #: MessageType kept on the task): kept for staff, the texter told so, nothing asked.
    UNSUPPORTED = "unsupported"

    @property
    def label(self) -> str:
        """How staff and the simulator read it: "refused: over quota"."""
        if self is RefusalReason.HELD_FOR_STAFF:
            return "held for staff"
        if self is RefusalReason.REACTION:
            return "reaction (not answered)"
        if self is RefusalReason.RESENT:
            return "sent again (answered once)"
        if self is RefusalReason.OWN_NUMBER:
            return "from our own number (not answered)"
        if self is RefusalReason.UNSUPPORTED:
            return "a kind of message we cannot read (not answered)"
        return f"refused: {self.value.replace('_', ' ')}"


class ConversationState(Choice):
    """Who answers a texter: the model, nobody yet (a person was asked for), or staff."""

    AI = "ai"
    WAITING = "waiting"
    STAFF = "staff"


class HandoffSource(Choice):
    """What asked for a person: the texter's keyword, or the model's request_human tool."""

    KEYWORD = "keyword"
    MODEL = "model"


class Channel(Choice):
    """Where a texter writes from and is answered on: SMS (and MMS) or WhatsApp."""

    SMS = "sms"
    WHATSAPP = "whatsapp"


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
    try:
        known = value in _values_of(choice)
    except TypeError:  # unhashable: no choice is
        known = False
    if not known:
        raise ValueError(f"{field} must be one of {', '.join(choice.values())}; got {value!r}")
    return str(value)


@functools.cache
def _values_of(choice: type[Choice]) -> frozenset[str]:
    """A choice list's values, gathered once: every row a job writes checks two or three
    (its statuses), and walking the enum's members each time cost about 0.3% of a job."""
    return frozenset(choice.values())
