"""Preferences, service state and metadata hold only JSON objects: repair stored values that are not

Revision ID: 0003
Revises: 0002_user_service_state
Create Date: 2026-12-10 10:00:00

Before this release the admin saved any JSON in users.preferences, tasks.metadata and
error_logs.metadata, and a list or a string there broke every later reader of the row (the
API's lists, the texter's next answers). The models now refuse anything but an object; this
revision repairs what is already stored, in users.preferences, users.service_state,
tasks.metadata and error_logs.metadata:

- a value that is not an object is replaced by {"_repaired": <the old value>}, so nothing
  is lost and staff can still see what was there (text that is not JSON at all, which only
  SQLite can hold, is kept as that text);
- JSON null (or SQL NULL) becomes {};
- NaN, Infinity and -Infinity inside an object (only SQLite can hold them) become null.

Objects are left as they are, so running it again changes nothing. The downgrade changes no
data: the repaired values are valid objects for the previous release too, and putting the
broken ones back would break it again.

Rows are read and written BATCH at a time in key order; on PostgreSQL only the rows whose
value is not an object are read (jsonb cannot hold NaN).
"""

import json
import math

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002_user_service_state"
branch_labels = None
depends_on = None

REPAIRED_KEY = "_repaired"

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

#: (table, key column, key type, JSON columns to repair)
TARGETS = [
    ("users", "phone_number", sa.String, ("preferences", "service_state")),
    ("tasks", "id", sa.Uuid, ("metadata",)),
    ("error_logs", "id", sa.Uuid, ("metadata",)),
]

#: Rows read and written per round: a million tasks never sit in memory at once.
BATCH = 1000


def upgrade():
    for name, key, key_type, columns in TARGETS:
        for column in columns:
            table = sa.table(name, sa.column(key, key_type), sa.column(column, JSON))
            _repair(table, table.c[key], table.c[column])


def downgrade():
    pass  # see the module docstring: the repaired values stay


def _repair(table, key, column) -> None:
    for rows in _batches(key, column):
        repairs = []
        for ident, text in rows:
            value = repaired(text)
            if value is not None:
                repairs.append({"ident": ident, "value": value})
        if repairs:
            statement = (
                table.update()
                .where(key == sa.bindparam("ident"))
                .values({column.name: sa.bindparam("value", type_=JSON)})
            )
            op.get_bind().execute(statement, repairs)


def _batches(key, column):
    """(key, the column as JSON text) rows, BATCH at a time in key order."""
    connection = op.get_bind()
    conditions = []
    if connection.dialect.name == "postgresql":
        conditions.append(sa.func.jsonb_typeof(column) != "object")
    statement = (
        sa.select(key, sa.cast(column, sa.Text)).where(*conditions).order_by(key).limit(BATCH)
    )
    rows = connection.execute(statement).all()
    while rows:
        yield rows
        rows = connection.execute(statement.where(key > rows[-1][0])).all()


def repaired(text: str | None):
    """The object to store instead of this stored JSON text, or None to leave it alone."""
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        value = text  # not JSON at all: keep the text itself
    if value is None:
        return {}
    if not isinstance(value, dict):
        return {REPAIRED_KEY: _finite(value)}
    return _finite(value) if _has_non_finite(value) else None


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def _has_non_finite(value) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_non_finite(item) for item in value)
    return False
