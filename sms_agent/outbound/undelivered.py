"""Telling staff about a message Twilio could not deliver: one ErrorLog for each message a
delivery report moves to undelivered or failed, naming the texter, the task, Twilio's error
code and what it means in plain words."""

from __future__ import annotations

from ..models import Channel, DeliveryStatus, ErrorLog, ErrorType, OutboundMessage
from ..ops.error_log import record_error
from ..phones import mask

#: The statuses of a message that did not reach the phone.
UNDELIVERED_STATUSES = frozenset({DeliveryStatus.UNDELIVERED, DeliveryStatus.FAILED})

#: Twilio's common delivery error codes, as staff need them (see Twilio's error reference,
#: https://www.twilio.com/docs/api/errors). 21610 is no failure to report: it is an opt-out.
MEANINGS = {
    30001: "Twilio's queue for our number overflowed (sending too fast)",
    30002: "our Twilio account is suspended",
    30003: "the phone is unreachable (switched off, out of coverage or out of service)",
    30004: "the recipient or their carrier blocks messages from our number",
    30005: "the number is unknown to its carrier or no longer in service",
    30006: "the number is a landline or its carrier cannot receive SMS",
    30007: "the carrier filtered the message (spam rules or unregistered traffic)",
    30008: "the carrier gave no reason (unknown error)",
    30034: "our US number is not registered for A2P 10DLC, so carriers refuse it",
    63003: "the number is not on WhatsApp, or no longer active there",
    63007: "our WhatsApp sender is not one Twilio knows (TWILIO_WHATSAPP_NUMBER)",
    63014: "the texter blocked our WhatsApp sender",
    63016: "the WhatsApp texter has not written within 24 hours (only templates may go)",
    63018: "WhatsApp's rate limit for our sender was exceeded",
    63024: "the number is not on WhatsApp, or its app cannot receive the message",
}


def meaning_of(code: int | None) -> str:
    if code is None:
        return "Twilio gave no error code"
    return MEANINGS.get(code, "see Twilio's error reference for this code")


def report_undelivered(message: OutboundMessage, status: str, code: int | None) -> ErrorLog:
    """Record for staff that `message` did not arrive. Called only by the callback that moved
    the message to `status` (status.py), so a repeated report adds no second row. The task
    keeps its status: its answer was made and handed to Twilio, and this row is how staff
    learn that it never reached the phone."""
    meaning = meaning_of(code)
    where = f"part {message.part}/{message.parts} of " if message.parts > 1 else ""
    what = "WhatsApp message" if message.channel == Channel.WHATSAPP else "SMS"
    text = (
        f"{where}{message.kind} {what} to {mask(message.to_number)} {status}: "
        f"error {code if code is not None else 'none'}, {meaning}"
    )
    return record_error(
        ErrorType.TWILIO_ERROR,
        text,
        phone=message.to_number,
        task=message.task,
        twilio_code=code,
        meaning=meaning,
        delivery_status=status,
        sid=message.sid,
        message_id=str(message.id),
        kind=message.kind,
    )
