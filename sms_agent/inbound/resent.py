"""A text sent again while we are still answering it: a phone that showed "Not delivered"
(or "Failed") under a text that had in fact reached us offers to send it again, and the
texter does. It comes with a MessageSid of its own, so only its words tell it apart from a
new request."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from ..extensions import db
from ..models import Task, TaskStatus, User, utcnow

#: How long after a text its resend is recognised: a phone says "Not delivered" within a
#: minute or two, and a texter may notice it later; an answer still not made after that
#: long is not one the texter is waiting for at the phone.
RESEND_MINUTES = 15

_PENDING = sa.select(Task.metadata_).where(
    Task.user_phone == sa.bindparam("phone"),
    Task.sms_content == sa.bindparam("body"),
    Task.status.in_([TaskStatus.QUEUED.value, TaskStatus.PROCESSING.value]),
    Task.created_at >= sa.bindparam("since", type_=Task.created_at.type),
)


def is_resent(user: User, body: str, media: dict) -> bool:
    """Whether this text repeats, word for word and without attachments, one of the
    texter's that is still being answered: answering both answered one question twice and
    counted it twice. Once that answer (or its apology) went out, the same words are a new
    request ("Yes" to the model's next question). Read only when the texter's last admitted
    request (User.last_active) is that recent, so most texts cost no query."""
    since = utcnow() - timedelta(minutes=RESEND_MINUTES)
    if media.get("num_media") or user.last_active < since:
        return False
    asked = {"phone": user.phone_number, "body": body, "since": since}
    earlier = db.session.scalars(_PENDING, asked)
    return any(not (meta or {}).get("num_media") for meta in earlier)
