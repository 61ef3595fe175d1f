"""An SMS we sent (or tried to send), and what Twilio later said about its delivery."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from ..extensions import db
from .choices import DeliveryStatus, check_choice
from .types import Money, UTCDateTime, utcnow

if TYPE_CHECKING:
    from .staff import StaffUser
    from .tasks import Task


class OutboundMessage(db.Model):
    __tablename__ = "outbound_messages"
    __table_args__ = (
        sa.Index("ix_outbound_messages_to_created", "to_number", "created_at"),
        sa.Index("ix_outbound_messages_created_at", "created_at"),
    )
    # Every column with a server default also has a Python one, so an insert never needs
    # RETURNING to learn them; with it, SQLAlchemy built (and keyed) a new INSERT statement
    # for every message it flushed.
    __mapper_args__ = {"eager_defaults": False}

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    task_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("tasks.id", ondelete="SET NULL"), index=True
    )
    #: None once the texter was deleted; the body is then emptied too (models/forgetting.py).
    to_number: Mapped[str | None] = mapped_column(sa.String(20))
    body: Mapped[str] = mapped_column(sa.Text)
    #: Why it was sent: reply, help, usage, quota, apology, opt_in, api, staff...
    kind: Mapped[str] = mapped_column(sa.String(20), default="reply")
    #: The staff member who wrote it (kind staff or api); None for the AI and the service.
    staff_user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    #: 1-based position when a long reply is split into several messages.
    part: Mapped[int] = mapped_column(default=1)
    parts: Mapped[int] = mapped_column(default=1)
    sid: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    #: sms or whatsapp: the channel it went out on (a resumed part goes on the same one).
    channel: Mapped[str] = mapped_column(sa.String(10), default="sms", server_default="sms")
    encoding: Mapped[str] = mapped_column(sa.String(10), default="GSM-7")
    segments: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(sa.String(20), default=DeliveryStatus.QUEUED.value)
    error_code: Mapped[int | None]
    error_message: Mapped[str | None] = mapped_column(sa.Text)
    #: What it cost in USD: our estimate (segments x the destination's price) until Twilio
    #: reports its price once the message is final; then price_estimated turns False.
    price_usd: Mapped[Decimal | None] = mapped_column(Money)
    price_estimated: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    #: Twilio's price_unit as reported (USD for prices we adopt).
    price_unit: Mapped[str | None] = mapped_column(sa.String(3))
    #: How often Twilio was asked for the price, and when last (costs.fetch_prices).
    price_checks: Mapped[int] = mapped_column(default=0, server_default="0")
    price_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    task: Mapped[Task | None] = relationship(back_populates="outbound_messages")
    staff_user: Mapped[StaffUser | None] = relationship()

    def __repr__(self) -> str:
        return f"<OutboundMessage {self.sid} to {self.to_number} {self.status}>"

    @validates("status")
    def _validate_status(self, _key: str, value: str) -> str:
        return check_choice(DeliveryStatus, "status", value)
