"""Notices a webhook could not queue (the broker was down): kept until the sweeper queues
them, as it does stranded tasks. Without them a STOP's confirmation, a HELP reply or a
quota notice owed during a broker outage was never sent, though the text was handled."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, utcnow


class PendingNotice(db.Model):
    """send_notice's arguments, as the webhook would have queued them."""

    __tablename__ = "pending_notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(sa.String(32))
    kind: Mapped[str] = mapped_column(sa.String(32))
    reply_to: Mapped[str | None] = mapped_column(sa.String(64))
    sender: Mapped[str | None] = mapped_column(sa.String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
