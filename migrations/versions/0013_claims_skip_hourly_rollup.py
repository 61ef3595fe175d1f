"""Task rollup triggers: a claim no longer rewrites the hourly and per-user counts

Revision ID: 0013_claims_skip_hourly_rollup
Revises: 0012_spend_rollups
Create Date: 2026-12-06 11:00:00

The per-user and hourly counts read a task's status only as taken on or refused, but their
triggers fired on any status change and rewrote the same bucket (take one away, add it
back). A claim (queued to processing) and a completion thus locked the hour's row, which
every webhook of that hour writes too, and waited behind them. The counts are the same either way, so
nothing is recounted; the triggers are installed again in their new form.
"""

from alembic import op

from sms_agent.models.rollups import create_triggers, drop_triggers

revision = "0013_claims_skip_hourly_rollup"
down_revision = "0012_spend_rollups"
branch_labels = None
depends_on = None


def upgrade():
    connection = op.get_bind()
    drop_triggers(connection)
    create_triggers(connection, task_costs=False)  # (0018's costs not yet); on PostgreSQL, CREATE OR REPLACE of the function too


def downgrade():
    # The old triggers counted the same; the ones in place stay correct under 0012.
    pass
