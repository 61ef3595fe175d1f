"""Analytics rollups: tasks per day/category/status/success, per hour, per texter/category

Revision ID: 0008_analytics_rollups
Revises: 0007_task_refusal_reason
Create Date: 2026-12-03 16:00:00

Three tables kept exact by triggers on `tasks` (see sms_agent/models/rollups.py), created
and then filled from the existing tasks in one INSERT ... SELECT each, in the same
transaction (PostgreSQL) or under SQLite's single write lock, so no task written meanwhile
is missed. The trigger SQL is the application's (`create_triggers`): a later change to it
comes with a migration of its own that drops and creates them again.
"""

import sqlalchemy as sa
from alembic import op

from sms_agent.models.rollups import create_triggers, drop_triggers, rebuild

revision = "0008_analytics_rollups"
down_revision = "0007_task_refusal_reason"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "task_rollups",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("tasks", sa.Integer(), nullable=False),
        sa.Column("processing_time_sum", sa.Float(), nullable=False),
        sa.Column("processing_time_count", sa.Integer(), nullable=False),
        sa.Column("tokens_used_sum", sa.BigInteger(), nullable=False),
        sa.Column("tokens_used_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "category", "status", "success"),
    )
    op.create_table(
        "task_hourly_counts",
        sa.Column("hour", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("tasks", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hour"),
    )
    op.create_table(
        "user_task_rollups",
        sa.Column("user_phone", sa.String(length=20), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("tasks", sa.Integer(), nullable=False),
        sa.Column("successful", sa.Integer(), nullable=False),
        sa.Column("processing_time_sum", sa.Float(), nullable=False),
        sa.Column("processing_time_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["user_phone"], ["users.phone_number"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_phone", "category"),
    )
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        # Writers of tasks wait until the rollups are filled and the triggers are in place.
        op.execute("LOCK TABLE tasks IN SHARE ROW EXCLUSIVE MODE")
    create_triggers(connection, task_costs=False)  # costs come in 0018
    rebuild(connection, task_costs=False)


def downgrade():
    drop_triggers(op.get_bind(), function=True)
    op.drop_table("user_task_rollups")
    op.drop_table("task_hourly_counts")
    op.drop_table("task_rollups")
