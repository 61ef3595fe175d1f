"""Twilio's inbound webhook form: what every SMS webhook carries, checked before anything
is stored."""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..clean_text import is_blank, storable
from ..current import app_config
from ..models import Channel
from ..outbound.channels import address
from ..outbound.sender import is_our_number
from ..phones import InvalidPhoneNumber, to_e164
from .location import location_text
from .media import UnservedChannel, media_count, split_channel
from .message_types import tapped_words

#: Twilio's own limit on one (concatenated) SMS body.
MAX_BODY_CHARS = 1600
#: WhatsApp's limit on one text message, which Twilio passes on whole.
MAX_WHATSAPP_BODY_CHARS = 4096


def longest_body(channel: str) -> int:
    """The most characters one text may hold on `channel`: WhatsApp's, or one SMS's."""
    return MAX_WHATSAPP_BODY_CHARS if channel == Channel.WHATSAPP else MAX_BODY_CHARS


_SID = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}")


def is_message_sid(value: str) -> bool:
    """Twilio's sids are two letters and 32 hex digits (SM..., MM...), and nothing else is.

    Exactly that, because Twilio signs a webhook's parameters run together with nothing
    between them: a looser sid let a captured webhook be posted again with the start of the
    next parameter moved into its MessageSid ("SM…NumMedia0", or "SM…N" and a parameter
    "umMedia"), under the same signature and a MessageSid never seen, so taken anew."""
    return _SID.fullmatch(value) is not None


class BadInbound(ValueError):
    """The webhook form lacks what every Twilio SMS webhook carries."""


def parse_form(form: Mapping[str, str]) -> tuple[str, str, str, int]:
    sid = (form.get("MessageSid") or form.get("SmsMessageSid") or "").strip()
    if not is_message_sid(sid):
        raise BadInbound("MessageSid is missing or malformed")
    try:
        # WhatsApp's "whatsapp:+1..." is the same texter as the SMS number +1...
        sender, channel = split_channel(form.get("From") or "")
        phone = to_e164(sender, app_config()["DEFAULT_PHONE_REGION"])
    except (InvalidPhoneNumber, UnservedChannel) as exc:
        raise BadInbound(f"From: {exc}") from exc
    body = storable(form.get("Body") or "")
    longest = longest_body(channel)
    if len(body) > longest:
        raise BadInbound(f"Body is longer than {longest} characters")
    # A WhatsApp location comes without a Body: its place, as words, is what the texter said
    # (for the model and for staff), not an empty text.
    location = location_text(form)
    if location:
        body = f"{body}\n{location}" if not is_blank(body) else location
    if is_blank(body):
        # A quick-reply button or a list's item tapped on WhatsApp: its words are the text.
        body = tapped_words(form) or body
    return sid, phone, body, media_count(form)


def written_to(form: Mapping[str, str]) -> str | None:
    """The number of ours the texter wrote to (Twilio's To), as Twilio's From takes it back
    ("whatsapp:+1..." on WhatsApp): answers go out from it, so they land in the thread the
    texter wrote in, and on the channel they wrote on (From's, which a To written without
    its "whatsapp:" does not change). None when To is missing or no phone number (a short
    code, say): the reply then comes from TWILIO_PHONE_NUMBER, as it always did."""
    try:
        number = split_channel(form.get("To") or "")[0]
        channel = split_channel(form.get("From") or "")[1]
        return address(to_e164(number, app_config()["DEFAULT_PHONE_REGION"]), channel)
    except (InvalidPhoneNumber, UnservedChannel):
        return None


def from_us(phone: str, our_number: str | None) -> bool:
    """Whether the sender is a number of ours: TWILIO_PHONE_NUMBER, our WhatsApp sender, or
    the number the text was written to (a number writing to itself). Answered, its reply
    would go to us and could come back as a text to answer, without end."""
    written_to_itself = our_number is not None and phone == split_channel(our_number)[0]
    return is_our_number(phone) or written_to_itself
