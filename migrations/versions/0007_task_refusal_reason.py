"""Task.refusal_reason: texts refused for quota are stored, with their reason

Revision ID: 0007_task_refusal_reason
Revises: 0005_task_quota_window
Create Date: 2026-12-03 15:00:00

A text refused for the quota used to leave no row; staff could not see it. From this revision
on it is stored as a task with status "refused" and the reason (over_quota; over_spend and
rate_limited are reserved for the limits to come). status is a plain string column, so the
new status needs no schema change. Downgrading keeps the refused texts as failed tasks
with the reason in error_message (the older code knows no "refused" status).
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_task_refusal_reason"
down_revision = "0005_task_quota_window"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.add_column(sa.Column("refusal_reason", sa.String(length=20), nullable=True))


def downgrade():
    op.execute(
        "UPDATE tasks SET status = 'failed',"
        " error_message = 'refused: ' || COALESCE(refusal_reason, 'unknown')"
        " WHERE status = 'refused'"
    )
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_column("refusal_reason")
