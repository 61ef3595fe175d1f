"""tasks.lease_at: the worker's clock, apart from updated_at

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
"""

import sqlalchemy as sa
from alembic import op

revision = "0031_api14_task_lease"
down_revision = "0030_cost13_inbound_cost"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("tasks", sa.Column("lease_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE tasks SET lease_at = updated_at WHERE status IN ('queued', 'processing')"
    )
    op.drop_index("ix_tasks_status_updated_at", table_name="tasks")
    op.create_index("ix_tasks_status_lease_at", "tasks", ["status", "lease_at"])


def downgrade():
    op.drop_index("ix_tasks_status_lease_at", table_name="tasks")
    op.create_index("ix_tasks_status_updated_at", "tasks", ["status", "updated_at"])
    # The sweeper's clock goes back where it was kept: a deferred task keeps its slot.
    op.execute(
        "UPDATE tasks SET updated_at = lease_at"
        " WHERE status IN ('queued', 'processing') AND lease_at IS NOT NULL"
    )
    op.execute("ALTER TABLE tasks DROP COLUMN lease_at")
