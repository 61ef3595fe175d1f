"""Spend rollups: the two ledgers summed per day and per texter and month by triggers

Revision ID: 0012_spend_rollups
Revises: 0011_costs
Create Date: 2026-12-05 08:00:00

Two tables kept exact by triggers on `outbound_messages` and `model_calls` (see
sms_agent/models/spend_rollups.py), filled from the ledgers as they stand, so the spend in
/api/analytics/, /api/tasks/analytics/ and on the dashboard no longer sums every ledger row.
"""

import sqlalchemy as sa
from alembic import op

from sms_agent.models.spend_rollups import create_triggers, drop_triggers, rebuild

revision = "0012_spend_rollups"
down_revision = "0011_costs"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "spend_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("on_task", sa.Boolean(), nullable=False),
        sa.Column("sms_micro", sa.BigInteger(), nullable=False),
        sa.Column("model_micro", sa.BigInteger(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "on_task"),
    )
    op.create_table(
        "spend_monthly",
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("sms_micro", sa.BigInteger(), nullable=False),
        sa.Column("model_micro", sa.BigInteger(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("phone", "month"),
    )
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        # Writers of the ledgers wait until the rollups are filled and the triggers in place.
        op.execute("LOCK TABLE outbound_messages, model_calls IN SHARE ROW EXCLUSIVE MODE")
    # Tasks' SMS costs come in 0018, the count of SMS in 0021.
    create_triggers(connection, task_costs=False, sms_entries=False, inbound=False)
    rebuild(connection, sms_entries=False, inbound=False)


def downgrade():
    drop_triggers(op.get_bind(), function=True, inbound=False)
    op.drop_table("spend_monthly")
    op.drop_table("spend_daily")
