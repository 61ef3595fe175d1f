"""A texter's message arrives: Twilio's form is checked, the number normalised, the SMS
deduplicated, keywords routed and the request admitted against the quota."""

from .receive import BadInbound, Received, is_message_sid, receive_sms

__all__ = ["BadInbound", "Received", "is_message_sid", "receive_sms"]
