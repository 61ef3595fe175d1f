"""users.last_active may be NULL: a texter staff or the API added has not texted yet

Revision ID: 0035_act24_last_active_nullable
Revises: 0034_cost23_cached_tokens
Create Date: 2026-12-07 22:00:00

A texter staff created (the admin, POST /api/users/) got last_active = their creation time,
so the analytics, the dashboard and User.active_recently counted them active, though they
had never texted. From this revision on last_active is NULL until the texter's first text.
Rows stored before it keep their value (nobody can tell now who texted).

SQLite cannot drop a NOT NULL in place, and rebuilding users would take every task with it
(ON DELETE CASCADE), and its row-count triggers: the table's stored definition is edited as
SQLite documents for removing a NOT NULL (https://sqlite.org/lang_altertable.html, section
"Making Other Kinds Of Table Schema Changes"), which leaves the rows as they are.
"""

import sqlalchemy as sa
from alembic import op

revision = "0035_act24_last_active_nullable"
down_revision = "0034_cost23_cached_tokens"
branch_labels = None
depends_on = None

_NOT_NULL = "last_active DATETIME NOT NULL"
_NULLABLE = "last_active DATETIME"


def upgrade():
    _last_active_nullable(True)


def downgrade():
    # Those who never texted get what they had before this revision: their creation time.
    op.execute("UPDATE users SET last_active = created_at WHERE last_active IS NULL")
    _last_active_nullable(False)


def _last_active_nullable(nullable: bool) -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_definition(*((_NOT_NULL, _NULLABLE) if nullable else (_NULLABLE, _NOT_NULL)))
    else:
        column_type = sa.DateTime(timezone=True)
        op.alter_column("users", "last_active", existing_type=column_type, nullable=nullable)


def _sqlite_definition(old: str, new: str) -> None:
    connection = op.get_bind()
    stored = connection.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'users'"
    ).scalar_one()
    if stored.count(_NULLABLE) != 1 or stored.count(_NOT_NULL) != (old == _NOT_NULL):
        raise RuntimeError(f"users.last_active is not stored as {old!r}: {stored}")
    version = connection.exec_driver_sql("PRAGMA schema_version").scalar_one()
    connection.exec_driver_sql("PRAGMA writable_schema = ON")
    connection.exec_driver_sql(
        "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'users'",
        (stored.replace(old, new),),
    )
    connection.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    connection.exec_driver_sql("PRAGMA writable_schema = OFF")
