"""The MessageSid of every text we acted on without storing a task (a keyword, a command,
a text from an opted-out texter...): with tasks.message_sid, the record of every SMS
received, so a Twilio retry or a replay of a signed webhook is known whenever it comes."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, utcnow


class HandledMessage(db.Model):
    """Only the sid and when: no number and no words, so nothing here is about a texter
    (deleting one leaves their sids, and a replay of their START opts in nobody)."""

    __tablename__ = "handled_messages"

    message_sid: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
