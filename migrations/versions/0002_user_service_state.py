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


def upgrade():
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(
            sa.Column("service_state", JSON, server_default=sa.text("'{}'"), nullable=False)
        )
    connection = op.get_bind()
    for phone, preferences in connection.execute(sa.select(users.c.phone_number, users.c.preferences)):
        preferences = dict(preferences or {})
        state = {key: preferences.pop(key) for key in SERVICE_KEYS if key in preferences}
        if state:
            connection.execute(
                users.update()
                .where(users.c.phone_number == phone)
                .values(preferences=preferences, service_state=state)
            )


def downgrade():
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(users.c.phone_number, users.c.preferences, users.c.service_state)
    )
    for phone, preferences, state in rows:
        if state:
            connection.execute(
                users.update()
                .where(users.c.phone_number == phone)
                .values(preferences={**(preferences or {}), **state})
            )
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("service_state")
