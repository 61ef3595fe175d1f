"""inbound_charges and tasks.inbound_price_usd: what Twilio bills for each text it receives

Revision ID: 0030_cost13_inbound_cost
Revises: 0029_key_fingerprints
Create Date: 2026-12-06 14:45:00

Twilio bills every message it receives for us (an SMS per segment, an MMS or a WhatsApp
message per message), answered or refused, and no report counted it. The webhook now prices
each text in the INSERT that stores its task, and a trigger writes that price to a third
ledger, inbound_charges (sms_agent/models/inbound_charges.py), which the spend rollups and
the task's cost count with the SMS.

The texts stored before are priced here, at the inbound prices configured now: a WhatsApp
text (written to our whatsapp: number) at WHATSAPP_INBOUND_PRICE, one with attachments at
MMS_INBOUND_PRICE, any other at SMS_INBOUND_PRICE per segment (as many as its length takes in
GSM-7). Tasks not received from Twilio (made by the API) have no MessageSid and no charge.
The rollups and every task's cost are then counted again from the ledgers.
"""

import sqlalchemy as sa
from alembic import op

from sms_agent.costs.prices import inbound_price
from sms_agent.models import forgetting, inbound_charges, rollups, spend_rollups

revision = "0030_cost13_inbound_cost"
down_revision = "0029_key_fingerprints"
branch_labels = None
depends_on = None

_JSON = {
    "postgresql": {
        "num_media": "(CASE jsonb_typeof(metadata->'num_media')"
        " WHEN 'number' THEN (metadata->>'num_media')::numeric ELSE 0 END)",
        "our_number": "(metadata->>'our_number')",
    },
    "sqlite": {
        "num_media": "coalesce(json_extract(metadata, '$.num_media'), 0)",
        "our_number": "json_extract(metadata, '$.our_number')",
    },
}


def _backfill(connection: sa.Connection) -> None:
    """Price each text stored before at the prices configured now (a price of 0: none)."""
    json = _JSON[connection.dialect.name]
    whatsapp, mms = inbound_price(True, 0, 1), inbound_price(False, 1, 1)
    per_segment = inbound_price(False, 0, 1)
    # A long SMS travels as 153-character segments; one of up to 160 is a single one.
    length = "length(sms_content)"
    segments = f"(CASE WHEN {length} <= 160 THEN 1 ELSE ({length} + 152) / 153 END)"
    price = (
        f"CASE WHEN substr({json['our_number']}, 1, 9) = 'whatsapp:' THEN {whatsapp}"
        f" WHEN {json['num_media']} > 0 THEN {mms}"
        f" ELSE {per_segment} * {segments} END"
    )
    connection.exec_driver_sql(
        f"UPDATE tasks SET inbound_price_usd = nullif({price}, 0) WHERE message_sid IS NOT NULL"
    )
    new_id = inbound_charges._NEW_ID[connection.dialect.name]
    connection.exec_driver_sql(
        "INSERT INTO inbound_charges (id, task_id, user_phone, price_usd, created_at)"
        f" SELECT {new_id}, id, user_phone, inbound_price_usd, created_at FROM tasks"
        " WHERE inbound_price_usd IS NOT NULL"
    )


def upgrade():
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        # Writers of tasks and ledgers wait until the charges are counted and the triggers in place.
        op.execute("LOCK TABLE tasks, outbound_messages, model_calls IN SHARE ROW EXCLUSIVE MODE")
    spend_rollups.drop_triggers(connection, inbound=False)
    forgetting.drop_triggers(connection)
    op.add_column("tasks", sa.Column("inbound_price_usd", sa.Numeric(12, 6), nullable=True))
    op.create_table(
        "inbound_charges",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=True),
        sa.Column("user_phone", sa.String(length=20), nullable=True),
        sa.Column("price_usd", sa.Numeric(12, 6), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_inbound_charges_created_at", "inbound_charges", ["created_at"])
    op.create_index("ix_inbound_charges_task_id", "inbound_charges", ["task_id"])
    op.create_index(
        "ix_inbound_charges_user_created", "inbound_charges", ["user_phone", "created_at"]
    )
    _backfill(connection)
    spend_rollups.recount_task_costs(connection)
    spend_rollups.create_triggers(connection)
    spend_rollups.rebuild(connection)
    rollups.rebuild(connection)
    forgetting.create_triggers(connection)
    inbound_charges.create_triggers(connection, handled=False)


def downgrade():
    connection = op.get_bind()
    inbound_charges.drop_triggers(connection)
    forgetting.drop_triggers(connection)
    spend_rollups.drop_triggers(connection, function=True)
    op.drop_table("inbound_charges")
    op.execute("ALTER TABLE tasks DROP COLUMN inbound_price_usd")
    spend_rollups.recount_task_costs(connection, inbound=False)
    spend_rollups.create_triggers(connection, inbound=False)
    spend_rollups.rebuild(connection, inbound=False)
    rollups.rebuild(connection)
    forgetting.create_triggers(connection, inbound=False)
