"""A reply to one message of the thread, as WhatsApp lets a texter make it (a swipe, or
Reply): Twilio names that message in OriginalRepliedMessageSid. What it said is kept on the
task, so that the model reads "what does this mean?" as about it, not about the latest
answer. Only the texter's own thread is looked in: the sid is theirs to write."""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa

from ..answering.history import ANSWERED, QUOTED, quote_of
from ..clean_text import is_blank
from ..extensions import db
from ..media.kinds import IMAGE
from ..media.read import DEFAULT_IMAGE_QUESTION
from ..models import OutboundMessage, Task
from .form import is_message_sid

#: As much of the quoted message as the model is shown: one WhatsApp message of ours.
MAX_QUOTE_CHARS = 1600


def quoted_metadata(form: Mapping[str, str], phone: str) -> dict:
    """{QUOTED: {"text": ..., "ours": ...}} for a reply to a message of this texter's
    thread, ours or theirs; {} for any other text (one query only for a reply)."""
    sid = (form.get("OriginalRepliedMessageSid") or "").strip()
    if not is_message_sid(sid):
        return {}
    ours = db.session.scalar(
        sa.select(OutboundMessage.body).where(
            OutboundMessage.sid == sid, OutboundMessage.to_number == phone
        )
    )
    if ours is not None:
        return {QUOTED: {"text": ours[:MAX_QUOTE_CHARS], "ours": True}}
    theirs = db.session.execute(
        sa.select(Task.sms_content, Task.metadata_, Task.ai_response).where(
            Task.message_sid == sid, Task.user_phone == phone
        )
    ).first()
    if not theirs:
        return {}
    body, metadata, answer = theirs
    said = _said(body, metadata)
    if not _has_picture(metadata):
        return {QUOTED: {"text": said[:MAX_QUOTE_CHARS], "ours": False}} if said else {}
    # The model no longer sees the picture: what we answered about it says what it showed.
    text = f"{PICTURE} {said}".strip()[:MAX_QUOTE_CHARS]
    answered = (metadata or {}).get("sent") or answer or ""
    return {QUOTED: {"text": text, "ours": False, **_answered(answered)}}


#: How a picture of the texter's stands in a quote of their message.
PICTURE = "[picture]"


def _has_picture(metadata: dict | None) -> bool:
    return any(item.get("kind") == IMAGE for item in (metadata or {}).get("media") or [])


def _answered(answer: str) -> dict:
    return {ANSWERED: answer[:MAX_QUOTE_CHARS]} if not is_blank(answer) else {}


def _said(body: str, metadata: dict | None) -> str:
    """What the texter's message said: its words, or for one of none (a voice note) what
    the model was asked of it, its transcript; never the question we ask of a picture sent
    alone, which the texter never said."""
    if not is_blank(body):
        return body
    meta = metadata or {}
    asked = (meta.get("question") or "").removeprefix(quote_of(meta))
    return "" if asked == DEFAULT_IMAGE_QUESTION else asked
