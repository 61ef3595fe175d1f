"""The data model: texters, their tasks, errors, outbound SMS, spend, staff and API tokens."""

from . import forgetting, row_counts, write_marks  # noqa: F401  (their schema: create_all)
from .answered_once import AnsweredElsewhere
from .choices import (
    CRITICAL_ERROR_TYPES,
    FINAL_DELIVERY_STATUSES,
    Category,
    Channel,
    ConversationState,
    DeliveryStatus,
    ErrorType,
    HandoffSource,
    RefusalReason,
    TaskStatus,
    Tier,
    written_in,
)
from .conversations import Conversation
from .error_logs import ErrorLog
from .handled import HandledMessage
from .inbound_charges import InboundCharge
from .media import TaskMedia
from .messages import OutboundMessage
from .pending import PendingNotice
from .rollups import TaskHourlyCount, TaskRollup, UserTaskRollup
from .spend import ModelCall, SpendDay
from .spend_rollups import SpendDaily, SpendMonthly
from .staff import ApiToken, StaffUser, hash_key
from .submissions import SentSubmission
from .tasks import Task
from .types import first_of_next_month, utcnow
from .users import (
    User,
    lock_texter,
    lock_texters,
    relock_bookkeeping,
    relock_tier,
    reread_opt_out,
    texter_of,
)

__all__ = [
    "AnsweredElsewhere",
    "CRITICAL_ERROR_TYPES",
    "FINAL_DELIVERY_STATUSES",
    "ApiToken",
    "Category",
    "Channel",
    "Conversation",
    "ConversationState",
    "DeliveryStatus",
    "ErrorLog",
    "ErrorType",
    "HandledMessage",
    "InboundCharge",
    "PendingNotice",
    "SentSubmission",
    "HandoffSource",
    "ModelCall",
    "OutboundMessage",
    "RefusalReason",
    "SpendDaily",
    "SpendDay",
    "SpendMonthly",
    "StaffUser",
    "Task",
    "TaskHourlyCount",
    "TaskRollup",
    "TaskMedia",
    "TaskStatus",
    "Tier",
    "User",
    "UserTaskRollup",
    "first_of_next_month",
    "lock_texter",
    "lock_texters",
    "relock_bookkeeping",
    "relock_tier",
    "reread_opt_out",
    "texter_of",
    "hash_key",
    "utcnow",
    "written_in",
]
