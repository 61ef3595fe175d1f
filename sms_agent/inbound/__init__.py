"""A texter's message arrives: Twilio's form is checked, the number normalised, the SMS
deduplicated, keywords routed and the request admitted against the quota."""

from .receive import (
    BadInbound,
    ConcurrentDeliveries,
    Received,
    is_message_sid,
    receive_and_commit,
    receive_sms,
)

__all__ = [
    "BadInbound",
    "ConcurrentDeliveries",
    "Received",
    "is_message_sid",
    "receive_and_commit",
    "receive_sms",
]
