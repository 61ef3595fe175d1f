"""Every transaction of the suite writes a task before its ledger rows, and its error log
after both.

On PostgreSQL the rollup triggers run at commit, in the order of the transaction's writes
(sms_agent/models/at_commit.py). A ledger row (a model call, an SMS) adds its cost to its
task's bucket and then to the spend rows; a task's move takes its old and new buckets in
key order. Written ledger first, a transaction takes the task's new bucket before its old
one, against every other transaction's order, and two such commits can deadlock
(tests/test_rollups_at_commit.py shows one). The flush writes tasks first
(ModelCall.task, Task.outbound_messages); this watches every statement the suite sends, so
that code writing them in two flushes, the wrong way round, fails its test. A test that
writes them in either order on purpose (to show the counts stay exact whatever the order)
is marked `any_write_order`.

An error log's count is one row for the whole table (row_counts.py), taken at commit after
what the transaction wrote before it: a failed delivery report moves its message's price,
then logs the error, and an answer whose send Twilio refused logged the error before the
price went out, so the two commits deadlocked (tests/test_error_log_order.py). Error logs
are written last: record_error flushes what the transaction wrote before it.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

#: The task columns whose change moves the task to another rollup bucket (models/rollups.py).
#: Its tokens or processing time change its bucket's sums, in the bucket it is in: a ledger
#: row has taken that bucket already.
_BUCKET_COLUMNS = {"created_at", "category", "status", "success"}
#: The ledger columns the spend triggers read (models/spend_rollups.py).
_LEDGER_COLUMNS = {"to_number", "user_phone", "price_usd", "cost_usd", "created_at", "task_id"}
_LEDGERS = ("model_calls", "outbound_messages")

_UPDATE = re.compile(r"^\s*UPDATE\s+(\w+)\s+SET\s+(.*?)\s+(?:WHERE|RETURNING|$)", re.I | re.S)
_ASSIGNED = re.compile(r"(\w+)\s*=")


def _kind(statement: str) -> str | None:
    """ "ledger" for a write the spend triggers count, "move" for one that can move a task,
    "error" for an error log's insert."""
    head = statement.lstrip()[:60].lower()
    if head.startswith("insert into error_logs"):
        return "error"
    if head.startswith(("insert into model_calls", "insert into outbound_messages")):
        return "ledger"
    if head.startswith(("delete from model_calls", "delete from outbound_messages")):
        return "ledger"
    update = _UPDATE.match(statement)
    if update is None:
        return None
    table, assignments = update.group(1).lower(), _ASSIGNED.findall(update.group(2))
    columns = {column.lower() for column in assignments}
    if table in _LEDGERS and columns & _LEDGER_COLUMNS:
        return "ledger"
    if table == "tasks" and columns & _BUCKET_COLUMNS:
        return "move"
    return None


class WriteOrderWatch:
    """Records each transaction that moved a task after writing a ledger row, or wrote
    either after an error log."""

    def __init__(self) -> None:
        self.wrong: list[str] = []
        self._ledger_written: set[int] = set()
        self._error_written: set[int] = set()
        self._migrating: set[int] = set()

    def _statement(self, connection, _cursor, statement, *_args) -> None:
        key = id(connection.connection.dbapi_connection)
        if "alembic_version" in statement:
            # A migration runs while nothing else writes: no other commit to meet.
            self._migrating.add(key)
        if key in self._migrating:
            return
        kind = _kind(statement)
        if kind in ("ledger", "move") and key in self._error_written:
            self.wrong.append("after an error log: " + " ".join(statement.split())[:160])
        if kind == "error":
            self._error_written.add(key)
        elif kind == "ledger":
            self._ledger_written.add(key)
        elif kind == "move" and key in self._ledger_written:
            self.wrong.append(" ".join(statement.split())[:160])

    def _ended(self, connection, *_args) -> None:
        if connection.invalidated:
            return  # the server dropped it: it is never used again (and checked in as such)
        self._returned(connection.connection.dbapi_connection)

    def _returned(self, dbapi_connection, *_args) -> None:
        """Its transaction ended (back in the pool, what was left open is rolled back)."""
        self._ledger_written.discard(id(dbapi_connection))
        self._error_written.discard(id(dbapi_connection))
        self._migrating.discard(id(dbapi_connection))

    def install(self) -> None:
        sa.event.listen(sa.engine.Engine, "before_cursor_execute", self._statement)
        for event in ("commit", "rollback"):
            sa.event.listen(sa.engine.Engine, event, self._ended)
        sa.event.listen(sa.pool.Pool, "checkin", self._returned)
