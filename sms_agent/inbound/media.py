"""What Twilio's webhook says about attachments and the channel: NumMedia, MediaUrl{N} and
MediaContentType{N}, and the "whatsapp:" prefix on From. Nothing is fetched here: the webhook
only records what came, and the worker reads it (sms_agent/media/read.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..clean_text import storable
from ..media.kinds import IMAGE, OTHER, TEXT, base_type, charset_of, is_layout, kind_of
from ..models import Channel
from ..numbers import read_integer
from ..outbound.channels import phone_of
from ..phones import normalise_phone

#: Twilio sends at most 10 media items with one message.
MAX_MEDIA = 10
WHATSAPP_PREFIX = "whatsapp:"
#: Twilio writes a channel's addresses as "channel:address" (whatsapp:+1..., messenger:...).
_CHANNEL_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9_-]*:")


@dataclass(frozen=True)
class Attachment:
    position: int
    url: str
    content_type: str
    kind: str
    #: The charset a text part's MediaContentType names ("" for none): the file Twilio
    #: serves may name none, and its words are then read in this one.
    charset: str = ""

    def as_json(self) -> dict:
        """Kept on the task for the worker; a refused kind keeps no URL (nothing fetches it)."""
        kept = {"position": self.position, "content_type": self.content_type, "kind": self.kind}
        if self.charset:
            kept["charset"] = self.charset
        return kept if self.kind == OTHER else {**kept, "url": self.url}


class UnservedChannel(ValueError):
    """From names a Twilio channel other than SMS and WhatsApp (messenger:, rcs:, ...)."""


def split_channel(sender: str) -> tuple[str, str]:
    """("+15551230000", "whatsapp") for "whatsapp:+15551230000"; SMS numbers have no prefix.
    A WhatsApp number is the phone number it names (channels.phone_of: Mexico's).

    Any other "channel:" prefix raises UnservedChannel: the address after it is no phone
    number of ours to answer by SMS, even when its digits would parse as one."""
    value = (sender or "").strip()
    prefix = _CHANNEL_PREFIX.match(value)
    if prefix is None:
        return value, Channel.SMS.value
    if prefix.group(0).lower() == WHATSAPP_PREFIX:
        return phone_of(value[prefix.end() :].strip()), Channel.WHATSAPP.value
    raise UnservedChannel(f"{prefix.group(0)!r} is not a channel we serve (SMS and WhatsApp)")


def texter_phone(typed: str) -> str:
    """The texter's number in E.164 that staff, an operator or an API client wrote: a
    number in any notation, one copied from a link (tel:+1..., RFC 3966; sms:+1..., RFC
    5724), or a WhatsApp sender pasted from Twilio ("whatsapp:+5215512345678" is the
    texter +525512345678), read as the webhook reads a sender. Raises InvalidPhoneNumber,
    or UnservedChannel for another channel's address (messenger:...)."""
    value = (typed or "").strip()
    if link := _NUMBER_LINK.match(value):
        value = value[link.end() :]
    number, _channel = split_channel(value)
    return normalise_phone(number)


#: The schemes of a link to a phone number, which a number copied from a page or a CRM
#: starts with: no channel, the number itself.
_NUMBER_LINK = re.compile(r"(?:tel|sms):", re.IGNORECASE)


def media_count(form: Mapping[str, str]) -> int:
    """NumMedia as we keep it: 0 to MAX_MEDIA, and a garbage value counts as none, one in
    other digits than 0-9 too (int() reads "١" and "1_0"; Twilio writes none such)."""
    try:
        return min(max(read_integer(form.get("NumMedia") or "0"), 0), MAX_MEDIA)
    except ValueError:
        return 0


def attachments(form: Mapping[str, str]) -> list[Attachment]:
    """The media items of an inbound message, in Twilio's order; an item without a known
    type is one we cannot read, and a position NumMedia counts without a MediaUrl is none,
    nor is an MMS's layout part (is_layout: the phone's, not the texter's content). A
    NUL is kept as U+FFFD, as in a body: the task's metadata must be storable, and such a URL
    or type is then simply not one we fetch or read."""
    found = []
    for n in range(media_count(form)):
        named = storable(form.get(f"MediaContentType{n}") or "")
        content_type = base_type(named)[:100]
        url = storable(form.get(f"MediaUrl{n}") or "").strip()
        if not url or is_layout(content_type):
            continue
        kind = kind_of(content_type)
        charset = charset_of(named) if kind == TEXT else ""
        found.append(Attachment(n, url, content_type, kind, charset))
    return found


def readable(items: list[Attachment]) -> list[Attachment]:
    return [item for item in items if item.kind != OTHER]


def has_image(items: list[Attachment]) -> bool:
    return any(item.kind == IMAGE for item in items)
