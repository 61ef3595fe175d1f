"""Costs: a price on every SMS, every model call priced, a cost per task, the spending day

Revision ID: 0011_costs
Revises: 0010_media_and_channels
Create Date: 2026-12-04 10:00:00

Messages sent before this revision have no price (NULL, counted as 0 in the totals) and are
marked as estimates; the price job then asks Twilio for the real price of those with a sid,
a batch at a time, as it does for new ones. Tasks start at 0 USD.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_costs"
down_revision = "0010_media_and_channels"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(12, 6)


def upgrade():
    with op.batch_alter_table("outbound_messages") as batch_op:
        batch_op.add_column(sa.Column("price_usd", MONEY, nullable=True))
        batch_op.add_column(
            sa.Column("price_estimated", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(sa.Column("price_unit", sa.String(length=3), nullable=True))
        batch_op.add_column(
            sa.Column("price_checks", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("price_checked_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_index("ix_outbound_messages_created_at", ["created_at"])
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.add_column(sa.Column("cost_usd", MONEY, nullable=False, server_default="0"))
    op.create_table(
        "model_calls",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=True),
        sa.Column("user_phone", sa.String(length=20), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", MONEY, nullable=False),
        sa.Column("priced", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["user_phone"], ["users.phone_number"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_model_calls_task_id", "model_calls", ["task_id"])
    op.create_index("ix_model_calls_user_created", "model_calls", ["user_phone", "created_at"])
    op.create_index("ix_model_calls_created_at", "model_calls", ["created_at"])
    op.create_table(
        "spend_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("cap_usd", MONEY, nullable=True),
        sa.Column("alerted_80", sa.Boolean(), nullable=False),
        sa.Column("alerted_100", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("day"),
    )


def downgrade():
    op.drop_table("spend_days")
    op.drop_index("ix_model_calls_created_at", table_name="model_calls")
    op.drop_index("ix_model_calls_user_created", table_name="model_calls")
    op.drop_index("ix_model_calls_task_id", table_name="model_calls")
    op.drop_table("model_calls")
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_column("cost_usd")
    with op.batch_alter_table("outbound_messages") as batch_op:
        batch_op.drop_index("ix_outbound_messages_created_at")
        batch_op.drop_column("price_checked_at")
        batch_op.drop_column("price_checks")
        batch_op.drop_column("price_unit")
        batch_op.drop_column("price_estimated")
        batch_op.drop_column("price_usd")
