"""User.service_state: the service's bookkeeping, moved out of the texter's preferences

Revision ID: 0002_user_service_state
Revises: 0001_initial
Create Date: 2026-12-03 03:20:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002_user_service_state"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

#: Keys the service used to keep in `preferences`; they move to `service_state`.
SERVICE_KEYS = ("handled_sids", "noticed_sids", "quota_notice_window")

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
users = sa.table(
    "users",
    sa.column("phone_number", sa.String),
    sa.column("preferences", JSON),
    sa.column("service_state", JSON),
)


#: Users read and written per round: a million texters never sit in memory at once.
BATCH = 1000


def upgrade():
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(
            sa.Column("service_state", JSON, server_default=sa.text("'{}'"), nullable=False)
        )
    for rows in _batches(users.c.preferences):
        moved = []
        for phone, preferences in rows:
            preferences = dict(preferences or {})
            state = {key: preferences.pop(key) for key in SERVICE_KEYS if key in preferences}
            if state:
                moved.append({"phone": phone, "new_preferences": preferences, "state": state})
        _update(
            moved,
            preferences=sa.bindparam("new_preferences"),
            service_state=sa.bindparam("state"),
        )


def downgrade():
    for rows in _batches(users.c.preferences, users.c.service_state):
        merged = [
            {"phone": phone, "new_preferences": {**(preferences or {}), **state}}
            for phone, preferences, state in rows
            if state
        ]
        _update(merged, preferences=sa.bindparam("new_preferences"))
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("service_state")


def _batches(*columns):
    """(phone_number, *columns) rows, BATCH at a time in phone_number order."""
    connection = op.get_bind()
    last = ""
    while rows := connection.execute(
        sa.select(users.c.phone_number, *columns)
        .where(users.c.phone_number > last)
        .order_by(users.c.phone_number)
        .limit(BATCH)
    ).all():
        yield rows
        last = rows[-1][0]


def _update(params: list[dict], **values) -> None:
    """One executemany per batch (psycopg pipelines it) instead of a round trip per user."""
    if params:
        statement = users.update().where(users.c.phone_number == sa.bindparam("phone"))
        op.get_bind().execute(statement.values(**values), params)
