"""The third spend ledger: what Twilio billed for each text it received for us.

Twilio bills every message it receives (an SMS per segment, an MMS and a WhatsApp message
each per message), answered, refused or a keyword. The webhook prices a text as it stores
it, in the task's own INSERT (Task.inbound_price_usd, at the prices of that moment, so a
later change of price leaves what was billed alone), or, for a text acted on without a task
(STOP, HELP, RESET...), in the INSERT that records its MessageSid (handled.py); a trigger
on each table copies that price here, in the same statement, so receiving a text costs the
webhook no statement more. A row here outlives
its task and its texter, as the other ledgers' rows do (forgetting.py): it was paid for.
The spend rollups count it with the SMS (spend_rollups.py), and its task's cost too.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .triggers import create_trigger, drop_trigger, installed_by_create_all
from .types import Money, UTCDateTime, utcnow


class InboundCharge(db.Model):
    __tablename__ = "inbound_charges"
    __table_args__ = (
        sa.Index("ix_inbound_charges_user_created", "user_phone", "created_at"),
        sa.Index("ix_inbound_charges_created_at", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    task_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("tasks.id", ondelete="SET NULL"), index=True
    )
    #: None once the texter was deleted (forgetting.py).
    user_phone: Mapped[str | None] = mapped_column(sa.String(20))
    price_usd: Mapped[Decimal] = mapped_column(Money)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


_NEW_ID = {"postgresql": "gen_random_uuid()", "sqlite": "lower(hex(randomblob(16)))"}


def _charge_sql(dialect: str, task_id: str) -> str:
    return (
        "INSERT INTO inbound_charges (id, task_id, user_phone, price_usd, created_at)"
        f" VALUES ({_NEW_ID[dialect]}, {task_id}, NEW.user_phone, NEW.inbound_price_usd,"
        " NEW.created_at)"
    )


#: A text acted on without a task leaves its price and number with nobody (handled.py).
_EMPTY_HANDLED = (
    "UPDATE handled_messages SET user_phone = NULL, inbound_price_usd = NULL"
    " WHERE message_sid = NEW.message_sid"
)


def create_triggers(connection: sa.Connection, *, handled: bool = True) -> None:
    """A text stored with an inbound price gets its charge, in the INSERT that stores it:
    as a task, or as a handled text (a keyword, a command, a text from an opted-out
    texter), whose row then keeps neither. Not deferred: the charge is written right after
    its task, the order every writer keeps (at_commit.py), and its own spend trigger runs
    at commit. `handled` False: the schema before migration 0031, whose handled_messages
    had no price."""
    dialect = connection.dialect.name
    priced = "NEW.inbound_price_usd IS NOT NULL"
    create_trigger(
        connection,
        "tasks_inbound_charge",
        "AFTER INSERT",
        "tasks",
        priced,
        _charge_sql(dialect, "NEW.id"),
    )
    if handled:
        create_trigger(
            connection,
            "handled_inbound_charge",
            "AFTER INSERT",
            "handled_messages",
            priced,
            f"{_charge_sql(dialect, 'NULL')}; {_EMPTY_HANDLED}",
        )


def drop_triggers(connection: sa.Connection) -> None:
    drop_trigger(connection, "tasks_inbound_charge", "tasks")
    drop_trigger(connection, "handled_inbound_charge", "handled_messages")


installed_by_create_all(create_triggers, drop_triggers)
