"""handled_messages.user_phone and inbound_price_usd: what receiving a keyword cost

Revision ID: 0032_cost14_keyword_charges
Revises: 0031_api14_task_lease
Create Date: 2026-12-06 18:00:00

Twilio bills every text it receives for us, and 0030 charged each one stored as a task;
those acted on without a task (STOP, START, HELP, our own commands, a text from an opted-out
texter) kept no charge, so what each texter costs undercounted them. The INSERT that
records such a text's MessageSid now gives its price and number, and a trigger
(sms_agent/models/inbound_charges.py) writes the charge and empties both in the same
statement: a stored row of handled_messages still says nothing about a texter. The texts
handled before it kept no number, so they cannot be charged.
"""

import sqlalchemy as sa
from alembic import op

from sms_agent.models import inbound_charges

revision = "0032_cost14_keyword_charges"
down_revision = "0031_api14_task_lease"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("handled_messages", sa.Column("user_phone", sa.String(length=20)))
    op.add_column("handled_messages", sa.Column("inbound_price_usd", sa.Numeric(12, 6)))
    connection = op.get_bind()
    inbound_charges.drop_triggers(connection)
    inbound_charges.create_triggers(connection)


def downgrade():
    connection = op.get_bind()
    inbound_charges.drop_triggers(connection)
    inbound_charges.create_triggers(connection, handled=False)
    op.execute("ALTER TABLE handled_messages DROP COLUMN inbound_price_usd")
    op.execute("ALTER TABLE handled_messages DROP COLUMN user_phone")
