"""tasks.lease_at: the worker's clock, apart from updated_at, which a cost moves

Revision ID: 0031_api14_task_lease
Revises: 0030_cost13_inbound_cost
Create Date: 2026-12-06 17:45:00

A task's updated_at was also the sweeper's clock: a claim taken over from a dead worker, a
queued task's job sent again, a deferred answer's sending slot (in the future) all moved it,
so a REST client's write on the task as it had read it got a 412 although nothing it reads
had changed. The clock moves to lease_at (sms_agent/models/tasks.py), which the sweeper's
index now covers; updated_at moves only with what the API shows of the task.

Only unfinished tasks (queued, processing) are given a lease, their updated_at: the sweeper
looks at no other. A finished task keeps none until a write moves it.

The ledgers' triggers, which add each SMS, model call and received text's price to its
task's cost_usd, now move its updated_at in the same UPDATE (models/spend_rollups.py): the
cost is part of what the API shows of a task, so a client's copy of one whose cost changed
is no longer taken for current.
"""

import sqlalchemy as sa
from alembic import op

from sms_agent.models import spend_rollups

revision = "0031_api14_task_lease"
down_revision = "0030_cost13_inbound_cost"
branch_labels = None
depends_on = None


def _redate_costs(connection: sa.Connection, dated: bool) -> None:
    """The ledgers' triggers installed again, moving updated_at with the cost or not."""
    if connection.dialect.name == "postgresql":
        # Writers of the ledgers wait until the new triggers are in place.
        op.execute(
            "LOCK TABLE tasks, outbound_messages, model_calls, inbound_charges"
            " IN SHARE ROW EXCLUSIVE MODE"
        )
    spend_rollups.drop_triggers(connection)
    spend_rollups.create_triggers(connection, dated=dated)


def upgrade():
    _redate_costs(op.get_bind(), dated=True)
    op.add_column("tasks", sa.Column("lease_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE tasks SET lease_at = updated_at WHERE status IN ('queued', 'processing')"
    )
    op.drop_index("ix_tasks_status_updated_at", table_name="tasks")
    op.create_index("ix_tasks_status_lease_at", "tasks", ["status", "lease_at"])


def downgrade():
    _redate_costs(op.get_bind(), dated=False)
    op.drop_index("ix_tasks_status_lease_at", table_name="tasks")
    op.create_index("ix_tasks_status_updated_at", "tasks", ["status", "updated_at"])
    # The sweeper's clock goes back where it was kept: a deferred task keeps its slot.
    op.execute(
        "UPDATE tasks SET updated_at = lease_at"
        " WHERE status IN ('queued', 'processing') AND lease_at IS NOT NULL"
    )
    op.execute("ALTER TABLE tasks DROP COLUMN lease_at")
