"""Outgoing SMS: shape a text into parts, send them in order, record each as an OutboundMessage,
and record Twilio's later delivery reports.

This is the single place that sends, so the opt-out rule is enforced here for every caller.
"""

from __future__ import annotations

import logging
import traceback

import sqlalchemy as sa

from . import quota, replies
from .extensions import db
from .models import (
    FINAL_DELIVERY_STATUSES,
    DeliveryStatus,
    ErrorLog,
    ErrorType,
    OutboundMessage,
    Task,
    User,
    utcnow,
)
from .phones import mask
from .sms import TWILIO_STATUS_MAP, SmsError, get_sms_backend

log = logging.getLogger("sms_agent.delivery")

# How far each status is along the way; a callback may only move a message forward.
_PROGRESS = {"queued": 0, "sent": 1, "delivered": 2, "undelivered": 2, "failed": 2}


class OptedOut(Exception):
    """The texter has opted out (STOP, or Twilio said 21610): nothing may be sent to them."""


class SendFailed(Exception):
    """Twilio refused or could not be reached; `error.retryable` says whether to try again."""

    def __init__(self, error: SmsError):
        super().__init__(str(error))
        self.error = error
        self.retryable = error.retryable


def record_error(
    error_type: str,
    message: str,
    *,
    user: User | None = None,
    task: Task | None = None,
    exc: BaseException | None = None,
    **details,
) -> ErrorLog:
    """An ErrorLog for staff, with the stack trace of `exc` when there is one."""
    trace = "".join(traceback.format_exception(exc)) if exc is not None else ""
    error = ErrorLog(
        error_type=error_type,
        error_message=message,
        stack_trace=trace,
        user_phone=user.phone_number if user else None,
        task_id=task.id if task else None,
        metadata_=details,
    )
    db.session.add(error)
    return error


def plan(user: User, body: str) -> list[str]:
    """The texts `body` becomes for this user's tier: clean, capped, split and numbered."""
    return replies.shape_reply(body, quota.segment_budget(user.tier))


def new_message(
    user: User, text: str, *, kind: str, part: int, parts: int, task: Task | None = None
) -> OutboundMessage:
    return OutboundMessage(
        task=task,
        to_number=user.phone_number,
        body=text,
        kind=kind,
        part=part,
        parts=parts,
        encoding=replies.encoding_of(text),
        segments=replies.segment_count(text),
        status=DeliveryStatus.QUEUED.value,
    )


def compose(user: User, body: str, *, kind: str, task: Task | None = None) -> list[OutboundMessage]:
    """The parts of `body` as unsent OutboundMessages (added to the session through `task`)."""
    texts = plan(user, body)
    return [
        new_message(user, text, kind=kind, part=number, parts=len(texts), task=task)
        for number, text in enumerate(texts, start=1)
    ]


def transmit(message: OutboundMessage, user: User, backend) -> None:
    """Send one stored part; on failure record why on the row and in the error log."""
    if user.is_opted_out:
        raise OptedOut(f"{mask(user.phone_number)} has opted out")
    try:
        result = backend.send(message.to_number, message.body)
    except SmsError as exc:
        # A send whose outcome is unknown stays queued without a sid: the pipeline then
        # treats it like one interrupted by a crash and does not send it again.
        if not exc.ambiguous:
            message.status = DeliveryStatus.FAILED.value
        message.error_code = exc.code
        message.error_message = str(exc)[:500]
        record_error(
            ErrorType.TWILIO_ERROR,
            str(exc),
            user=user,
            task=message.task,
            exc=exc,
            twilio_code=exc.code,
            http_status=exc.status,
            kind=message.kind,
        )
        if exc.unsubscribed:
            user.opted_out_at = user.opted_out_at or utcnow()
            raise OptedOut(str(exc)) from exc
        raise SendFailed(exc) from exc
    message.sid = result.sid
    message.status = result.status


def send_text(
    user: User, body: str, *, kind: str, task: Task | None = None
) -> list[OutboundMessage]:
    """Shape `body` and send it to `user` now, part after part; the caller commits.

    Raises OptedOut for an opted-out texter (nothing is stored) and SendFailed when Twilio
    refuses a part (that part is stored as failed, later parts are not sent).
    """
    if user.is_opted_out:
        raise OptedOut(f"{mask(user.phone_number)} has opted out")
    backend = get_sms_backend()
    messages = compose(user, body, kind=kind, task=task)
    db.session.add_all(messages)
    db.session.flush()
    for message in messages:
        transmit(message, user, backend)
    return messages


def record_delivery_status(sid: str, twilio_status: str, error_code: str | None = None) -> bool:
    """Apply a Twilio status callback; False when the sid is not one of ours.

    Callbacks arrive late and out of order, so a status only ever moves forward and a final
    one (delivered, undelivered, failed) is never replaced.
    """
    message = db.session.scalar(sa.select(OutboundMessage).where(OutboundMessage.sid == sid))
    if message is None:
        log.warning("status callback for unknown message %s (%s)", sid, twilio_status)
        return False
    status = TWILIO_STATUS_MAP.get((twilio_status or "").lower())
    if status is None:
        log.info("ignored status %r for %s", twilio_status, sid)
        return True
    if message.status in FINAL_DELIVERY_STATUSES or _PROGRESS[status] < _PROGRESS[message.status]:
        log.info("kept %s for %s; late callback said %s", message.status, sid, status)
        return True
    message.status = status
    if error_code and error_code.strip().isdigit():
        message.error_code = int(error_code)
    return True
