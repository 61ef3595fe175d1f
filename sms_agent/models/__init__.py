"""The data model: texters, their tasks, errors, outbound SMS, staff and API tokens."""

from . import events  # noqa: F401  (registers the model rules on the session)
from .errors import ErrorLog
from .messages import OutboundMessage
from .staff import ApiToken, StaffUser, hash_key
from .tasks import Task
from .types import (
    CRITICAL_ERROR_TYPES,
    FINAL_DELIVERY_STATUSES,
    Category,
    DeliveryStatus,
    ErrorType,
    TaskStatus,
    Tier,
    utcnow,
)
from .users import BOOKKEEPING_LOCK, User, first_of_next_month

__all__ = [
    "BOOKKEEPING_LOCK",
    "CRITICAL_ERROR_TYPES",
    "FINAL_DELIVERY_STATUSES",
    "ApiToken",
    "Category",
    "DeliveryStatus",
    "ErrorLog",
    "ErrorType",
    "OutboundMessage",
    "StaffUser",
    "Task",
    "TaskStatus",
    "Tier",
    "User",
    "first_of_next_month",
    "hash_key",
    "utcnow",
]
