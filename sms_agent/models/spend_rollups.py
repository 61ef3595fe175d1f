"""Rollups of the spend ledgers (the SMS we sent, the texts Twilio received for us, the
model calls we paid for), kept
exact by the database itself, so spend reports read a few rows however many tasks there are;
and each task's cost_usd (its model calls plus its SMS), kept by the same triggers.

Like the task rollups (rollups.py), triggers maintain them on every write, whoever makes it:
a message stored with its estimate, Twilio's price replacing it, a task's deletion setting
a ledger row's task to NULL, a texter's deletion setting their rows' number to NULL. Amounts are
kept in whole millionths of a dollar (Money's precision), so adding and taking away is
exact on SQLite as on PostgreSQL.

- `spend_daily`: per UTC day of the ledger row, and whether it belongs to a task (notices
  sent without one are in no task's spend): the service's totals, today, this month, the
  chart per day (the spend of tasks is read from the task rollups, rollups.py).
- `spend_monthly`: per texter (the number texted or billed) and UTC month: each texter's
  month and all-time spend, per tier, the month's top spenders. A deleted texter's rows,
  kept without their number (forgetting.py), are in no texter's month.

`entries` counts the ledger rows in a bucket, so a bucket emptied by deletions is skipped
like a texter who never spent anything; `spend_daily.sms_entries` counts its SMS, so the
admin's outbox knows how many SMS there are without counting millions of rows (exact: the
same triggers, no lock they did not take already).

`sms_entries` False (in create_triggers and rebuild): the schema before migration 0021,
without that column (the migrations before it install their triggers with this).

A task's cost moves with its ledger rows in the transaction that writes them, by the
amount that changed: prices arriving from other processes (Twilio's, replacing an
estimate) add up instead of overwriting each other, and the worker's own UPDATEs of the
task carry no sums (recomputing the cost in each of them, as a subquery, cost a twelfth of
a job's CPU in SQLAlchemy's statement caching alone).
"""

from __future__ import annotations

import contextlib
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from . import rollups
from .at_commit import create_row_trigger
from .triggers import installed_by_create_all


class SpendDaily(db.Model):
    __tablename__ = "spend_daily"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    on_task: Mapped[bool] = mapped_column(primary_key=True)
    sms_micro: Mapped[int] = mapped_column(sa.BigInteger)
    model_micro: Mapped[int] = mapped_column(sa.BigInteger)
    entries: Mapped[int]
    #: Of `entries`, the SMS: the admin's outbox counts its whole list from these.
    sms_entries: Mapped[int] = mapped_column(default=0)


class SpendMonthly(db.Model):
    __tablename__ = "spend_monthly"

    phone: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    month: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    sms_micro: Mapped[int] = mapped_column(sa.BigInteger)
    model_micro: Mapped[int] = mapped_column(sa.BigInteger)
    entries: Mapped[int]


SPEND_ROLLUP_TABLES = ("spend_daily", "spend_monthly")

#: Each ledger: its table, who it is for, what it cost, and which sum it adds to. What
#: Twilio bills for the texts it receives (inbound_charges.py) counts with the SMS.
_LEDGERS = {
    "outbound_messages": ("to_number", "price_usd", "sms_micro"),
    "model_calls": ("user_phone", "cost_usd", "model_micro"),
    "inbound_charges": ("user_phone", "price_usd", "sms_micro"),
}


def _ledgers(inbound: bool) -> list[str]:
    """The ledgers; `inbound` False: the schema before migration 0030, without
    inbound_charges (the migrations before it install their triggers with this)."""
    return [ledger for ledger in _LEDGERS if inbound or ledger != "inbound_charges"]


_DAY = {
    "postgresql": "(({row}.created_at AT TIME ZONE 'UTC')::date)",
    "sqlite": "date({row}.created_at)",
}
_MONTH = {
    "postgresql": "(date_trunc('month', {row}.created_at AT TIME ZONE 'UTC')::date)",
    "sqlite": "date({row}.created_at, 'start of month')",
}
_MICRO = rollups.MICRO


def _buckets(dialect: str, ledger: str, row: str) -> dict[str, dict[str, str]]:
    """The key columns of `row`'s bucket in each rollup, as SQL."""
    phone = _LEDGERS[ledger][0]
    return {
        "spend_daily": {
            "day": _DAY[dialect].format(row=row),
            "on_task": f"({row}.task_id IS NOT NULL)",
        },
        "spend_monthly": {"phone": f"{row}.{phone}", "month": _MONTH[dialect].format(row=row)},
    }


def _entries(table: str, ledger: str, sms_entries: bool) -> dict[str, str]:
    """The row counts `row` adds to in `table`'s bucket: 1 each."""
    counts = {"entries": "1"}
    if sms_entries and table == "spend_daily":
        counts["sms_entries"] = "1" if ledger == "outbound_messages" else "0"
    return counts


def _amounts(dialect: str, ledger: str, row: str) -> dict[str, str]:
    _phone, amount, column = _LEDGERS[ledger]
    micro = _MICRO[dialect].format(amount=f"{row}.{amount}")
    return {
        "sms_micro": micro if column == "sms_micro" else "0",
        "model_micro": micro if column == "model_micro" else "0",
    }


#: A task's updated_at once its cost moved: the cost is part of what the API shows of it
#: (models/tasks.py), so its validators move with it, in the UPDATE that moves the cost (no
#: statement more). The database's time as it writes (PostgreSQL: at commit), never earlier
#: than the time the task had; SQLite keeps SQLAlchemy's text, microseconds and all.
_CHANGED_NOW = {
    "postgresql": "greatest(updated_at, clock_timestamp())",
    "sqlite": "max(updated_at, strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')",
}


def _task_cost_sql(
    dialect: str, ledger: str, row: str, sign: str, task_costs: bool, dated: bool = True
) -> list[str]:
    """Add (`sign` "+") or take away ("-") `row`'s amount on its task's cost_usd (and an
    SMS's on sms_cost_usd), then on the task rollup bucket the task is counted in
    (rollups.py), so a bucket's costs are always those of its tasks. Rounded to Money's
    millionths: SQLite adds NUMERIC values as floating point.

    They come before the spend rollups' rows, and a transaction writes a task before its
    ledger rows (the flush orders them: ModelCall.task, Task.outbound_messages). These
    triggers run at commit in the order of the writes (at_commit.py), so every writer takes
    the task, then its old and new buckets in key order (rollups.py), then the spend rows:
    one order (a Twilio price for an earlier part, landing meanwhile, cannot deadlock with
    it). The bucket is an upsert: the task's bucket may have no row yet.

    `task_costs` False: the schema before migration 0018, with neither sms_cost_usd nor
    the buckets' costs (the migrations before it install their triggers with this).
    `dated` False: the triggers before migration 0031, which left updated_at alone."""
    amount = f"coalesce({row}.{_LEDGERS[ledger][1]}, 0)"
    is_sms = _LEDGERS[ledger][2] == "sms_micro"
    sets = [f"cost_usd = round(cost_usd {sign} {amount}, 6)"]
    if task_costs and is_sms:
        sets.append(f"sms_cost_usd = round(sms_cost_usd {sign} {amount}, 6)")
    if dated:
        sets.append(f"updated_at = {_CHANGED_NOW[dialect]}")
    statements = [f"UPDATE tasks SET {', '.join(sets)} WHERE id = {row}.task_id"]
    if task_costs:
        micro = f"({sign}{_MICRO[dialect].format(amount=amount)})"
        statements.append(
            rollups.add_task_costs(dialect, f"{row}.task_id", micro, micro if is_sms else "0")
        )
    return statements


def _counted(table: str, ledger: str, row: str) -> str:
    """Whether `row` counts in `table`: a deleted texter's rows (their number NULL, see
    forgetting.py) stay in the days' totals but are no texter's month."""
    return f"{row}.{_LEDGERS[ledger][0]} IS NOT NULL" if table == "spend_monthly" else "true"


def _add_sql(
    dialect: str, ledger: str, row: str, task_costs: bool, sms_entries: bool, dated: bool = True
) -> list[str]:
    statements = []
    for table, key in _buckets(dialect, ledger, row).items():
        counts = _entries(table, ledger, sms_entries)
        values = {**key, **_amounts(dialect, ledger, row), **counts}
        added = ", ".join(
            f"{column} = {table}.{column} + excluded.{column}"
            for column in ("sms_micro", "model_micro", *counts)
        )
        statements.append(
            f"INSERT INTO {table} ({', '.join(values)}) SELECT {', '.join(values.values())}"
            f" WHERE {_counted(table, ledger, row)}"
            f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {added}"
        )
    return [*_task_cost_sql(dialect, ledger, row, "+", task_costs, dated), *statements]


def _remove_sql(
    dialect: str, ledger: str, row: str, task_costs: bool, sms_entries: bool, dated: bool = True
) -> list[str]:
    statements = []
    amounts = _amounts(dialect, ledger, row)
    for table, key in _buckets(dialect, ledger, row).items():
        where = " AND ".join(f"{column} = {value}" for column, value in key.items())
        counts = _entries(table, ledger, sms_entries)
        taken = "".join(f", {column} = {column} - {n}" for column, n in counts.items())
        statements.append(
            f"UPDATE {table} SET sms_micro = sms_micro - {amounts['sms_micro']},"
            f" model_micro = model_micro - {amounts['model_micro']}{taken}"
            f" WHERE {where}"
        )
    return [*_task_cost_sql(dialect, ledger, row, "-", task_costs, dated), *statements]


def _read_columns(ledger: str) -> tuple[str, ...]:
    phone, amount, _column = _LEDGERS[ledger]
    return (phone, amount, "created_at", "task_id")


def _changed(ledger: str, distinct: str) -> str:
    return " OR ".join(f"OLD.{c} {distinct} NEW.{c}" for c in _read_columns(ledger))


def _sqlite_triggers(ledger: str, task_costs: bool, sms_entries: bool, dated: bool) -> list[str]:
    add = _add_sql("sqlite", ledger, "NEW", task_costs, sms_entries, dated)
    remove = _remove_sql("sqlite", ledger, "OLD", task_costs, sms_entries, dated)
    name = f"{ledger}_spend"
    return [
        f"CREATE TRIGGER {name}_insert AFTER INSERT ON {ledger} FOR EACH ROW"
        f" BEGIN {'; '.join(add)}; END",
        f"CREATE TRIGGER {name}_delete AFTER DELETE ON {ledger} FOR EACH ROW"
        f" BEGIN {'; '.join(remove)}; END",
        f"CREATE TRIGGER {name}_update AFTER UPDATE OF {', '.join(_read_columns(ledger))}"
        f" ON {ledger} FOR EACH ROW WHEN {_changed(ledger, 'IS NOT')}"
        f" BEGIN {'; '.join(remove + add)}; END",
    ]


def _postgresql_function(ledger: str, task_costs: bool, sms_entries: bool, dated: bool) -> str:
    add = _add_sql("postgresql", ledger, "NEW", task_costs, sms_entries, dated)
    remove = _remove_sql("postgresql", ledger, "OLD", task_costs, sms_entries, dated)
    return (
        f"CREATE OR REPLACE FUNCTION {ledger}_spend() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN"
        f" IF TG_OP = 'INSERT' THEN {'; '.join(add)};"
        f" ELSIF TG_OP = 'DELETE' THEN {'; '.join(remove)};"
        f" ELSIF {_changed(ledger, 'IS DISTINCT FROM')} THEN {'; '.join(remove + add)};"
        " END IF;"
        " RETURN NULL; END $$"
    )


def create_triggers(
    connection: sa.Connection,
    *,
    task_costs: bool = True,
    sms_entries: bool = True,
    inbound: bool = True,
    dated: bool = True,
) -> None:
    """Install the triggers (and on PostgreSQL their functions) on the ledgers; on
    PostgreSQL they run at commit (at_commit.py). `task_costs` and `dated`: see _task_cost_sql;
    `sms_entries`: see the module's docstring; `inbound`: see _ledgers."""
    for ledger in _ledgers(inbound):
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(_postgresql_function(ledger, task_costs, sms_entries, dated))
            events = "INSERT OR DELETE OR UPDATE OF " + ", ".join(_read_columns(ledger))
            create_row_trigger(connection, f"{ledger}_spend", events, ledger, f"{ledger}_spend")
        else:
            for statement in _sqlite_triggers(ledger, task_costs, sms_entries, dated):
                connection.exec_driver_sql(statement)


def drop_triggers(
    connection: sa.Connection, *, function: bool = False, inbound: bool = True
) -> None:
    for ledger in _ledgers(inbound):
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {ledger}_spend ON {ledger}")
            if function:
                connection.exec_driver_sql(f"DROP FUNCTION IF EXISTS {ledger}_spend()")
        else:
            for name in ("insert", "delete", "update"):
                connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {ledger}_spend_{name}")


def rebuild(connection: sa.Connection, *, sms_entries: bool = True, inbound: bool = True) -> None:
    """Recount both rollups from the ledgers: one INSERT ... SELECT each."""
    dialect = connection.dialect.name
    for table in SPEND_ROLLUP_TABLES:
        connection.exec_driver_sql(f"DELETE FROM {table}")
    for table in SPEND_ROLLUP_TABLES:
        rows = []
        for ledger in _ledgers(inbound):
            key = _buckets(dialect, ledger, ledger)[table]
            values = {**key, **_amounts(dialect, ledger, ledger)}
            values |= _entries(table, ledger, sms_entries)
            rows.append(
                "SELECT "
                + ", ".join(f"{value} AS {column}" for column, value in values.items())
                + f" FROM {ledger} WHERE {_counted(table, ledger, ledger)}"
            )
        key_columns = ", ".join(_buckets(dialect, "model_calls", "x")[table])
        sums = [column for column in values if column not in key]
        connection.exec_driver_sql(
            f"INSERT INTO {table} ({key_columns}, {', '.join(sums)})"
            f" SELECT {key_columns}, {', '.join(f'sum({column})' for column in sums)}"
            f" FROM ({' UNION ALL '.join(rows)}) AS ledger GROUP BY {key_columns}"
        )


def recount_task_costs(
    connection: sa.Connection, *, task_costs: bool = True, inbound: bool = True
) -> None:
    """Every task's cost_usd (and sms_cost_usd) summed again from the ledgers: one UPDATE.
    The task rollups' costs are not recounted: rollups.rebuild does, from these."""
    sums = {"sms_micro": [], "model_micro": []}
    for ledger in _ledgers(inbound):
        _phone, amount, column = _LEDGERS[ledger]
        sums[column].append(
            f"coalesce((SELECT sum({amount}) FROM {ledger} WHERE task_id = tasks.id), 0)"
        )
    sums = {column: " + ".join(parts) for column, parts in sums.items()}
    sets = f"cost_usd = round({sums['sms_micro']} + {sums['model_micro']}, 6)"
    if task_costs:
        sets += f", sms_cost_usd = round({sums['sms_micro']}, 6)"
    connection.exec_driver_sql(f"UPDATE tasks SET {sets}")


@contextlib.contextmanager
def rebuilt_after(connection: sa.Connection):
    """Load many ledger rows without per-row triggers, then recount the rollups once (see
    rollups.rebuilt_after). Their tasks' cost_usd is not recounted (a pass over every task):
    the loader writes it with the tasks."""
    drop_triggers(connection)
    yield
    create_triggers(connection)
    rebuild(connection)


installed_by_create_all(create_triggers, drop_triggers)
