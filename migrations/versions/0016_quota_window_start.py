"""User.window_started_at: a quota window is known by its start, not its end

Revision ID: 0016_quota_window_start
Revises: 0015_keep_deleted_texters_spend
Create Date: 2026-12-09 10:00:00

A task remembered the end of the quota window it was counted in, so that a failure gave the
request back only within that window. But a reset (flask quota reset, staff's reset, an
upgrade) starts a window that ends when the old one did, and a request counted before it
that failed after it was taken off the new count: a free request. From this revision on a
window is known by when it started, and tasks store that. Every texter's running window is
dated from the upgrade, and the tasks counted in it are moved over to that date; those of
ended windows keep their old value, which matches no start (the total still gets them back).
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0016_quota_window_start"
down_revision = "0015_keep_deleted_texters_spend"
branch_labels = None
depends_on = None

# SQLite can add a NOT NULL column only with a constant default, and making it NOT NULL later
# would rebuild users, whose ON DELETE CASCADE would take every task with it. The default is
# in the form each database stores timestamps in, and is overwritten at once below.
_EPOCH = {"postgresql": "'1970-01-01 00:00:00+00'", "sqlite": "'1970-01-01 00:00:00.000000'"}


def upgrade():
    connection = op.get_bind()
    column = sa.Column(
        "window_started_at",
        sa.DateTime(timezone=True),
        nullable=False,
        server_default=sa.text(_EPOCH[connection.dialect.name]),
    )
    with op.batch_alter_table("users", recreate="never") as batch_op:
        batch_op.add_column(column)
    if connection.dialect.name == "postgresql":
        op.alter_column("users", "window_started_at", server_default=None)
    users = sa.table("users", sa.column("window_started_at", sa.DateTime(timezone=True)))
    op.execute(sa.update(users).values(window_started_at=datetime.now(UTC)))
    op.execute(
        "UPDATE tasks SET quota_window = (SELECT window_started_at FROM users"
        " WHERE users.phone_number = tasks.user_phone)"
        " WHERE EXISTS (SELECT 1 FROM users WHERE users.phone_number = tasks.user_phone"
        " AND users.rate_limit_reset = tasks.quota_window)"
    )


def downgrade():
    op.execute(
        "UPDATE tasks SET quota_window = (SELECT rate_limit_reset FROM users"
        " WHERE users.phone_number = tasks.user_phone)"
        " WHERE EXISTS (SELECT 1 FROM users WHERE users.phone_number = tasks.user_phone"
        " AND users.window_started_at = tasks.quota_window)"
    )
    with op.batch_alter_table("users", recreate="never") as batch_op:
        batch_op.drop_column("window_started_at")
