"""The Try-it page's thread as the texter's phone shows it: what they sent and what we sent
back, oldest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from ...extensions import db
from ...models import Channel, OutboundMessage, Task, TaskMedia
from ...plural import counted


@dataclass(frozen=True)
class Attached:
    """A picture or voice note the texter sent: a thumbnail or the transcript for staff."""

    id: str
    kind: str
    content_type: str
    size: int | None
    status: str
    transcript: str | None
    error_message: str | None

    @classmethod
    def of(cls, media: TaskMedia) -> Attached:
        return cls(
            str(media.id),
            media.kind,
            media.content_type,
            media.size,
            media.status,
            media.transcript,
            media.error_message,
        )


@dataclass(frozen=True)
class Bubble:
    """One message in the thread; `inbound` is from the texter, otherwise from us."""

    inbound: bool
    body: str
    at: datetime
    status: str
    detail: str = ""
    #: What staff read for the status, when it says more than `status` ("refused: over quota").
    label: str = ""
    media: tuple[Attached, ...] = ()
    channel: str = Channel.SMS.value
    #: When the texter's text was answered or failed (Task.completed_at).
    finished_at: datetime | None = None


def _inbound(task: Task) -> Bubble:
    detail = task.category if task.status == "completed" else (task.error_message or "")
    return Bubble(
        True,
        task.sms_content,
        task.created_at,
        task.status,
        detail,
        label=task.status_label,
        media=tuple(Attached.of(media) for media in task.media),
        finished_at=task.completed_at,
    )


def _outbound(message: OutboundMessage) -> Bubble:
    if message.channel == Channel.WHATSAPP:
        detail = "WhatsApp"
    else:
        detail = f"{counted(message.segments, 'segment')}, {message.encoding}"
    if message.error_code:
        detail += f", error {message.error_code}"
    return Bubble(
        False, message.body, message.created_at, message.status, detail, channel=message.channel
    )


def thread_for(phone: str, limit: int = 50) -> list[Bubble]:
    """The last `limit` messages both ways, oldest first so the newest sits at the bottom.

    Replies are read from the outbox rather than Task.ai_response: the outbox holds what
    was actually sent (split, trimmed, or an apology), including texts with no task.
    """
    tasks = db.session.scalars(
        sa.select(Task)
        .options(selectinload(Task.media))  # one query for every task's media, no bytes
        .where(Task.user_phone == phone)
        .order_by(Task.created_at.desc())
        .limit(limit)
    )
    messages = db.session.scalars(
        sa.select(OutboundMessage)
        .where(OutboundMessage.to_number == phone)
        .order_by(OutboundMessage.created_at.desc())
        .limit(limit)
    )
    bubbles = [_inbound(task) for task in tasks] + [_outbound(m) for m in messages]
    # An inbound text and its reply can share a timestamp; the question goes first.
    bubbles.sort(key=lambda bubble: (bubble.at, not bubble.inbound))
    return bubbles[-limit:]
