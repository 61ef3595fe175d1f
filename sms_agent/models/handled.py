"""The MessageSid of every text we acted on without storing a task (a keyword, a command,
a text from an opted-out texter...): with tasks.message_sid, the record of every SMS
received, so a Twilio retry or a replay of a signed webhook is known whenever it comes.

A task deleted (by the API, the admin, or with its texter, whose tasks go with them) leaves
its MessageSid here: a trigger on `tasks` keeps it, whoever deletes. Without it, a captured
text replayed after its texter was deleted brought them back, their words with them, and
was answered again at the model's cost."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .triggers import create_trigger, drop_trigger, installed_by_create_all
from .types import Money, UTCDateTime, utcnow


class HandledMessage(db.Model):
    """Only the sid and when: no number and no words, so nothing here is about a texter
    (deleting one leaves their sids, and a replay of their START opts in nobody)."""

    __tablename__ = "handled_messages"

    message_sid: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: What Twilio billed for receiving the text, and whose it was: given with the INSERT
    #: only, for the trigger that moves them to the texter's charge in the same statement
    #: (inbound_charges.py) and empties them. NULL in every stored row.
    user_phone: Mapped[str | None] = mapped_column(sa.String(20))
    inbound_price_usd: Mapped[Decimal | None] = mapped_column(Money)


def _keep(now: str) -> str:
    return (
        f"INSERT INTO handled_messages (message_sid, created_at) VALUES (OLD.message_sid, {now})"
        " ON CONFLICT (message_sid) DO NOTHING"
    )


#: When a deleted task's sid is kept, in each database's words.
_NOW = {"postgresql": "now()", "sqlite": "datetime('now')"}


def create_triggers(connection: sa.Connection) -> None:
    """A deleted task's MessageSid is kept in handled_messages (a task made by the API has
    none)."""
    keep = _keep(_NOW[connection.dialect.name])
    create_trigger(
        connection, "tasks_sid_kept", "AFTER DELETE", "tasks", "OLD.message_sid IS NOT NULL", keep
    )


def drop_triggers(connection: sa.Connection) -> None:
    drop_trigger(connection, "tasks_sid_kept", "tasks")


installed_by_create_all(create_triggers, drop_triggers)
