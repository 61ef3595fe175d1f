"""What Twilio's webhook says about attachments and the channel: NumMedia, MediaUrl{N} and
MediaContentType{N}, and the "whatsapp:" prefix on From. Nothing is fetched here: the webhook
only records what came, and the worker reads it (sms_agent/media/read.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..media.kinds import IMAGE, OTHER, base_type, kind_of
from ..models import Channel

#: Twilio sends at most 10 media items with one message.
MAX_MEDIA = 10
WHATSAPP_PREFIX = "whatsapp:"


@dataclass(frozen=True)
class Attachment:
    position: int
    url: str
    content_type: str
    kind: str

    def as_json(self) -> dict:
        """Kept on the task for the worker; a refused kind keeps no URL (nothing fetches it)."""
        kept = {"position": self.position, "content_type": self.content_type, "kind": self.kind}
        return kept if self.kind == OTHER else {**kept, "url": self.url}


def split_channel(sender: str) -> tuple[str, str]:
    """("+15551230000", "whatsapp") for "whatsapp:+15551230000"; SMS numbers have no prefix."""
    value = (sender or "").strip()
    if value.lower().startswith(WHATSAPP_PREFIX):
        return value[len(WHATSAPP_PREFIX) :].strip(), Channel.WHATSAPP.value
    return value, Channel.SMS.value


def attachments(form: Mapping[str, str]) -> list[Attachment]:
    """The media items of an inbound message, in Twilio's order; a garbage NumMedia counts
    as none, and an item without a known type as one we cannot read."""
    try:
        count = min(max(int(form.get("NumMedia") or 0), 0), MAX_MEDIA)
    except ValueError:
        count = 0
    found = []
    for n in range(count):
        content_type = base_type(form.get(f"MediaContentType{n}"))[:100]
        url = (form.get(f"MediaUrl{n}") or "").strip()
        found.append(Attachment(n, url, content_type, kind_of(content_type)))
    return found


def readable(items: list[Attachment]) -> list[Attachment]:
    return [item for item in items if item.kind != OTHER]


def has_image(items: list[Attachment]) -> bool:
    return any(item.kind == IMAGE for item in items)
