"""Marks of how far the committed messages (texts in, SMS out) go, for pollers that must not
miss one: the rows written between two marks are exactly the rows committed after the first
mark was taken and by the second, whatever time their writers stamped on them.

A row's `created_at` is its writer's clock when it was flushed, not when it committed. Two
workers can commit out of order, so a poll by time (`after`) may read a later message while
an earlier-stamped one is still uncommitted, and skip it next time. A mark stands for what
had committed instead:

* PostgreSQL: every row records the transaction that wrote it (`write_xid`, default
  `pg_current_xact_id()`, a column only PostgreSQL has), and a mark is the database's
  snapshot (`pg_current_snapshot()`), which lists the transactions still running. No
  writer waits for another or for a poller.
* SQLite: one writer at a time, and a row's rowid is given under the write lock, so rowids
  come in commit order: a mark is each table's highest rowid. SQLite gives a new row the
  highest rowid + 1, so it would reuse the rowid of a newest row deleted before the next
  insert, and a message written then would sort before a mark that had seen the deleted one
  and be missed. Triggers keep every rowid fresh instead (`install_fresh_rowids`): what
  AUTOINCREMENT does for an integer key, which these tables (keyed by a UUID) have not.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from ..extensions import db

#: The tables whose rows are a thread's messages.
TABLES = ("tasks", "outbound_messages")
#: Each table's column holding the texter's number, for the index polls use.
_PHONE_COLUMNS = {"tasks": "user_phone", "outbound_messages": "to_number"}
_SNAPSHOT = re.compile(r"(\d{1,19}):(\d{1,19}):((?:\d{1,19},)*\d{1,19})?")
#: A snapshot lists the transactions running when it was taken: a few, but never unbounded.
MAX_RUNNING = 1000
#: The longest mark `current` takes: a message cursor carries two, and a URL must hold it
#: (api/cursors.py).
MAX_TEXT = 1000

Mark = Any  # a snapshot's text on PostgreSQL, {table: highest rowid} on SQLite


def current() -> Mark:
    """The mark of what has committed now."""
    if db.engine.dialect.name == "postgresql":
        return _within_bound(db.session.scalar(sa.text("SELECT pg_current_snapshot()::text")))
    return {
        table: db.session.scalar(sa.text(f"SELECT coalesce(max(rowid), 0) FROM {table}"))
        for table in TABLES
    }


def _within_bound(snapshot: str) -> str:
    """`snapshot`, or, when it lists too many running transactions for MAX_TEXT (at least
    50), a mark that sees less: ended at its (k+1)th running transaction, with the first
    k, it sees just what `snapshot` sees below that one and nothing above. What it leaves
    out is read at a later mark, so a poller misses nothing, though it may be given again
    a message an earlier mark had seen."""
    if len(snapshot) <= MAX_TEXT:
        return snapshot
    low, _, running = snapshot.split(":")
    xids = running.split(",")

    def ended_at(kept: int) -> str:
        return f"{low}:{xids[kept]}:{','.join(xids[:kept])}"

    kept = 0  # ended at the first running xid, "low:xid:" is short enough
    while kept + 1 < len(xids) and len(ended_at(kept + 1)) <= MAX_TEXT:
        kept += 1
    return ended_at(kept)


def checked(mark: Any) -> Mark:
    """A mark read back from a client, as `current` makes them; ValueError otherwise (a
    mark reaches SQL only as a bound value, but PostgreSQL refuses an incoherent one)."""
    if db.engine.dialect.name == "postgresql":
        return _checked_snapshot(mark)
    if not isinstance(mark, dict) or set(mark) != set(TABLES):
        raise ValueError("not a mark of this database")
    if not all(type(mark[table]) is int and 0 <= mark[table] < 2**63 for table in TABLES):
        raise ValueError("not a mark of this database")
    return mark


def _checked_snapshot(mark: Any) -> str:
    found = _SNAPSHOT.fullmatch(mark) if isinstance(mark, str) else None
    if found is None:
        raise ValueError("not a mark of this database")
    low, high = int(found.group(1)), int(found.group(2))
    running = [int(xid) for xid in found.group(3).split(",")] if found.group(3) else []
    in_range = all(low <= xid < high for xid in running) and 0 < low <= high < 2**63
    if not in_range or running != sorted(set(running)) or len(running) > MAX_RUNNING:
        raise ValueError("not a mark of this database")
    return mark


def written_between(table: str, since: Mark, until: Mark) -> sa.ColumnElement[bool]:
    """`table`'s rows committed after `since` and by `until`."""
    if db.engine.dialect.name != "postgresql":
        rowid = sa.literal_column(f"{table}.rowid")
        return sa.and_(rowid > since[table], rowid <= until[table])
    xid = f"{table}.write_xid"
    return sa.text(
        # The first test lets the (number, write_xid) index skip what `since` saw: every
        # transaction before its xmin had ended.
        f"{xid} >= pg_snapshot_xmin(CAST(:since_{table} AS pg_snapshot))"
        f" AND NOT pg_visible_in_snapshot({xid}, CAST(:since_{table} AS pg_snapshot))"
        f" AND pg_visible_in_snapshot({xid}, CAST(:until_{table} AS pg_snapshot))"
    ).bindparams(**{f"since_{table}": since, f"until_{table}": until})


def install(connection: sa.Connection) -> None:
    """Give PostgreSQL's message tables their `write_xid` column and its index (existing
    rows keep NULL: they committed before any mark there can be)."""
    if connection.dialect.name != "postgresql":
        return
    for table in TABLES:
        connection.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS write_xid xid8")
        connection.exec_driver_sql(
            f"ALTER TABLE {table} ALTER COLUMN write_xid SET DEFAULT pg_current_xact_id()"
        )
        connection.exec_driver_sql(
            f"CREATE INDEX IF NOT EXISTS ix_{table}_write_xid"
            f" ON {table} ({_PHONE_COLUMNS[table]}, write_xid)"
        )


#: SQLite only: each message table's highest rowid ever deleted while it was the newest.
USED_ROWIDS = "message_rowids_used"


def install_fresh_rowids(connection: sa.Connection) -> None:
    """On SQLite, never give a message a rowid an earlier one had. A deleted newest row
    leaves its rowid in USED_ROWIDS, and a row inserted at or below it moves above it (a
    condition on a one-row lookup: most inserts do nothing more). PostgreSQL needs none."""
    if connection.dialect.name != "sqlite":
        return
    connection.exec_driver_sql(
        f"CREATE TABLE IF NOT EXISTS {USED_ROWIDS}"
        " (table_name VARCHAR(40) PRIMARY KEY, highest INTEGER NOT NULL)"
    )
    for table in TABLES:
        highest = f"(SELECT highest FROM {USED_ROWIDS} WHERE table_name = '{table}')"
        connection.exec_driver_sql(
            f"CREATE TRIGGER IF NOT EXISTS {table}_rowid_kept AFTER DELETE ON {table}"
            f" FOR EACH ROW WHEN OLD.rowid > (SELECT coalesce(max(rowid), 0) FROM {table})"
            f" BEGIN INSERT OR REPLACE INTO {USED_ROWIDS} (table_name, highest)"
            f" VALUES ('{table}', max(OLD.rowid, coalesce({highest}, 0))); END"
        )
        connection.exec_driver_sql(
            f"CREATE TRIGGER IF NOT EXISTS {table}_rowid_fresh AFTER INSERT ON {table}"
            f" FOR EACH ROW WHEN NEW.rowid <= {highest}"
            f" BEGIN UPDATE {table} SET rowid = {highest} + 1 WHERE rowid = NEW.rowid; END"
        )


def uninstall_fresh_rowids(connection: sa.Connection) -> None:
    if connection.dialect.name != "sqlite":
        return
    for table in TABLES:
        connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_rowid_kept")
        connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_rowid_fresh")
    connection.exec_driver_sql(f"DROP TABLE IF EXISTS {USED_ROWIDS}")


def left_out_of_the_models(_object, name, type_, _reflected, _compare_to) -> bool:
    """Alembic's `include_object`: the column and index `install` adds are not in the models
    (only PostgreSQL has them), nor SQLite's USED_ROWIDS, so comparing the schema to the
    models skips them."""
    if type_ == "table":
        return name != USED_ROWIDS
    if type_ == "column":
        return name != "write_xid"
    return not (type_ == "index" and name in {f"ix_{table}_write_xid" for table in TABLES})


class Xid8(sa.types.UserDefinedType):
    """PostgreSQL's 64-bit transaction id, so that reading the schema knows the column."""

    cache_ok = True

    def get_col_spec(self, **_kwargs) -> str:
        return "xid8"


postgresql.base.ischema_names.setdefault("xid8", Xid8)


def uninstall(connection: sa.Connection) -> None:
    if connection.dialect.name != "postgresql":
        return
    for table in TABLES:
        connection.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN IF EXISTS write_xid")


@sa.event.listens_for(db.metadata, "after_create")
def _install_after_create_all(_metadata, connection, **_kwargs) -> None:
    """`db.create_all()` (tests, a fresh database) gets the column (or the triggers) too."""
    install(connection)
    install_fresh_rowids(connection)
