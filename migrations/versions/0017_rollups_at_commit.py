"""Rollup triggers run at commit on PostgreSQL

Revision ID: 0017_rollups_at_commit
Revises: 0016_quota_window_start
Create Date: 2026-12-05 02:00:00

The task and spend rollup triggers become deferred constraint triggers on PostgreSQL
(sms_agent/models/at_commit.py): a bucket every writer of the day adds to is locked only
while a transaction commits, not from its first write on. They count the same, so nothing
is recounted; the task's cost now moves before the spend rows, the order every writer
takes them in. SQLite's triggers are unchanged (one writer at a time).
"""

from alembic import op

from sms_agent.models import rollups, spend_rollups

revision = "0017_rollups_at_commit"
down_revision = "0016_quota_window_start"
branch_labels = None
depends_on = None


def upgrade():
    connection = op.get_bind()
    if connection.dialect.name != "postgresql":
        return
    # CREATE OR REPLACE of the functions too, in their form before 0018 (and 0021).
    rollups.drop_triggers(connection)
    rollups.create_triggers(connection, task_costs=False)
    spend_rollups.drop_triggers(connection, inbound=False)
    spend_rollups.create_triggers(connection, task_costs=False, sms_entries=False, inbound=False)


def downgrade():
    # The triggers in place count the same under 0016; they stay.
    pass
