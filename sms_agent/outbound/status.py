"""Twilio's delivery reports on what we sent: a status only ever moves forward (whether the
callback or the send that stored the sid writes first), a message that did not arrive is
reported to staff (undelivered.py), and a report of error 21610 (the recipient replied STOP
to the carrier) opts the texter out."""

from __future__ import annotations

import logging
import uuid

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value

from .. import costs
from ..extensions import db
from ..models import (
    FINAL_DELIVERY_STATUSES,
    DeliveryStatus,
    OutboundMessage,
    User,
    utcnow,
    written_in,
)
from ..models.cache_keys import hashed_once
from ..ops import metrics
from ..phones import mask
from ..vendors.twilio import TWILIO_STATUS_MAP, UNSUBSCRIBED_RECIPIENT
from .undelivered import UNDELIVERED_STATUSES, report_undelivered

log = logging.getLogger("sms_agent.outbound")

# How far each status is along the way; a callback may only move a message forward.
_PROGRESS = {"queued": 0, "sent": 1, "delivered": 2, "undelivered": 2, "failed": 2}

#: Twilio's error codes are five-digit numbers today; anything longer is not one of theirs
#: (and would not fit the column).
_MAX_ERROR_CODE = 10**9


def parse_error_code(raw: str | None) -> int | None:
    """Twilio's ErrorCode as a number, or None for anything that is not a plain code
    (empty, "²", a 400-digit string...): such a value is logged and ignored, never stored."""
    value = (raw or "").strip()
    if not value:
        return None
    # Its length first: int() refuses strings of more than 4300 digits with a ValueError.
    too_long = len(value) > len(str(_MAX_ERROR_CODE))
    if not (value.isascii() and value.isdigit()) or too_long or int(value) >= _MAX_ERROR_CODE:
        log.warning("ignored ErrorCode %r in a status callback", value[:40])
        return None
    return int(value)


def record_delivery_status(
    sid: str, twilio_status: str, error_code: str | None = None, reference: str | None = None
) -> bool:
    """Apply a Twilio status callback; False when it is not about a message of ours.

    `reference` is the message's id from our StatusCallback URL (see find_message).
    Callbacks arrive late and out of order, so a status only ever moves forward and a final
    one (delivered, undelivered, failed) is never replaced.
    """
    code = parse_error_code(error_code)
    message = find_message(sid, reference)
    if message is None:
        log.warning("status callback for unknown message %s (%s)", sid, twilio_status)
        return False
    if code == UNSUBSCRIBED_RECIPIENT:
        _obey_carrier_opt_out(message)
    status = TWILIO_STATUS_MAP.get((twilio_status or "").lower())
    if status is None:
        log.info("ignored status %r for %s", twilio_status, sid)
        return True
    if _reported_to_staff(status, code):
        _texter_before_their_sms(message)
    if not _advance(message, status, sid, code):
        log.info("kept %s for %s; late callback said %s", message.status, sid, status)
    return True


def find_message(sid: str, reference: str | None) -> OutboundMessage | None:
    """The message a callback reports on. Twilio may call before our send has stored the
    sid it was given (the callback races Twilio's answer to us), so the message is found by
    the id our StatusCallback URL names; by sid for a callback without one (a message sent
    before the URL named it)."""
    message_id = _uuid(reference)
    if message_id is None:
        return db.session.scalar(sa.select(OutboundMessage).where(OutboundMessage.sid == sid))
    message = db.session.get(OutboundMessage, message_id)
    if message is not None and message.sid not in (None, sid):
        log.warning("callback for %s names message %s, sent as %s", sid, message_id, message.sid)
        return None
    return message


def _reported_to_staff(status: str, code: int | None) -> bool:
    """A message that did not arrive is reported to staff (an error log naming the texter),
    unless the texter opted out at the carrier: that is an opt-out, not a fault."""
    return status in UNDELIVERED_STATUSES and code != UNSUBSCRIBED_RECIPIENT


def _obey_carrier_opt_out(message: OutboundMessage) -> None:
    """Opt the texter out, once for each message reported with 21610: a report's signature
    carries no time, so a captured one posted again (or Twilio's second delivery of it) after
    the texter's START, which lifted the carrier's block, must not opt them out once more.
    The UPDATE that notes the code on the message decides, whatever the message's status
    (a report after its final status is still obeyed, the first time)."""
    _texter_before_their_sms(message)
    if message.to_number is None:  # the texter was deleted
        return
    noted = db.session.execute(
        sa.update(OutboundMessage)
        .where(
            OutboundMessage.id == message.id,
            sa.or_(
                OutboundMessage.error_code.is_(None),
                OutboundMessage.error_code != UNSUBSCRIBED_RECIPIENT,
            ),
        )
        .values(error_code=UNSUBSCRIBED_RECIPIENT)
        .execution_options(synchronize_session=False)
    ).rowcount
    set_committed_value(message, "error_code", UNSUBSCRIBED_RECIPIENT)
    if noted:
        opt_out(message.to_number)


def _texter_before_their_sms(message: OutboundMessage) -> None:
    """Take the texter's row (FOR KEY SHARE, as the error log naming them would) before the
    message's: a deletion of the texter takes their row, then their SMS rows, and a report
    that held the SMS row while its error log waited for the texter's deadlocked with it.
    A texter deleted meanwhile has left the message without a number: it is read again, so
    the error log names nobody."""
    if message.to_number is None:
        return
    texter = db.session.scalar(
        sa.select(User.phone_number)
        .where(User.phone_number == message.to_number)
        .with_for_update(read=True, key_share=True)
    )
    if texter is None:
        db.session.refresh(message)


def _uuid(reference: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(reference) if reference else None
    except ValueError:
        log.warning("ignored message reference %r in a status callback", reference[:40])
        return None


def _behind(status: str) -> list[str]:
    """The statuses a message may move from to `status`: none final, none further along."""
    return [
        earlier
        for earlier, progress in _PROGRESS.items()
        if earlier not in FINAL_DELIVERY_STATUSES and progress <= _PROGRESS[status]
    ]


def _advance(message: OutboundMessage, status: str, sid: str, code: int | None) -> bool:
    """Move `message` to `status` (with the sid, if the send has not stored it yet) unless it
    is final or further along; True when this callback moved it. One conditional UPDATE, so
    of two callbacks racing (or a callback and the send storing its sid) only one moves it,
    and a message that did not arrive is reported to staff (and a failed one's estimated
    price dropped, for good) once."""
    values: dict = {"status": status}
    if code is not None:
        values["error_code"] = code
    if message.sid is None:
        values["sid"] = sid
    if status == DeliveryStatus.FAILED:
        values.update(costs.failed_sms_pricing())
    moved = db.session.execute(
        sa.update(OutboundMessage)
        .where(OutboundMessage.id == message.id, OutboundMessage.status.in_(_behind(status)))
        .values(values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not moved:
        return False
    db.session.expire(message, ["price_usd", "price_estimated", "updated_at"])
    for name in ("status", "error_code", "sid"):
        if name in values:
            set_committed_value(message, name, values[name])
    if _reported_to_staff(status, code):
        report_undelivered(message, status, code)
    return True


def _record_sent(status: str) -> sa.Update:
    """The UPDATE storing a send's sid and `status`, whose CASE keeps a status a callback
    already moved further: built once per status, with bind parameters, so a job keys and
    compiles no statement afresh (see answering/claim.py)."""
    messages = OutboundMessage.__table__
    behind = messages.c.status.in_(written_in(_behind(status)))
    forward = sa.case((behind, status), else_=messages.c.status)
    return (
        sa.update(messages)
        .where(messages.c.id == sa.bindparam("key"))
        .values(sid=sa.bindparam("sid"), status=forward)
        .returning(messages.c.status)
    )


_RECORD_SENT = {status: hashed_once(_record_sent(status)) for status in _PROGRESS}


#: Where a session keeps the sids Twilio gave its sends ({message id: [sid, status]}).
_GIVEN = "sids_given"


def record_sent(message: OutboundMessage, sid: str, status: str) -> None:
    """Store the sid Twilio gave `message` and the status it answered with, unless a status
    callback that came first has moved the message further (or to a final status): the
    UPDATE chooses, against the row as the callback committed it. The sid is also kept in
    the session (see sids_given) until the job ends."""
    db.session.info.setdefault(_GIVEN, {})[str(message.id)] = [sid, status]
    statement = _RECORD_SENT[status]
    stored = db.session.execute(statement, {"key": message.id, "sid": sid}).scalar_one()
    set_committed_value(message, "sid", sid)
    set_committed_value(message, "status", stored)
    metrics.count_sent(db.session, message)


def sids_given() -> dict[str, list[str]]:
    """The sids Twilio gave this session's sends. A job the database failed after Twilio
    took a part (the write of its sid timed out, the connection dropped before the commit)
    hands them to its next run (`keep_given`), which stores them on the parts it finds
    queued without one (`store_given`): without them such a part, never resent (Twilio has
    it), stayed queued, unpriced, until a status callback named its sid, if one came."""
    return dict(db.session.info.get(_GIVEN, {}))


def keep_given(given: dict[str, list[str]] | None) -> None:
    """The sids an earlier run of the job was given and may not have stored."""
    if given:
        db.session.info.setdefault(_GIVEN, {}).update(given)


def store_given(message: OutboundMessage) -> bool:
    """Store on `message`, a part queued without a sid, the sid Twilio gave it in an
    earlier run of the job; False when no run kept one (its outcome is unknown)."""
    given = db.session.info.get(_GIVEN, {}).get(str(message.id))
    if given is None:
        return False
    record_sent(message, *given)
    return True


def opt_out(phone: str) -> None:
    """The texter opted out where we could not see it (at the carrier, or through Twilio's
    own opt-out handling): obey it as a STOP, keeping the time of an earlier one. One
    UPDATE, so it needs no lock against a webhook of the same texter."""
    now = utcnow()
    db.session.execute(
        sa.update(User)
        .where(User.phone_number == phone, User.opted_out_at.is_(None))
        .values(opted_out_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    log.info("%s opted out (error %d in a delivery report)", mask(phone), UNSUBSCRIBED_RECIPIENT)
