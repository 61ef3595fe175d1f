"""Task.quota_window: a request counts against the quota when it is admitted

Revision ID: 0005_task_quota_window
Revises: 0004
Create Date: 2026-12-03 14:30:00

Until now a request counted when its task completed. From this revision on it counts when
it is admitted, and the task remembers the window it was counted in, so that a failure can
give it back. Tasks still queued or processing at upgrade time were admitted under the old
rule and not counted yet: they are counted now, so the counters stay exact across a deploy.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_task_quota_window"
down_revision = "0004"
branch_labels = None
depends_on = None

_IN_FLIGHT = "status IN ('queued', 'processing')"


def upgrade():
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.add_column(sa.Column("quota_window", sa.DateTime(timezone=True), nullable=True))
    in_flight = (
        f"(SELECT count(*) FROM tasks WHERE tasks.user_phone = users.phone_number AND {_IN_FLIGHT})"
    )
    op.execute(
        f"UPDATE users SET monthly_requests = monthly_requests + {in_flight},"
        f" total_requests = total_requests + {in_flight}"
        f" WHERE EXISTS (SELECT 1 FROM tasks WHERE tasks.user_phone = users.phone_number"
        f" AND {_IN_FLIGHT})"
    )
    op.execute(
        "UPDATE tasks SET quota_window = (SELECT rate_limit_reset FROM users"
        f" WHERE users.phone_number = tasks.user_phone) WHERE {_IN_FLIGHT}"
    )


def downgrade():
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_column("quota_window")
