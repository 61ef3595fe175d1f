"""What the service sends: shaping text for SMS, sending it, and Twilio's delivery reports.

The public door is `send` (every SMS the service sends goes through it, from the number
the texter wrote to, `OUR_NUMBER` on their task, see sender.py), `book` for the
sending slots of what a job is about to send, `spread` for when bulk notices run, and
`record_delivery_status` for the status callback; shaping is exposed for counting only.
"""

from .channels import channel_of, is_whatsapp, replying_on
from .gsm import encoding_of, segment_count
from .send import (
    OPT_OUT_CONFIRMATION,
    CountryNotAllowed,
    HeldByStaff,
    OptedOut,
    OutsideWindow,
    OwnNumber,
    SendFailed,
    check_destination,
    check_reachable,
    check_window,
    destination_problem,
    is_one_sms,
    may_text,
    plan,
    reply_length,
    reply_too_long,
    segments_for,
    send,
)
from .sender import OUR_NUMBER, thread_number, written_to
from .shape import Shaped
from .slots import SendLater, Slots, book, spread
from .split import MAX_MESSAGE_CHARS
from .status import keep_given, record_delivery_status, sids_given

__all__ = [
    "MAX_MESSAGE_CHARS",
    "OPT_OUT_CONFIRMATION",
    "OUR_NUMBER",
    "CountryNotAllowed",
    "HeldByStaff",
    "OptedOut",
    "OutsideWindow",
    "OwnNumber",
    "SendFailed",
    "SendLater",
    "Shaped",
    "Slots",
    "book",
    "channel_of",
    "check_destination",
    "check_reachable",
    "check_window",
    "destination_problem",
    "encoding_of",
    "is_one_sms",
    "is_whatsapp",
    "keep_given",
    "may_text",
    "plan",
    "reply_length",
    "reply_too_long",
    "segments_for",
    "sids_given",
    "record_delivery_status",
    "replying_on",
    "segment_count",
    "send",
    "spread",
    "thread_number",
    "written_to",
]
