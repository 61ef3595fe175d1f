"""The data model: texters, their tasks, errors, outbound SMS, spend, staff and API tokens."""

from .choices import (
    CRITICAL_ERROR_TYPES,
    FINAL_DELIVERY_STATUSES,
    Category,
    DeliveryStatus,
    ErrorType,
    RefusalReason,
    TaskStatus,
    Tier,
)
from .error_logs import ErrorLog
from .messages import OutboundMessage
from .spend import ModelCall, SpendDay
from .staff import ApiToken, StaffUser, hash_key
from .tasks import Task
from .types import first_of_next_month, utcnow
from .users import User, lock_texter, relock_bookkeeping

__all__ = [
    "CRITICAL_ERROR_TYPES",
    "FINAL_DELIVERY_STATUSES",
    "ApiToken",
    "Category",
    "DeliveryStatus",
    "ErrorLog",
    "ErrorType",
    "ModelCall",
    "OutboundMessage",
    "RefusalReason",
    "SpendDay",
    "StaffUser",
    "Task",
    "TaskStatus",
    "Tier",
    "User",
    "first_of_next_month",
    "lock_texter",
    "relock_bookkeeping",
    "hash_key",
    "utcnow",
]
