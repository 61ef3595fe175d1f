"""What the service spends besides SMS: each model call and its price, and the service's
spending day (its cap raised by staff, the alerts sent)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .types import Money, UTCDateTime, utcnow

if TYPE_CHECKING:
    from .tasks import Task


class ModelCall(db.Model):
    """One answered call to a language model, priced from the usage it reported."""

    __tablename__ = "model_calls"
    __table_args__ = (
        sa.Index("ix_model_calls_user_created", "user_phone", "created_at"),
        sa.Index("ix_model_calls_created_at", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    task_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("tasks.id", ondelete="SET NULL"), index=True
    )
    #: None once the texter was deleted: the call was paid for, so it stays in the spend
    #: (models/forgetting.py).
    user_phone: Mapped[str | None] = mapped_column(
        sa.ForeignKey("users.phone_number", ondelete="SET NULL")
    )
    model: Mapped[str] = mapped_column(sa.String(100))
    prompt_tokens: Mapped[int] = mapped_column(default=0)
    #: Of the prompt tokens, those read from the server's prompt cache (OpenAI's
    #: usage.prompt_tokens_details.cached_tokens), priced at MODEL_PRICES' cached_input.
    cached_tokens: Mapped[int] = mapped_column(default=0, server_default="0")
    completion_tokens: Mapped[int] = mapped_column(default=0)
    cost_usd: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    #: False when the model was in no price table (cost_usd is then 0, and logged).
    priced: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    #: Not for reading: it makes a flush write the task before its model calls, as it writes
    #: a task before its messages (Task.outbound_messages). On PostgreSQL the rollup triggers
    #: run at commit in the order of the writes (models/at_commit.py), so a task's move
    #: between buckets comes before what its ledger rows add: every transaction then takes
    #: the task's buckets, in key order, before the spend rows, one order for all of them.
    #: A model call written first took the task's new bucket before its old one, against a
    #: claim's order, and the two deadlocked.
    task: Mapped[Task | None] = relationship()

    def __repr__(self) -> str:
        return f"<ModelCall {self.model} {self.cost_usd} USD>"


class SpendDay(db.Model):
    """One UTC day of the global spend cap: the cap staff raised it to that day, and which
    alerts went out (each at most once a day, whichever process saw the spend first)."""

    __tablename__ = "spend_days"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    cap_usd: Mapped[Decimal | None] = mapped_column(Money)
    alerted_80: Mapped[bool] = mapped_column(default=False)
    alerted_100: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
