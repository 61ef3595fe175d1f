"""Task rollups sum their tasks' costs, so spend per category, status or day is read from them

Revision ID: 0018_task_rollup_costs
Revises: 0017_rollups_at_commit
Create Date: 2026-12-05 04:00:00

`/api/tasks/analytics/` with a filter the task rollups answer (category, status, success,
whole days) read its task numbers from them but summed its spend over every matching task's
ledger rows: 0.6-1.7 s at 1,000,000 tasks, where the same numbers unfiltered take a few
milliseconds. Each task now keeps the SMS part of its cost (tasks.sms_cost_usd, beside
cost_usd), and each task rollup bucket the sums of both (cost_micro, sms_micro): the
ledgers' triggers add an amount to the task's bucket as they add it to the task, and a task
that changes bucket takes its costs along. Both are counted once from the ledgers here.
"""

import sqlalchemy as sa
from alembic import op

from sms_agent.models import rollups, spend_rollups

revision = "0018_task_rollup_costs"
down_revision = "0017_rollups_at_commit"
branch_labels = None
depends_on = None


def upgrade():
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        # Writers of tasks and ledgers wait until the costs are counted and the triggers in place.
        op.execute(
            "LOCK TABLE tasks, outbound_messages, model_calls IN SHARE ROW EXCLUSIVE MODE"
        )
    rollups.drop_triggers(connection)
    spend_rollups.drop_triggers(connection, inbound=False)
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.add_column(
            sa.Column("sms_cost_usd", sa.Numeric(12, 6), nullable=False, server_default="0")
        )
    with op.batch_alter_table("task_rollups") as batch_op:
        for column in ("cost_micro", "sms_micro"):
            batch_op.add_column(
                sa.Column(column, sa.BigInteger(), nullable=False, server_default="0")
            )
    spend_rollups.recount_task_costs(connection, inbound=False)
    rollups.create_triggers(connection)
    spend_rollups.create_triggers(connection, sms_entries=False, inbound=False)
    rollups.rebuild(connection)


def downgrade():
    connection = op.get_bind()
    rollups.drop_triggers(connection)
    spend_rollups.drop_triggers(connection, inbound=False)
    with op.batch_alter_table("task_rollups") as batch_op:
        batch_op.drop_column("sms_micro")
        batch_op.drop_column("cost_micro")
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_column("sms_cost_usd")
    rollups.create_triggers(connection, task_costs=False)
    spend_rollups.create_triggers(connection, task_costs=False, sms_entries=False, inbound=False)
