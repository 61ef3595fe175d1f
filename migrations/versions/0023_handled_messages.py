"""handled_messages: the MessageSid of every text acted on without a task

Revision ID: 0023_handled_messages
Revises: 0022_fresh_message_rowids
Create Date: 2026-12-05 15:10:00

A keyword's MessageSid was kept only in the texter's last 20 (service_state handled_sids),
so a captured, signed START posted again after 20 newer keywords opted the texter back in.
Every such sid now gets a row (sms_agent/inbound/store.py); the upgrade copies the sids the
texters' lists still hold, which stay there (unused) for a downgrade.
"""

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0023_handled_messages"
down_revision = "0022_fresh_message_rowids"
branch_labels = None
depends_on = None


def upgrade():
    handled = op.create_table(
        "handled_messages",
        sa.Column("message_sid", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("message_sid"),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT service_state FROM users"))
    sids = set()
    for (state,) in rows:
        state = json.loads(state) if isinstance(state, str) else state or {}
        sids.update(state.get("handled_sids", []))
    now = datetime.now(UTC)
    if sids:
        op.bulk_insert(handled, [{"message_sid": sid, "created_at": now} for sid in sids])


def downgrade():
    op.drop_table("handled_messages")
