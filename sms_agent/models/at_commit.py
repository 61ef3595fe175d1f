"""Rollup triggers on PostgreSQL run when their transaction commits, not when it writes.

A rollup's bucket is one row that many transactions add to: every webhook of the day adds
to the day's queued tasks, every model call to the day's spend. A row trigger that runs at
the write locks that row until the writer commits, and a worker's transaction goes on for
several round trips after its first write, each through a Python process that shares its
GIL with hundreds of threads. Under a burst of webhooks the worker's transactions queued
behind each other on the day's spend row (30 of 32 connections waiting, `make bench-e2e`),
and replies fell to half their rate. Deferred to the commit, a trigger holds the bucket only
while PostgreSQL finishes the transaction, which never waits on the client.

The counts are the same: a deferred row trigger still sees each write's OLD and NEW, in the
order of the writes. Only a reader inside the writing transaction sees the rollups before
its own writes, and nothing reads them there. SQLite has one writer at a time, so its
triggers run at the write, as before.

The order of the writes is the order the rows are locked in at commit. Two commits taking
the same rows in opposite orders deadlock, and PostgreSQL aborts one: a worker's job then
runs again, model call and all. So a transaction writes a task before its ledger rows
(spend_rollups._task_cost_sql says why that order; tests/write_order.py watches for it).
"""

from __future__ import annotations

import sqlalchemy as sa


def create_row_trigger(
    connection: sa.Connection, name: str, events: str, table: str, function: str
) -> None:
    """A PostgreSQL row trigger running `function()` once per written row, at commit."""
    connection.exec_driver_sql(
        f"CREATE CONSTRAINT TRIGGER {name} AFTER {events} ON {table}"
        f" DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {function}()"
    )
