"""A deleted texter's SMS and model calls stay in the spend, without their number

Revision ID: 0015_keep_deleted_texters_spend
Revises: 0014_task_cost_by_triggers
Create Date: 2026-12-08 10:00:00

Deleting a texter took their model calls with it (ON DELETE CASCADE), taking paid-for money
out of the spend, and left the SMS sent to them under their number, where the next texter
of that number found them (thread, export, cost, spend cap). Both ledgers' number becomes
nullable, model calls lose their texter instead of being deleted, and a BEFORE DELETE
trigger on users detaches and anonymises the texter's ledger rows (see
sms_agent/models/forgetting.py). The SMS of numbers deleted before it are anonymised now,
and the spend rollups recounted (those rows leave spend_monthly).
"""

import sqlalchemy as sa
from alembic import op

from sms_agent.models import forgetting, spend_rollups

revision = "0015_keep_deleted_texters_spend"
down_revision = "0014_task_cost_by_triggers"
branch_labels = None
depends_on = None

# PostgreSQL's name for the unnamed foreign key; SQLite's batch mode names it the same way.
USER_FK = "model_calls_user_phone_fkey"
NAMING = {"fk": "%(table_name)s_%(column_0_name)s_fkey"}


def _user_phone(ondelete: str, nullable: bool) -> None:
    with op.batch_alter_table("model_calls", naming_convention=NAMING) as batch_op:
        batch_op.drop_constraint(USER_FK, type_="foreignkey")
        batch_op.alter_column("user_phone", existing_type=sa.String(20), nullable=nullable)
        batch_op.create_foreign_key(
            USER_FK, "users", ["user_phone"], ["phone_number"], ondelete=ondelete
        )
    with op.batch_alter_table("outbound_messages") as batch_op:
        batch_op.alter_column("to_number", existing_type=sa.String(20), nullable=nullable)


def upgrade():
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        # Writers of the ledgers and deleters of texters wait until all is in place.
        op.execute("LOCK TABLE users, outbound_messages, model_calls IN SHARE ROW EXCLUSIVE MODE")
    # SQLite's batch mode rebuilds both ledgers, which drops their triggers.
    spend_rollups.drop_triggers(connection, inbound=False)
    _user_phone("SET NULL", nullable=True)
    # Their new form (NULL numbers in no month), before 0018's task costs.
    spend_rollups.create_triggers(connection, task_costs=False, sms_entries=False, inbound=False)
    forgetting.forget_former_texters(connection)
    spend_rollups.rebuild(connection, sms_entries=False, inbound=False)
    forgetting.create_triggers(connection, inbound=False)


def downgrade():
    connection = op.get_bind()
    forgetting.drop_triggers(connection, function=True)
    spend_rollups.drop_triggers(connection, inbound=False)
    # Before 0015 a texter's model calls went with them, and every SMS had a number.
    op.execute("DELETE FROM model_calls WHERE user_phone IS NULL")
    op.execute("UPDATE outbound_messages SET to_number = '' WHERE to_number IS NULL")
    _user_phone("CASCADE", nullable=False)
    spend_rollups.create_triggers(connection, task_costs=False, sms_entries=False, inbound=False)
    spend_rollups.rebuild(connection, sms_entries=False, inbound=False)
    spend_rollups.recount_task_costs(connection, task_costs=False, inbound=False)
