"""Task cost: kept by the ledgers' triggers instead of a sum in every UPDATE of a task

Revision ID: 0014_task_cost_by_triggers
Revises: 0013_claims_skip_hourly_rollup
Create Date: 2026-12-07 15:00:00

tasks.cost_usd was recomputed in the worker's UPDATEs of the task, as two correlated sums
over the ledgers. The triggers that keep the spend rollups (0012) now also add each ledger
row's amount to its task, and every task's cost is counted once more from the ledgers.
"""

from alembic import op

from sms_agent.models.spend_rollups import create_triggers, drop_triggers, recount_task_costs

revision = "0014_task_cost_by_triggers"
down_revision = "0013_claims_skip_hourly_rollup"
branch_labels = None
depends_on = None


def upgrade():
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        # Writers of the ledgers wait until the costs are counted and the triggers in place.
        op.execute("LOCK TABLE outbound_messages, model_calls IN SHARE ROW EXCLUSIVE MODE")
    drop_triggers(connection, inbound=False)
    # On PostgreSQL, CREATE OR REPLACE of the functions too; in their form before 0018.
    create_triggers(connection, task_costs=False, sms_entries=False, inbound=False)
    recount_task_costs(connection, task_costs=False, inbound=False)


def downgrade():
    # The triggers keep the costs that 0013's code would compute; they stay (0012's
    # downgrade drops them).
    pass
