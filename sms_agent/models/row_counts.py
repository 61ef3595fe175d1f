"""How many rows `users` and `error_logs` hold, kept by the database itself, so the admin's
Users and Error logs lists read one row for their count instead of counting every row on
each page (at 1,000,000 rows, the slowest part of the page).

Row triggers add one for each insert and take one away for each delete, whoever writes:
the ORM, a cascade, raw SQL in a shell. On PostgreSQL they run at commit (at_commit.py),
so the one counter row of a table is held only while PostgreSQL finishes the transaction,
not through the writer's round trips (a burst of webhooks each making a texter, an outage
logging errors). A missing row counts as none: the upsert makes it.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .at_commit import create_row_trigger
from .triggers import installed_by_create_all

#: The tables counted.
COUNTED = ("users", "error_logs")


class RowCount(db.Model):
    __tablename__ = "row_counts"

    table_name: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    rows: Mapped[int] = mapped_column(sa.BigInteger)


def rows_of(table: str) -> sa.ColumnElement[int]:
    """The kept count of `table` (0 before its first row)."""
    kept = sa.select(RowCount.rows).where(RowCount.table_name == table).scalar_subquery()
    return sa.func.coalesce(kept, 0)


def _add(table: str, step: str) -> str:
    return (
        f"INSERT INTO row_counts (table_name, rows) VALUES ({table}, {step})"
        " ON CONFLICT (table_name) DO UPDATE SET rows = row_counts.rows + excluded.rows"
    )


_STEP = "CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END"
_POSTGRESQL_FUNCTION = (
    "CREATE OR REPLACE FUNCTION row_counts_kept() RETURNS trigger LANGUAGE plpgsql AS $$"
    f" BEGIN {_add('TG_TABLE_NAME', _STEP)}; RETURN NULL; END $$"
)


def create_triggers(connection: sa.Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(_POSTGRESQL_FUNCTION)
        for table in COUNTED:
            create_row_trigger(
                connection, f"{table}_counted", "INSERT OR DELETE", table, "row_counts_kept"
            )
        return
    for table in COUNTED:
        for event, step in (("INSERT", "1"), ("DELETE", "-1")):
            connection.exec_driver_sql(
                f"CREATE TRIGGER {table}_counted_{event.lower()} AFTER {event} ON {table}"
                f" BEGIN {_add(repr(table), step)}; END"
            )


def drop_triggers(connection: sa.Connection) -> None:
    for table in COUNTED:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_counted ON {table}")
        else:
            for event in ("insert", "delete"):
                connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_counted_{event}")
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("DROP FUNCTION IF EXISTS row_counts_kept()")


def rebuild(connection: sa.Connection) -> None:
    """Count every counted table once (a migration, a doubt)."""
    connection.exec_driver_sql("DELETE FROM row_counts")
    for table in COUNTED:
        connection.exec_driver_sql(
            f"INSERT INTO row_counts (table_name, rows) SELECT '{table}', count(*) FROM {table}"
        )


installed_by_create_all(create_triggers, drop_triggers)
