"""The export rule: which rows a texter's conversation is made of, in what order, and what
they add up to.

A conversation is every text the texter sent (refused ones too, with the reason), every SMS
or WhatsApp message we sent them, and every model call made for them, oldest first (and
what receiving a text deleted since cost). One UNION ALL over the four tables, read `BATCH`
rows at a time (yield_per: a server-side cursor on PostgreSQL), so an export of any size
holds one batch in memory, never the table.
The totals are summed from the same rows as they pass, so they always agree with them; and
since the rows carry the ledgers' amounts (OutboundMessage.price_usd, ModelCall.cost_usd,
and a text's Task.inbound_price_usd, which its InboundCharge copies), they agree with
costs.report's per-texter spend too.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from ..extensions import db
from ..media.kinds import AUDIO, IMAGE, TEXT
from ..models import (
    InboundCharge,
    ModelCall,
    OutboundMessage,
    StaffUser,
    Task,
    TaskMedia,
    TaskStatus,
)
from ..models.types import Money, UTCDateTime
from ..threads import author_for

#: Rows fetched per round trip; the most an export holds in memory at once.
BATCH = 500

#: The columns of an entry, in the CSV's order, with their SQL types (for typed NULLs).
COLUMNS: dict[str, Any] = {
    "phone_number": sa.String(),
    "created_at": UTCDateTime(),
    "direction": sa.String(),  # in (their text), out (our message), model (a model call)
    "id": sa.Uuid(),
    "kind": sa.String(),  # why we sent it: reply, help, quota, staff, api...
    "author": sa.String(),  # texter, ai, system or the staff member's username (or "staff")
    "channel": sa.String(),
    "body": sa.Text(),
    "status": sa.String(),  # the task's status in, the delivery status out
    "refusal_reason": sa.String(),
    "error": sa.Text(),
    "task_id": sa.Uuid(),
    "sid": sa.String(),
    "segments": sa.Integer(),
    "model": sa.String(),
    "prompt_tokens": sa.Integer(),
    "cached_tokens": sa.Integer(),  # model: of the prompt tokens, read from the prompt cache
    "completion_tokens": sa.Integer(),
    "price_usd": Money(),  # out: the SMS's price; in: what Twilio billed to receive it
    "price_estimated": sa.Boolean(),  # out: our estimate, Twilio's price not in yet
    "model_cost_usd": Money(),  # model: the call's price
    "task_cost_usd": Money(),  # in: the task's cost (its model calls and its SMS)
    "cost_usd": Money(),  # what this row itself cost: out and in its price, model its cost
    "media": sa.Text(),  # in: the pictures and voice notes sent with it, a voice note's words
}
#: The columns worked out as the rows are read rather than selected.
_COMPUTED = ("cost_usd", "media")
#: What the query reads that is not a column of the entry.
_EXTRA = {"staff_username": sa.String()}


def _select(direction: str, phone, created, scope, **columns) -> sa.Select:
    """One part of the union: every column, those this table lacks as typed NULLs (the
    first part's types are the union's, and PostgreSQL wants them to agree), limited to
    the texters and days asked for."""
    columns.update(
        direction=sa.literal(direction, sa.String()), phone_number=phone, created_at=created
    )
    wanted = {**COLUMNS, **_EXTRA}
    parts = {name: sa.cast(sa.null(), kind) for name, kind in wanted.items()} | columns
    chosen = [parts[name].label(name) for name in wanted if name not in _COMPUTED]
    return sa.select(*chosen).where(*scope(phone, created))


def statement(phones: Iterable[str] | None = None, since: datetime | None = None) -> sa.Select:
    """The entries of these texters (or all) since `since` (or ever), by texter, then oldest
    first; a text before its model call before its reply when they share a timestamp."""
    chosen = sorted(set(phones)) if phones is not None else None

    def scope(phone, created) -> list:
        conditions = [] if chosen is None else [phone.in_(chosen)]
        return conditions + ([] if since is None else [created >= since])

    texts = _select(
        "in",
        Task.user_phone,
        Task.created_at,
        scope,
        id=Task.id,
        author=sa.literal("texter", sa.String()),
        body=Task.sms_content,
        status=Task.status,
        refusal_reason=Task.refusal_reason,
        error=Task.error_message,
        task_id=Task.id,
        sid=Task.message_sid,
        price_usd=Task.inbound_price_usd,
        task_cost_usd=Task.cost_usd,
    )
    sent = _select(
        "out",
        OutboundMessage.to_number,
        OutboundMessage.created_at,
        scope,
        id=OutboundMessage.id,
        kind=OutboundMessage.kind,
        staff_username=StaffUser.username,
        channel=OutboundMessage.channel,
        body=OutboundMessage.body,
        status=OutboundMessage.status,
        error=OutboundMessage.error_message,
        task_id=OutboundMessage.task_id,
        sid=OutboundMessage.sid,
        segments=OutboundMessage.segments,
        price_usd=OutboundMessage.price_usd,
        price_estimated=OutboundMessage.price_estimated,
    ).outerjoin(StaffUser, StaffUser.id == OutboundMessage.staff_user_id)
    calls = _select(
        "model",
        ModelCall.user_phone,
        ModelCall.created_at,
        scope,
        id=ModelCall.id,
        task_id=ModelCall.task_id,
        model=ModelCall.model,
        prompt_tokens=ModelCall.prompt_tokens,
        cached_tokens=ModelCall.cached_tokens,
        completion_tokens=ModelCall.completion_tokens,
        model_cost_usd=ModelCall.cost_usd,
    )
    # A text deleted since (by staff, or by the API), or acted on without a task (a keyword,
    # a command), was received all the same: what that cost stays, as an entry with no
    # words, so the totals stay the texter's spend.
    deleted_texts = _select(
        "in",
        InboundCharge.user_phone,
        InboundCharge.created_at,
        scope,
        id=InboundCharge.id,
        price_usd=InboundCharge.price_usd,
    ).where(InboundCharge.task_id.is_(None))
    union = sa.union_all(texts, sent, calls, deleted_texts).subquery("entries")
    c = union.c
    return sa.select(union).order_by(c.phone_number, c.created_at, c.direction, c.id)


def entries(
    phones: Iterable[str] | None = None,
    since: datetime | None = None,
    batch: int | None = None,
    *,
    for_staff: bool = True,
) -> Iterator[dict[str, Any]]:
    """Every entry, streamed: `batch` rows (default BATCH) per fetch from one cursor, which
    is closed however the reading ends (a download cut short, an error). Not `for_staff`
    (a texter's own export, api.auth.sees_staff_details), staff messages are by "staff"
    (threads.STAFF) and no entry has an `error`, nor says why an attachment was not read:
    that is the service's diagnosis, for staff."""
    query = statement(phones, since).execution_options(yield_per=batch or BATCH)
    result = db.session.execute(query)
    try:
        for rows in result.partitions():
            texts = [row.task_id for row in rows if row.direction == "in" and row.task_id]
            media = _media_of(texts, for_staff)
            for row in rows:
                yield _entry(row._mapping, for_staff, media)
    finally:
        result.close()


def _media_of(task_ids: list, for_staff: bool) -> dict[Any, str]:
    """What each of these texts came with, one line an attachment, as staff's conversation
    page tells it: a voice note's transcript is what the texter said (the text's body is
    empty then), a picture its type, a file why it was not read. One query a batch."""
    if not task_ids:
        return {}
    found = db.session.scalars(
        sa.select(TaskMedia)
        .where(TaskMedia.task_id.in_(task_ids))
        .order_by(TaskMedia.task_id, TaskMedia.position)
    )
    described: dict[Any, list[str]] = {}
    for media in found:
        described.setdefault(media.task_id, []).append(_described(media, for_staff))
    return {task_id: "\n".join(lines) for task_id, lines in described.items()}


def _described(media: TaskMedia, for_staff: bool) -> str:
    noun = {IMAGE: "picture", AUDIO: "voice note", TEXT: "text part"}.get(media.kind, "file")
    about = f"{noun} ({media.content_type})"
    if media.status == "read":
        return f"{about}: {media.transcript}" if media.kind in (AUDIO, TEXT) else about
    if media.status == "expired":
        return f"{about}, no longer kept"
    if media.status == "refused":
        return f"{about}, not read: a kind of file we do not read"
    if media.status == "reading":
        return f"{about}, being read"
    if not for_staff:  # a fetch's or a transcription server's error: staff's to read
        return f"{about}, not read"
    return f"{about}, not read: {media.error_message or 'unknown reason'}"


def _entry(row, for_staff: bool, media: dict[Any, str]) -> dict[str, Any]:
    entry = {name: row[name] for name in COLUMNS if name not in _COMPUTED}
    entry["media"] = media.get(entry["task_id"]) if entry["direction"] == "in" else None
    if not for_staff:
        entry["error"] = None
    if entry["direction"] == "out":
        entry["author"] = author_for(entry["kind"], row["staff_username"], for_staff)[0]
        entry["cost_usd"] = entry["price_usd"] or Decimal(0)
    elif entry["direction"] == "model":
        entry["cost_usd"] = entry["model_cost_usd"]
    else:
        entry["cost_usd"] = entry["price_usd"] or Decimal(0)
    return entry


@dataclass
class Totals:
    """What one texter's entries add up to."""

    texts: int = 0
    refused: int = 0
    sent: int = 0
    model_calls: int = 0
    sms_usd: Decimal = Decimal(0)
    sms_estimated_usd: Decimal = Decimal(0)
    model_usd: Decimal = Decimal(0)

    @property
    def total_usd(self) -> Decimal:
        return self.sms_usd + self.model_usd

    def add(self, entry: dict[str, Any]) -> None:
        direction = entry["direction"]
        if direction == "in":
            self.texts += 1
            self.refused += entry["status"] == TaskStatus.REFUSED
            self.sms_usd += entry["cost_usd"]
        elif direction == "out":
            self.sent += 1
            self.sms_usd += entry["cost_usd"]
            if entry["price_estimated"]:
                self.sms_estimated_usd += entry["cost_usd"]
        else:
            self.model_calls += 1
            self.model_usd += entry["cost_usd"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "texts": self.texts,
            "refused": self.refused,
            "sent": self.sent,
            "model_calls": self.model_calls,
            "sms_usd": self.sms_usd,
            "sms_estimated_usd": self.sms_estimated_usd,
            "model_usd": self.model_usd,
            "total_usd": self.total_usd,
        }


@dataclass
class Conversation:
    """One texter's entries, to be read once, in order; `totals` is complete when they are."""

    phone_number: str
    rows: Iterator[dict[str, Any]]
    totals: Totals = field(default_factory=Totals)
    read: bool = False

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for entry in self.rows:
            self.totals.add(entry)
            yield entry
        self.read = True


def conversations(
    phones: Iterable[str] | None = None,
    since: datetime | None = None,
    batch: int | None = None,
    *,
    for_staff: bool = True,
) -> Iterator[Conversation]:
    """The entries grouped by texter, in the database's phone order. Texters asked for by
    number who have no entry come out last, empty, with zero totals.

    One cursor feeds them all, so each conversation must be read before the next is asked
    for; asking earlier raises rather than hand out a conversation silently cut short."""
    missing = set(phones) if phones is not None else set()
    rows = entries(phones, since, batch, for_staff=for_staff)
    grouped = itertools.groupby(rows, key=lambda e: e["phone_number"])
    for phone, rows in grouped:
        missing.discard(phone)
        conversation = Conversation(phone, rows)
        yield conversation
        if not conversation.read:
            raise RuntimeError(f"the conversation of {phone} was not read before the next")
    for phone in sorted(missing):
        yield Conversation(phone, iter(()))
