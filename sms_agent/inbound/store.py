"""Storing an SMS as a task, unless its MessageSid is stored already: queued when it was
admitted, refused (with the reason) when it was not; and the MessageSid of one acted on
without a task (a keyword, a command). Between them, every SMS ever received is known by
its MessageSid, so neither Twilio's retry nor a replay of a captured, signed webhook (its
signature carries no time) is acted on twice."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

import sqlalchemy as sa
from flask import current_app

from ..costs.prices import inbound_price
from ..extensions import db
from ..models import Channel, HandledMessage, RefusalReason, Task, TaskStatus, User, utcnow
from ..models.cache_keys import hashed_once
from ..outbound.gsm import segment_count
from .resent import resend_since, still_answering_the_same

_tasks = Task.__table__
_handled = HandledMessage.__table__


def _received(sid: sa.BindParameter) -> sa.ColumnElement[bool]:
    """A task or a handled text has this MessageSid: the one test of "seen before"."""
    return sa.or_(
        sa.exists().where(_tasks.c.message_sid == sid),
        sa.exists().where(_handled.c.message_sid == sid),
    )


_ALREADY_RECEIVED = hashed_once(sa.select(_received(sa.bindparam("message_sid"))))


def already_received(sid: str) -> bool:
    return bool(db.session.scalar(_ALREADY_RECEIVED, {"message_sid": sid}))


def _remember_unless_received() -> sa.Insert:
    """INSERT INTO handled_messages ... SELECT ... WHERE NOT (received) RETURNING the sid,
    as `_insert_unless_stored` stores a task."""
    columns = ["message_sid", "created_at", "user_phone", "inbound_price_usd"]
    row = sa.select(*(sa.bindparam(name, type_=_handled.c[name].type) for name in columns))
    unseen = ~_received(sa.bindparam("message_sid"))
    return (
        sa.insert(_handled)
        .from_select(columns, row.where(unseen))
        .returning(_handled.c.message_sid)
    )


_REMEMBER_UNLESS_RECEIVED = hashed_once(_remember_unless_received())


def remember_handled(sid: str, phone: str, price: Decimal | None) -> bool:
    """Record the MessageSid of a text acted on without a task, and what receiving it cost
    (`price`, received_price: the charge of the number it came from, `phone`, a texter's or
    one of ours, made in the same INSERT by the database, models/inbound_charges.py); False
    when it was received before (as a task or as a handled text), and then nothing may
    change."""
    stored = db.session.scalar(
        _REMEMBER_UNLESS_RECEIVED,
        {
            "message_sid": sid,
            "created_at": utcnow(),
            "user_phone": phone if price is not None else None,
            "inbound_price_usd": price,
        },
    )
    return stored is not None


def forget_old_handled(now: datetime | None = None) -> int:
    """Drop the handled MessageSids older than HANDLED_MESSAGES_RETENTION_DAYS (none when it
    is 0, the default), in one statement; how many. Twilio's own retries of a webhook come
    within minutes, but a captured webhook replayed past the retention is taken as new: its
    signature carries no date. Tasks keep their own MessageSids. The caller commits."""
    days = current_app.config["HANDLED_MESSAGES_RETENTION_DAYS"]
    if not days:
        return 0
    cutoff = (now or utcnow()) - timedelta(days=days)
    result = db.session.execute(sa.delete(_handled).where(_handled.c.created_at < cutoff))
    return result.rowcount


def _insert_unless_stored() -> sa.Insert:
    """INSERT INTO tasks ... SELECT ... WHERE NOT (a task or a handled text has this
    MessageSid) RETURNING id: the dedupe and the insert in one statement, in SQL both
    databases speak. A text sent again while the first is still being answered
    (resent.py) is stored refused `resent` by the same statement, which returns its reason.
    (The dialects' ON CONFLICT constructs opt out of SQLAlchemy's statement cache and cost a
    fresh compile, about 2 ms, per webhook.) Two deliveries of one SMS that race past the
    NOT EXISTS meet the unique index instead, and the webhook's second pass sees the winner."""
    tasks = _tasks
    columns = [
        "user_phone",
        "sms_content",
        "message_sid",
        "status",
        "metadata",
        "quota_window",
        "refusal_reason",
        "inbound_price_usd",
    ]
    values = {name: sa.bindparam(name, type_=tasks.c[name].type) for name in columns}
    # The check is made once, in a one-row subquery the three CASEs read: written in each,
    # it was sent three times, with its parameters.
    check = sa.select(still_answering_the_same().label("resent")).subquery("resend")
    resent = check.c.resent
    values["status"] = sa.case((resent, TaskStatus.REFUSED.value), else_=values["status"])
    values["quota_window"] = sa.case((resent, sa.null()), else_=values["quota_window"])
    values["refusal_reason"] = sa.case(
        (resent, RefusalReason.RESENT.value), else_=values["refusal_reason"]
    )
    row = sa.select(*(values[name] for name in columns)).select_from(check)
    unseen = ~_received(sa.bindparam("message_sid"))
    return (
        sa.insert(tasks)
        .from_select(columns, row.where(unseen))
        .returning(tasks.c.id, tasks.c.refusal_reason)
    )


_INSERT_UNLESS_STORED = hashed_once(_insert_unless_stored())


def received_price(channel: Channel, body: str, media: dict) -> Decimal | None:
    """What Twilio billed for receiving this text, on the channel it came by (the texter's,
    receive._note_channel); None when it is free, so no charge of 0 is kept."""
    whatsapp = channel == Channel.WHATSAPP
    price = inbound_price(whatsapp, media.get("num_media") or 0, segment_count(body))
    return price or None


class Stored(NamedTuple):
    id: str
    #: Stored refused `resent`: the texter's same words are still being answered.
    resent: bool


def store_task(
    user: User,
    sid: str,
    body: str,
    media: dict,
    window: datetime | None,
    refusal: RefusalReason | None = None,
    *,
    price: Decimal | None,
) -> Stored | None:
    """Store the task, or nothing when its MessageSid is stored already. A refused one is
    stored for staff to see, with no quota window: it was never counted; so is an admitted
    one that repeats a text still being answered (`resent`: the caller gives its request
    back). `media` is the attachments' record (num_media and each item's type and URL) for
    the metadata. Refused or not, Twilio billed for receiving it: its `price`
    (received_price) is stored with it, in the same INSERT (models/inbound_charges.py)."""
    row = db.session.execute(
        _INSERT_UNLESS_STORED,
        {
            "user_phone": user.phone_number,
            "sms_content": body,
            "message_sid": sid,
            "status": (TaskStatus.REFUSED if refusal else TaskStatus.QUEUED).value,
            "metadata": media,
            "quota_window": None if refusal else window,
            "refusal_reason": refusal.value if refusal else None,
            "inbound_price_usd": price,
            "resend_check": refusal is None and not media.get("num_media"),
            "resend_since": resend_since(),
        },
    ).one_or_none()
    if row is None:
        return None
    task_id, refused = row  # unpacked: a Row's attributes cost a raised AttributeError each
    return Stored(str(task_id), refusal is None and refused is not None)
