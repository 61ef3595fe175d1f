"""A texter's conversation as staff handle it: who holds it, when a person was asked for,
when staff last replied, and what staff have not read yet.

Who answers (ai, waiting, staff) is `User.conversation_state`, on the row the webhook loads
and locks anyway, so routing a text costs no extra query. The rest lives here, in a row made
the first time a person is asked for or staff step in."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from ..extensions import db
from .choices import HandoffSource, check_choice
from .types import UTCDateTime, utcnow

if TYPE_CHECKING:
    from .staff import StaffUser


class Conversation(db.Model):
    __tablename__ = "conversations"
    __table_args__ = (sa.Index("ix_conversations_last_message_at", "last_message_at"),)

    user_phone: Mapped[str] = mapped_column(
        sa.ForeignKey("users.phone_number", ondelete="CASCADE"), primary_key=True
    )
    held_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    #: What asked for a person last: keyword or model.
    handoff_source: Mapped[str | None] = mapped_column(sa.String(10))
    #: When a person was last asked for (the start of "time to first staff reply").
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When the idle clock last started: the request, a takeover or a staff reply. After
    #: HANDOFF_IDLE_MINUTES past it, the conversation goes back to the AI.
    staff_clock_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_staff_reply_at: Mapped[datetime | None] = mapped_column(UTCDateTime, active_history=True)
    last_texter_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_message_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Texts held for staff that no staff member has opened yet.
    unread: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    held_by: Mapped[StaffUser | None] = relationship()

    def __repr__(self) -> str:
        return f"<Conversation {self.user_phone}>"

    @validates("handoff_source")
    def _validate_source(self, _key: str, value: str | None) -> str | None:
        return None if value is None else check_choice(HandoffSource, "handoff_source", value)
