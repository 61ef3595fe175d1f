"""The spend rollups keep the count of SMS sent

Revision ID: 0021_count_of_sms_kept
Revises: 0020_message_write_marks
Create Date: 2026-12-05 11:00:00

spend_daily gets `sms_entries` (of its ledger rows, the SMS), kept by the spend triggers,
so the admin's Outbound messages page takes its count from a few hundred rows instead of
counting every SMS on each visit. Filled by recounting the spend rollups from the ledgers.
"""

import sqlalchemy as sa
from alembic import op

from sms_agent.models import spend_rollups

revision = "0021_count_of_sms_kept"
down_revision = "0020_message_write_marks"
branch_labels = None
depends_on = None


def upgrade():
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        # Earlier migrations' writes left deferred triggers pending (see 0020).
        connection.exec_driver_sql("SET CONSTRAINTS ALL IMMEDIATE")
    column = sa.Column("sms_entries", sa.Integer(), nullable=False, server_default="0")
    with op.batch_alter_table("spend_daily") as batch_op:
        batch_op.add_column(column)
    spend_rollups.drop_triggers(connection, inbound=False)
    spend_rollups.create_triggers(connection, inbound=False)
    spend_rollups.rebuild(connection, inbound=False)


def downgrade():
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET CONSTRAINTS ALL IMMEDIATE")
    spend_rollups.drop_triggers(connection, inbound=False)
    with op.batch_alter_table("spend_daily") as batch_op:
        batch_op.drop_column("sms_entries")
    spend_rollups.create_triggers(connection, sms_entries=False, inbound=False)
