"""A texter's thread as staff read it: every text they sent and every SMS we sent back, in
one order, each with its author (texter, ai, system or a staff member), delivery status,
segments and encoding. The admin's conversation page and the API's messages list read it
here."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from .answering.history import QUOTED, STAFF_KINDS
from .extensions import db
from .models import Channel, OutboundMessage, Task, write_marks
from .outbound import channels, encoding_of, segment_count
from .outbound.sender import written_to

#: Where a message sorts in its thread: (created_at, direction, id).
Key = tuple[datetime, str, uuid.UUID]
#: The model's answer to a question: its reply, or its refusal (`declined`, in its own words
#: or, when its provider's filter stopped it, the notice sent in its place).
AI_KINDS = frozenset({"reply", "declined"})
#: Who wrote a staff message, as a texter reads it: staff usernames are staff logins, so
#: callers pass `staff_names=False` for a texter's eyes and get this instead.
STAFF = "staff"


@dataclass(frozen=True)
class Message:
    id: str
    direction: str  # "in" (from the texter) or "out" (to them)
    author: str  # texter, ai, system, or the staff member's username (or "staff")
    author_kind: str  # texter, ai, system or staff
    body: str
    created_at: datetime
    status: str
    status_label: str
    segments: int
    encoding: str
    error_code: int | None = None
    channel: str = "sms"
    #: The texter's pictures and voice notes (TaskMedia rows; their bytes stay unloaded).
    media: tuple = ()
    #: What the message of the thread a texter's WhatsApp reply answers says (QUOTED).
    replying_to: str | None = None


def index(
    phone: str,
    after: datetime | None = None,
    oldest_first: bool = False,
    *,
    written: tuple[write_marks.Mark, write_marks.Mark] | None = None,
    past: Key | None = None,
    with_body: bool = False,
) -> sa.Select:
    """(direction, id, created_at) of the thread's messages, newest first (or oldest first):
    one query over both tables, so it pages and counts like any list. `written` keeps the
    messages committed between two marks (see models/write_marks.py), `past` those that sort
    after a message's key; `with_body` adds each message's words as `body`."""
    texts = sa.select(
        sa.literal("in").label("direction"), Task.id.label("id"), Task.created_at.label("at")
    ).where(Task.user_phone == phone)
    sent = sa.select(
        sa.literal("out").label("direction"),
        OutboundMessage.id.label("id"),
        OutboundMessage.created_at.label("at"),
    ).where(OutboundMessage.to_number == phone)
    if with_body:
        texts = texts.add_columns(Task.sms_content.label("body"))
        sent = sent.add_columns(OutboundMessage.body.label("body"))
    if after is not None:
        texts = texts.where(Task.created_at > after)
        sent = sent.where(OutboundMessage.created_at > after)
    if written is not None:
        texts = texts.where(write_marks.written_between("tasks", *written))
        sent = sent.where(write_marks.written_between("outbound_messages", *written))
    both = sa.union_all(texts, sent).subquery()
    # A text and its reply can share a timestamp: the reply is the newer.
    order = [both.c.at, both.c.direction, both.c.id]
    statement = sa.select(both.c.direction, both.c.id, both.c.at)
    if with_body:
        statement = statement.add_columns(both.c.body)
    if past is not None:
        bound = [sa.literal(value, column.type) for value, column in zip(past, order, strict=True)]
        statement = statement.where(sa.tuple_(*order) > sa.tuple_(*bound))
    if not oldest_first:
        order = [column.desc() for column in order]
    return statement.order_by(*order)


def key_of(row: sa.Row) -> Key:
    """Where a message of `index` sorts: (created_at, direction, id)."""
    return (row.at, row.direction, _uuid(row.id))


@dataclass(frozen=True)
class Position:
    """Where a poller of a thread stands: it has every message committed by the mark
    `since`, and, while it reads a window a page at a time, those of the window up to
    `until` that sort up to `past`."""

    since: write_marks.Mark
    until: write_marks.Mark | None = None
    past: Key | None = None


def start() -> Position:
    """A poller's position once it has read the thread as it is now."""
    return Position(write_marks.current())


def read_since(phone: str, position: Position, limit: int) -> tuple[list[sa.Row], int, Position]:
    """The next `limit` messages committed after `position`, oldest first, how many the window
    holds from there, and the position after them. The window ends at the mark taken when
    it was opened, so it neither grows nor shrinks while a poller pages through it."""
    until = write_marks.current() if position.until is None else position.until
    statement = index(phone, oldest_first=True, written=(position.since, until), past=position.past)
    count = db.session.scalar(
        sa.select(sa.func.count()).select_from(statement.order_by(None).subquery())
    )
    rows = db.session.execute(statement.limit(limit)).all()
    if count > len(rows):
        return rows, count, Position(position.since, until, key_of(rows[-1]))
    return rows, count, Position(until)


def load(rows: Sequence[sa.Row], *, staff_names: bool = True) -> list[Message]:
    """The messages `index` rows name, oldest first: two queries however many rows. Without
    `staff_names`, staff messages are by "staff" (see STAFF)."""
    ids = {"in": [], "out": []}
    for row in rows:
        ids[row.direction].append(_uuid(row.id))
    texts = (
        db.session.scalars(
            sa.select(Task).options(selectinload(Task.media)).where(Task.id.in_(ids["in"]))
        )
        if ids["in"]
        else []
    )
    sent = (
        db.session.scalars(
            sa.select(OutboundMessage)
            .options(selectinload(OutboundMessage.staff_user))
            .where(OutboundMessage.id.in_(ids["out"]))
        )
        if ids["out"]
        else []
    )
    messages = [_from_text(task) for task in texts]
    messages += [_from_sent(m, staff_names) for m in sent]
    messages.sort(key=lambda m: (m.created_at, m.direction == "out", m.id))
    return messages


def recent(phone: str, limit: int = 100, after: datetime | None = None) -> list[Message]:
    """The last `limit` messages, oldest first."""
    return load(db.session.execute(index(phone, after).limit(limit)).all())


def recent_bodies(phone: str, limit: int) -> list[str]:
    """The words of the last `limit` messages, newest first: one query reading no more
    than that (a tapback's check needs only them)."""
    rows = db.session.execute(index(phone, with_body=True).limit(limit)).all()
    return [row.body for row in rows]


def _uuid(value) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _from_text(task: Task) -> Message:
    """A text of the texter's, on the channel it came on (the WhatsApp number of ours it
    was written to says so): a WhatsApp one has no segments and is UTF-8."""
    whatsapp = (written_to(task) or "").startswith(channels.PREFIX)
    body = task.sms_content or ""
    return Message(
        id=str(task.id),
        direction="in",
        author="texter",
        author_kind="texter",
        body=task.sms_content,
        created_at=task.created_at,
        status=task.status,
        status_label=task.status_label,
        segments=1 if whatsapp else segment_count(body) if body else 0,
        encoding=channels.WHATSAPP_ENCODING if whatsapp else encoding_of(body),
        channel=Channel.WHATSAPP.value if whatsapp else Channel.SMS.value,
        media=tuple(task.media),
        replying_to=((task.metadata_ or {}).get(QUOTED) or {}).get("text"),
    )


def author_of(message: OutboundMessage, staff_names: bool = True) -> tuple[str, str]:
    """(author, author_kind) of an SMS we sent."""
    staff = message.staff_user if message.kind in STAFF_KINDS else None
    return author_for(message.kind, staff.username if staff else None, staff_names)


def author_for(kind: str, staff_username: str | None, staff_names: bool = True) -> tuple[str, str]:
    """(author, author_kind) of an SMS of this kind, written by this staff member (if any);
    without `staff_names` a staff member is only STAFF."""
    if kind in AI_KINDS:
        return "ai", "ai"
    if kind in STAFF_KINDS:
        return (staff_username if staff_names else None) or STAFF, STAFF
    return "system", "system"


def holder_name(username: str | None, staff_names: bool = True) -> str | None:
    """Who holds a conversation, by the same rule as a staff message's author."""
    if username is None:
        return None
    return username if staff_names else STAFF


def _from_sent(message: OutboundMessage, staff_names: bool = True) -> Message:
    author, kind = author_of(message, staff_names)
    return Message(
        id=str(message.id),
        direction="out",
        author=author,
        author_kind=kind,
        body=message.body,
        created_at=message.created_at,
        status=message.status,
        status_label=message.status,
        segments=message.segments,
        encoding=message.encoding,
        error_code=message.error_code,
        channel=message.channel or "sms",
    )
