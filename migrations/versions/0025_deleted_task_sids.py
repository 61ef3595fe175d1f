"""tasks_sid_kept: a deleted task's MessageSid stays in handled_messages

Revision ID: 0025_deleted_task_sids
Revises: 0024_row_counts
Create Date: 2026-12-05 16:10:00

Deleting a texter took their tasks and the MessageSids with them, so a captured, signed
text posted again brought the texter back and was answered again; a trigger on `tasks` now
keeps the sid of every task deleted (sms_agent/models/handled.py). Sids deleted before it
are gone.
"""

from alembic import op

from sms_agent.models import handled

revision = "0025_deleted_task_sids"
down_revision = "0024_row_counts"
branch_labels = None
depends_on = None


def upgrade():
    handled.create_triggers(op.get_bind())


def downgrade():
    handled.drop_triggers(op.get_bind())
