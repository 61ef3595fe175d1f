"""Row triggers the database runs at the write, written once for PostgreSQL and SQLite: a
plpgsql function and its trigger there, a trigger of the same body here. Also how
`db.create_all()` (tests, a fresh embedded database) installs a module's triggers, which the
migrations install otherwise. (The rollups' triggers, run at commit on PostgreSQL, are
at_commit.py's.)"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from ..extensions import db

#: The databases the triggers are written for.
DIALECTS = ("postgresql", "sqlite")


def create_trigger(
    connection: sa.Connection, name: str, event: str, table: str, when: str, body: str
) -> None:
    """`body` (statements in the connection's dialect, joined by "; ") runs for each row of
    `table` that `event` ("AFTER INSERT", "AFTER DELETE") writes and `when` holds for, in
    the statement that writes it: the writer sends nothing more."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(
            f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger"
            f" LANGUAGE plpgsql AS $$ BEGIN {body}; RETURN NULL; END $$"
        )
        connection.exec_driver_sql(
            f"CREATE TRIGGER {name} {event} ON {table} FOR EACH ROW"
            f" WHEN ({when}) EXECUTE FUNCTION {name}()"
        )
        return
    connection.exec_driver_sql(
        f"CREATE TRIGGER {name} {event} ON {table} WHEN {when} BEGIN {body}; END"
    )


def drop_trigger(connection: sa.Connection, name: str, table: str) -> None:
    """The trigger, and on PostgreSQL its function, if they are there."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        connection.exec_driver_sql(f"DROP FUNCTION IF EXISTS {name}()")
    else:
        connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")


def installed_by_create_all(
    create: Callable[[sa.Connection], None], drop: Callable[[sa.Connection], None]
) -> None:
    """`db.create_all()` runs `drop` then `create` once the tables are made, as the
    migrations' `create` does on theirs."""

    @sa.event.listens_for(db.metadata, "after_create")
    def _install(_metadata, connection: sa.Connection, **_kwargs) -> None:
        if connection.dialect.name in DIALECTS:
            drop(connection)
            create(connection)
