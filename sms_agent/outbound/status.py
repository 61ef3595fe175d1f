"""Twilio's delivery reports on what we sent: a status only ever moves forward, and a
report of error 21610 (the recipient replied STOP to the carrier) opts the texter out."""

from __future__ import annotations

import logging

import sqlalchemy as sa

from ..extensions import db
from ..models import FINAL_DELIVERY_STATUSES, OutboundMessage, User, utcnow
from ..phones import mask
from ..vendors.twilio import TWILIO_STATUS_MAP, UNSUBSCRIBED_RECIPIENT

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
    if not (value.isascii() and value.isdigit()) or int(value) >= _MAX_ERROR_CODE:
        log.warning("ignored ErrorCode %r in a status callback", value[:40])
        return None
    return int(value)


def record_delivery_status(sid: str, twilio_status: str, error_code: str | None = None) -> bool:
    """Apply a Twilio status callback; False when the sid is not one of ours.

    Callbacks arrive late and out of order, so a status only ever moves forward and a final
    one (delivered, undelivered, failed) is never replaced.
    """
    code = parse_error_code(error_code)
    message = db.session.scalar(sa.select(OutboundMessage).where(OutboundMessage.sid == sid))
    if message is None:
        log.warning("status callback for unknown message %s (%s)", sid, twilio_status)
        return False
    if code == UNSUBSCRIBED_RECIPIENT and message.to_number:  # None: the texter was deleted
        opt_out(message.to_number)
    status = TWILIO_STATUS_MAP.get((twilio_status or "").lower())
    if status is None:
        log.info("ignored status %r for %s", twilio_status, sid)
        return True
    if message.status in FINAL_DELIVERY_STATUSES or _PROGRESS[status] < _PROGRESS[message.status]:
        log.info("kept %s for %s; late callback said %s", message.status, sid, status)
        return True
    message.status = status
    if code is not None:
        message.error_code = code
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
