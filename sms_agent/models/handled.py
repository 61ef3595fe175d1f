"""The MessageSid of every text we acted on without storing a task (a keyword, a command,
a text from an opted-out texter...): with tasks.message_sid, the record of every SMS
received, so a Twilio retry or a replay of a signed webhook is known whenever it comes.

A task deleted (by the API, the admin, or with its texter, whose tasks go with them) leaves
its MessageSid here: a trigger on `tasks` keeps it, whoever deletes. Without it, a captured
text replayed after its texter was deleted brought them back, their words with them, and
was answered again at the model's cost."""

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


def _keep(now: str) -> str:
    return (
        f"INSERT INTO handled_messages (message_sid, created_at) VALUES (OLD.message_sid, {now})"
        " ON CONFLICT (message_sid) DO NOTHING"
    )


def create_triggers(connection: sa.Connection) -> None:
    """A deleted task's MessageSid is kept in handled_messages (a task made by the API has
    none)."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(
            "CREATE OR REPLACE FUNCTION tasks_sid_kept() RETURNS trigger LANGUAGE plpgsql AS $$"
            f" BEGIN {_keep('now()')}; RETURN NULL; END $$"
        )
        connection.exec_driver_sql(
            "CREATE TRIGGER tasks_sid_kept AFTER DELETE ON tasks FOR EACH ROW"
            " WHEN (OLD.message_sid IS NOT NULL) EXECUTE FUNCTION tasks_sid_kept()"
        )
        return
    keep = _keep("datetime('now')")
    connection.exec_driver_sql(
        "CREATE TRIGGER tasks_sid_kept AFTER DELETE ON tasks"
        f" WHEN OLD.message_sid IS NOT NULL BEGIN {keep}; END"
    )


def drop_triggers(connection: sa.Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("DROP TRIGGER IF EXISTS tasks_sid_kept ON tasks")
        connection.exec_driver_sql("DROP FUNCTION IF EXISTS tasks_sid_kept()")
    else:
        connection.exec_driver_sql("DROP TRIGGER IF EXISTS tasks_sid_kept")


@sa.event.listens_for(db.metadata, "after_create")
def _install_after_create_all(_metadata, connection, **_kwargs) -> None:
    """`db.create_all()` (tests, a fresh embedded database) gets the trigger too."""
    if connection.dialect.name in ("postgresql", "sqlite"):
        drop_triggers(connection)
        create_triggers(connection)
