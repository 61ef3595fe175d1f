"""The conversation page's poll: the thread and who holds it as JSON, its texts as the page
shows them, and what the page says above Send when a text would be refused."""

from __future__ import annotations

from flask import url_for

from ... import handoff, inbox, threads
from ...media.kinds import IMAGE
from ...models import HandoffSource, TaskMedia, User
from ..base import format_datetime, shown
from .phone_thread import Attached

#: The messages the page shows, the newest; it says where older ones are.
SHOWN_MESSAGES = 100


def media_json(media: TaskMedia) -> dict:
    """A picture or voice note as the poll serves it: what _media.html shows, and the URL of
    a picture staff may see."""
    attached = Attached.of(media)
    picture = attached.kind == IMAGE and attached.status == "read"
    return {
        **vars(attached),
        "transcript": attached.transcript and shown(attached.transcript),
        "url": url_for("media.show", media_id=attached.id) if picture else None,
    }


def message_json(message: threads.Message) -> dict:
    """A message of the thread as the page's poll serves it (conversation.js draws it), its
    texts as the page shows them (admin.base.shown): a direction override seen, not obeyed."""
    fields = vars(message)
    return {
        **{key: fields[key] for key in fields.keys() - {"created_at", "media"}},
        "body": shown(message.body),
        "replying_to": message.replying_to and shown(message.replying_to),
        "created_at": message.created_at.isoformat(),
        "media": [media_json(media) for media in message.media],
    }


def refusal(user: User) -> str | None:
    """What the page says above Send when a text to `user` would be refused (None: none
    would be), as drawn and as its poll updates it: a STOP may come while staff type."""
    why = handoff.why_staff_cannot_text(user)
    return f"Texts to them are refused: {why}." if why else None


def why(user: User) -> list[str]:
    """Why the conversation waits for staff and why nothing may be sent, with the time of
    each: the texter's AGENT and STOP are no texts of the thread (their words are not
    stored), so "waiting" and "opted out" said nothing of who asked or when."""
    said = []
    conversation = handoff.find(user.phone_number)  # read already by inbox.entry_for
    if user.conversation_state == handoff.WAITING and conversation and conversation.requested_at:
        at = format_datetime(conversation.requested_at, seconds=True)
        if conversation.handoff_source == HandoffSource.MODEL:
            said.append(f"The AI asked for a person for them at {at}.")
        else:
            said.append(f"They asked for a person by text at {at}.")
    if user.opted_out_at is not None:
        at = format_datetime(user.opted_out_at, seconds=True)
        said.append(f"They opted out (texted STOP) at {at}.")
    return said


def state_json(user: User) -> dict:
    """The thread and its state, as the page's poll reads them."""
    entry = inbox.entry_for(user)
    return {
        "state": entry.state,
        "held_by": entry.held_by,
        "unread": entry.unread,
        "opted_out": entry.opted_out,
        "cannot_text": refusal(user),
        "why": why(user),
        "messages": [message_json(m) for m in threads.recent(user.phone_number, SHOWN_MESSAGES)],
    }
