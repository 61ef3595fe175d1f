"""The one-time keys of the staff forms and API requests that texted a texter (the admin's
composer, the API's Idempotency-Key on send_message/ and tasks/), so a repeat of one never
texts twice, however many other messages were sent since (handoff.claim). A key stays as
long as its texter, like the message it sent: one row per keyed send or task."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, utcnow


class SentSubmission(db.Model):
    """A key and what its request was answered (filled once the message went, so a repeat
    can be told: None while the first request is still sending, or if it died mid-way)."""

    __tablename__ = "sent_submissions"

    user_phone: Mapped[str] = mapped_column(
        sa.ForeignKey("users.phone_number", ondelete="CASCADE"), primary_key=True
    )
    #: The admin form's key, or "api:<staff id>:<Idempotency-Key>": each caller's own.
    key: Mapped[str] = mapped_column(sa.String(300), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    message_sid: Mapped[str | None] = mapped_column(sa.String(64))
    messages: Mapped[int | None] = mapped_column(sa.Integer)
    shortened: Mapped[bool | None] = mapped_column(sa.Boolean)
    #: What the request asked for, hashed (handoff.fingerprint), so the key reused for
    #: another request is told apart from a retry; None for the admin's forms and old keys.
    fingerprint: Mapped[str | None] = mapped_column(sa.String(64))
    #: The task a keyed POST /api/tasks/ created (its answer), None for a message's key.
    task_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
