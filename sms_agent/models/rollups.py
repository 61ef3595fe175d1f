"""Rollups of the tasks table, kept exact by the database itself, so analytics read a few
hundred rows however many tasks there are.

Triggers on `tasks` (not ORM hooks) maintain them: every write counts, whoever makes it: the
ORM, the claim's and the sweeper's bulk UPDATEs, a user's deletion cascading to their tasks,
raw SQL in a shell. Each change moves a task out of its old bucket and into its new one in
the same transaction, with SQL increments (an upsert to add, an UPDATE to take away), so two
transactions never overwrite each other's counts. On PostgreSQL the two buckets are updated
in a fixed order (the smaller key first), so that two transactions moving tasks between the
same buckets in opposite directions (a claim and the sweeper) wait for each other instead
of deadlocking.

- `task_rollups`: tasks per UTC day of creation, category, status and success, with sums and
  counts of processing_time and tokens_used (the averages skip NULLs, like AVG()), and the
  sums of their costs (cost_usd and its SMS part, in millionths of a dollar), which the
  ledgers' triggers add to the bucket the task is in (spend_rollups.py) and which move
  with the task when it changes bucket.
- `task_hourly_counts`: tasks per hour of creation (hours since 1970, UTC), for "the last
  24 hours", which does not start at midnight.
- `user_task_rollups`: tasks per texter and category, with successes and processing times,
  for the users list's stats.

Tier is not a key: no surface counts tasks by tier (the dashboard's tiers count users), so a
tier change moves nothing. Buckets that fall to zero stay, with zeros; readers skip them.
"""

from __future__ import annotations

import contextlib
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .at_commit import create_row_trigger
from .triggers import installed_by_create_all


class TaskRollup(db.Model):
    __tablename__ = "task_rollups"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    category: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    success: Mapped[bool] = mapped_column(primary_key=True)
    tasks: Mapped[int]
    processing_time_sum: Mapped[float]
    processing_time_count: Mapped[int]
    tokens_used_sum: Mapped[int] = mapped_column(sa.BigInteger)
    tokens_used_count: Mapped[int]
    #: Millionths of a dollar: the tasks' cost_usd, and its SMS part (sms_cost_usd).
    cost_micro: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    sms_micro: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")


class TaskHourlyCount(db.Model):
    __tablename__ = "task_hourly_counts"

    hour: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    tasks: Mapped[int]


class UserTaskRollup(db.Model):
    __tablename__ = "user_task_rollups"

    user_phone: Mapped[str] = mapped_column(
        sa.ForeignKey("users.phone_number", ondelete="CASCADE"), primary_key=True
    )
    category: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    tasks: Mapped[int]
    successful: Mapped[int]
    processing_time_sum: Mapped[float]
    processing_time_count: Mapped[int]


ROLLUP_TABLES = ("task_rollups", "task_hourly_counts", "user_task_rollups")

# --- How a row's buckets are named, per dialect ------------------------------------------

_DAY = {
    "postgresql": "(({row}.created_at AT TIME ZONE 'UTC')::date)",
    "sqlite": "date({row}.created_at)",
}
#: An amount in USD as whole millionths of a dollar (Money's precision), for exact sums.
MICRO = {
    "postgresql": "(round(coalesce({amount}, 0) * 1000000)::bigint)",
    "sqlite": "CAST(round(coalesce({amount}, 0) * 1000000) AS INTEGER)",
}
_HOUR = {
    "postgresql": "floor(extract(epoch FROM {row}.created_at) / 3600)::integer",
    "sqlite": "(CAST(strftime('%s', {row}.created_at) AS INTEGER) / 3600)",
}


def _finite(column: str) -> str:
    """The value, or NULL when it is NULL, Infinity or NaN (only raw SQL can store those):
    an infinity in a sum could never be taken out again (inf - inf is NaN), so the rollups
    count only finite processing times, and an average skips the others."""
    return f"(CASE WHEN {column} - {column} = 0 THEN {column} END)"


def _upsert(table: str, values: dict[str, str], key: tuple[str, ...], where: str = "true") -> str:
    """INSERT one bucket, or add its values to the bucket already there."""
    added = ", ".join(
        f"{column} = {table}.{column} + excluded.{column}" for column in values if column not in key
    )
    return (
        f"INSERT INTO {table} ({', '.join(values)}) SELECT {', '.join(values.values())}"
        f" WHERE {where} ON CONFLICT ({', '.join(key)}) DO UPDATE SET {added}"
    )


def _taken_on(row: str) -> str:
    """1 for a task the service took on, 0 for a text it refused: the per-user and hourly
    counts (users' stats, "tasks in 24 hours") leave refused texts out, as analytics does."""
    return f"(CASE WHEN {row}.status = 'refused' THEN 0 ELSE 1 END)"


_TASK_KEY = ("day", "category", "status", "success")


def _bucket(dialect: str, row: str) -> dict[str, str]:
    """The task rollup bucket `row` (NEW, OLD or a table's name) is counted in."""
    return {
        "day": _DAY[dialect].format(row=row),
        "category": f"{row}.category",
        "status": f"{row}.status",
        "success": f"{row}.success",
    }


def _costs(dialect: str, row: str) -> dict[str, str]:
    return {
        "cost_micro": MICRO[dialect].format(amount=f"{row}.cost_usd"),
        "sms_micro": MICRO[dialect].format(amount=f"{row}.sms_cost_usd"),
    }


def add_task_costs(dialect: str, task_id: str, cost_micro: str, sms_micro: str) -> str:
    """Add amounts (SQL, in millionths) to the costs of the bucket the task `task_id` is
    counted in, creating it uncounted if need be: for the ledgers' triggers, which change a
    task's costs (spend_rollups.py)."""
    zero = ("tasks", "processing_time_sum", "processing_time_count", "tokens_used_sum")
    values = {
        **_bucket(dialect, "tasks"),
        **dict.fromkeys((*zero, "tokens_used_count"), "0"),
        "cost_micro": cost_micro,
        "sms_micro": sms_micro,
    }
    return (
        f"INSERT INTO task_rollups ({', '.join(values)}) SELECT {', '.join(values.values())}"
        f" FROM tasks WHERE tasks.id = {task_id} ON CONFLICT ({', '.join(_TASK_KEY)}) DO UPDATE"
        " SET cost_micro = task_rollups.cost_micro + excluded.cost_micro,"
        " sms_micro = task_rollups.sms_micro + excluded.sms_micro"
    )


def _add_sql(dialect: str, row: str, task_costs: bool = True) -> dict[str, str]:
    """The three upserts that count `row` (NEW or OLD) in its buckets. `task_costs` False:
    the schema before migration 0018, whose task rollups have no costs."""
    hour = _HOUR[dialect].format(row=row)
    pt, tk = _finite(f"{row}.processing_time"), f"{row}.tokens_used"
    task = {
        **_bucket(dialect, row),
        "tasks": "1",
        "processing_time_sum": f"coalesce({pt}, 0)",
        "processing_time_count": f"(CASE WHEN {pt} IS NULL THEN 0 ELSE 1 END)",
        "tokens_used_sum": f"coalesce({tk}, 0)",
        "tokens_used_count": f"(CASE WHEN {tk} IS NULL THEN 0 ELSE 1 END)",
        **(_costs(dialect, row) if task_costs else {}),
    }
    user = {
        "user_phone": f"{row}.user_phone",
        "category": f"{row}.category",
        "tasks": _taken_on(row),
        "successful": f"(CASE WHEN {row}.success THEN 1 ELSE 0 END)",
        "processing_time_sum": task["processing_time_sum"],
        "processing_time_count": task["processing_time_count"],
    }
    return {
        "task": _upsert("task_rollups", task, _TASK_KEY),
        # Run at commit (at_commit.py), the count of a task whose texter the same
        # transaction deleted would name a texter who is gone: it counts for nobody.
        "user": _upsert(
            "user_task_rollups",
            user,
            ("user_phone", "category"),
            f"EXISTS (SELECT 1 FROM users WHERE phone_number = {row}.user_phone)",
        ),
        "hour": _upsert("task_hourly_counts", {"hour": hour, "tasks": _taken_on(row)}, ("hour",)),
    }


def _remove_sql(dialect: str, row: str, task_costs: bool = True) -> dict[str, str]:
    """The three UPDATEs that take `row` out of its buckets (which exist: it was counted).
    A plain UPDATE, not an upsert: when a user's deletion cascades to their tasks, their
    user_task_rollups rows may already be gone, and there is nothing left to take from."""
    day, hour = _DAY[dialect].format(row=row), _HOUR[dialect].format(row=row)
    pt, tk = _finite(f"{row}.processing_time"), f"{row}.tokens_used"
    pt_n = f"(CASE WHEN {pt} IS NULL THEN 0 ELSE 1 END)"
    tk_n = f"(CASE WHEN {tk} IS NULL THEN 0 ELSE 1 END)"
    ok = f"(CASE WHEN {row}.success THEN 1 ELSE 0 END)"
    costs = "".join(
        f" {column} = {column} - {amount},"
        for column, amount in (_costs(dialect, row) if task_costs else {}).items()
    )
    return {
        "task": (
            f"UPDATE task_rollups SET tasks = tasks - 1,{costs}"
            f" processing_time_sum = processing_time_sum - coalesce({pt}, 0),"
            f" processing_time_count = processing_time_count - {pt_n},"
            f" tokens_used_sum = tokens_used_sum - coalesce({tk}, 0),"
            f" tokens_used_count = tokens_used_count - {tk_n}"
            f" WHERE day = {day} AND category = {row}.category AND status = {row}.status"
            f" AND success = {row}.success"
        ),
        "user": (
            f"UPDATE user_task_rollups SET tasks = tasks - {_taken_on(row)},"
            f" successful = successful - {ok},"
            f" processing_time_sum = processing_time_sum - coalesce({pt}, 0),"
            f" processing_time_count = processing_time_count - {pt_n}"
            f" WHERE user_phone = {row}.user_phone AND category = {row}.category"
        ),
        "hour": (
            f"UPDATE task_hourly_counts SET tasks = tasks - {_taken_on(row)} WHERE hour = {hour}"
        ),
    }


#: The columns each rollup reads; an UPDATE that changes none of them moves nothing.
_READS = {
    "task": ("created_at", "category", "status", "success", "processing_time", "tokens_used"),
    "user": ("user_phone", "category", "status", "success", "processing_time"),
    "hour": ("created_at", "status"),
}


def _read_values(name: str, row: str) -> tuple[str, ...]:
    """What rollup `name` takes from `row`. The per-user and hourly counts see the status
    only as taken on or refused, so a claim (queued to processing) moves nothing there, nor
    a completion in the hourly counts: each would otherwise take and rewrite, for no change,
    the hour's row, which every webhook of that hour writes too, and wait behind them."""
    values = [f"{row}.{column}" for column in _READS[name] if column != "status"]
    if "status" in _READS[name]:
        values.append(f"{row}.status" if name == "task" else _taken_on(row))
    return tuple(values)


def _changed(name: str, distinct: str) -> str:
    pairs = zip(_read_values(name, "OLD"), _read_values(name, "NEW"), strict=True)
    return " OR ".join(f"{old} {distinct} {new}" for old, new in pairs)


def _sqlite_triggers(task_costs: bool) -> list[str]:
    add, remove = _add_sql("sqlite", "NEW", task_costs), _remove_sql("sqlite", "OLD", task_costs)
    statements = [
        "CREATE TRIGGER tasks_rollups_insert AFTER INSERT ON tasks FOR EACH ROW BEGIN "
        + "; ".join(add.values())
        + "; END",
        "CREATE TRIGGER tasks_rollups_delete AFTER DELETE ON tasks FOR EACH ROW BEGIN "
        + "; ".join(remove.values())
        + "; END",
    ]
    for name, columns in _READS.items():
        statements.append(
            f"CREATE TRIGGER tasks_rollups_update_{name} AFTER UPDATE OF {', '.join(columns)}"
            f" ON tasks FOR EACH ROW WHEN {_changed(name, 'IS NOT')}"
            f" BEGIN {remove[name]}; {add[name]}; END"
        )
    return statements


def _postgresql_function(task_costs: bool) -> str:
    add = _add_sql("postgresql", "NEW", task_costs)
    remove = _remove_sql("postgresql", "OLD", task_costs)
    old_key = "ROW(OLD.created_at, OLD.category, OLD.status, OLD.success, OLD.user_phone)"
    new_key = "ROW(NEW.created_at, NEW.category, NEW.status, NEW.success, NEW.user_phone)"
    moves = []
    for name in _READS:
        moves.append(
            f"IF {_changed(name, 'IS DISTINCT FROM')} THEN"
            f" IF {old_key} <= {new_key} THEN {remove[name]}; {add[name]};"
            f" ELSE {add[name]}; {remove[name]}; END IF; END IF;"
        )
    return (
        "CREATE OR REPLACE FUNCTION tasks_rollups() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN"
        f" IF TG_OP = 'INSERT' THEN {'; '.join(add.values())};"
        f" ELSIF TG_OP = 'DELETE' THEN {'; '.join(remove.values())};"
        f" ELSE {' '.join(moves)} END IF;"
        " RETURN NULL; END $$"
    )


_ALL_COLUMNS = sorted({column for columns in _READS.values() for column in columns})


def create_triggers(connection: sa.Connection, *, task_costs: bool = True) -> None:
    """Install the triggers (and on PostgreSQL their function) on `tasks`; on PostgreSQL they
    run at commit (at_commit.py). A change of a task's costs alone moves nothing: the
    ledgers' triggers add it to the task's bucket themselves (add_task_costs). `task_costs`
    False: the schema before migration 0018 (see _add_sql)."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(_postgresql_function(task_costs))
        for when, event in (
            ("INSERT OR DELETE", "INSERT OR DELETE"),
            ("UPDATE", f"UPDATE OF {', '.join(_ALL_COLUMNS)}"),
        ):
            name = "tasks_rollups_" + when.split()[0].lower()
            create_row_trigger(connection, name, event, "tasks", "tasks_rollups")
    else:
        for statement in _sqlite_triggers(task_costs):
            connection.exec_driver_sql(statement)


def drop_triggers(connection: sa.Connection, *, function: bool = False) -> None:
    if connection.dialect.name == "postgresql":
        for name in ("tasks_rollups_insert", "tasks_rollups_update"):
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name} ON tasks")
        if function:
            connection.exec_driver_sql("DROP FUNCTION IF EXISTS tasks_rollups()")
    else:
        for name in ("insert", "delete", *(f"update_{name}" for name in _READS)):
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS tasks_rollups_{name}")


def rebuild(connection: sa.Connection, *, task_costs: bool = True) -> None:
    """Recount every rollup from `tasks`: one INSERT ... SELECT per rollup (the tasks' own
    costs are the ledgers' sums, spend_rollups.recount_task_costs)."""
    dialect = connection.dialect.name
    day, hour = _DAY[dialect].format(row="tasks"), _HOUR[dialect].format(row="tasks")
    ok = "CASE WHEN success THEN 1 ELSE 0 END"
    pt = _finite("processing_time")
    costs = _costs(dialect, "tasks") if task_costs else {}
    cost_columns = "".join(f", {column}" for column in costs)
    cost_sums = "".join(f", sum({amount})" for amount in costs.values())
    for table in ROLLUP_TABLES:
        connection.exec_driver_sql(f"DELETE FROM {table}")
    connection.exec_driver_sql(
        "INSERT INTO task_rollups (day, category, status, success, tasks, processing_time_sum,"
        f" processing_time_count, tokens_used_sum, tokens_used_count{cost_columns})"
        f" SELECT {day}, category, status, success, count(*), coalesce(sum({pt}), 0),"
        f" count({pt}), coalesce(sum(tokens_used), 0), count(tokens_used)"
        f"{cost_sums}"
        f" FROM tasks GROUP BY {day}, category, status, success"
    )
    connection.exec_driver_sql(
        "INSERT INTO user_task_rollups (user_phone, category, tasks, successful,"
        " processing_time_sum, processing_time_count)"
        f" SELECT user_phone, category, sum({_taken_on('tasks')}), sum({ok}),"
        f" coalesce(sum({pt}), 0), count({pt}) FROM tasks GROUP BY user_phone, category"
    )
    connection.exec_driver_sql(
        f"INSERT INTO task_hourly_counts (hour, tasks) SELECT {hour}, sum({_taken_on('tasks')})"
        f" FROM tasks GROUP BY {hour}"
    )


@contextlib.contextmanager
def rebuilt_after(connection: sa.Connection):
    """Load many tasks without per-row triggers, then recount once: for `flask demo seed`.

    Dropping the triggers is part of the caller's transaction and locks `tasks` against
    other writers until it commits (PostgreSQL's DROP TRIGGER takes an exclusive lock;
    SQLite has one writer), so no task written meanwhile can be missed by the recount."""
    drop_triggers(connection)
    yield
    create_triggers(connection)
    rebuild(connection)


installed_by_create_all(create_triggers, drop_triggers)
