"""A text sent again while we are still answering it: a phone that showed "Not delivered"
(or "Failed") under a text that had in fact reached us offers to send it again, and the
texter does. It comes with a MessageSid of its own, so only its words tell it apart from a
new request: the same words, without attachments, as a text of the texter's still queued
or being answered. Once that one's answer (or apology) went out, the same words are a new
request ("Yes" to the model's next question)."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from ..models import Task, TaskStatus, utcnow

#: How long after a text its resend is recognised: a phone says "Not delivered" within a
#: minute or two, and a texter may notice it later; an answer still not made after that
#: long is not one the texter is waiting for at the phone.
RESEND_MINUTES = 15

_tasks = Task.__table__

#: Written into the statement, not bound: a bound list is an "expanding" parameter, which
#: SQLAlchemy renders into the SQL again at every execution, on every webhook.
_STILL_OPEN = [
    sa.literal_column(f"'{status.value}'") for status in (TaskStatus.QUEUED, TaskStatus.PROCESSING)
]


def still_answering_the_same() -> sa.ColumnElement[bool]:
    """SQL: a text of the texter (`user_phone`) with the same words (`sms_content`), sent
    since `resend_since` and still queued or being answered; only when `resend_check` (a
    text without attachments). Part of the task's INSERT (store.py), so the webhook reads
    nothing more for it."""
    return sa.and_(
        sa.bindparam("resend_check", type_=sa.Boolean),
        sa.exists().where(
            _tasks.c.user_phone == sa.bindparam("user_phone"),
            _tasks.c.sms_content == sa.bindparam("sms_content"),
            _tasks.c.status.in_(_STILL_OPEN),
            _tasks.c.created_at >= sa.bindparam("resend_since", type_=_tasks.c.created_at.type),
        ),
    )


def resend_since(now: datetime | None = None) -> datetime:
    return (now or utcnow()) - timedelta(minutes=RESEND_MINUTES)
