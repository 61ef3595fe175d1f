"""sent_submissions: every key a staff form or an API Idempotency-Key sent a text with

Revision ID: 0028_sent_submissions
Revises: 0027_pending_notices
Create Date: 2026-12-05 19:10:00

The keys were kept in the texter's last 20 (service_state staff_submissions), so an API
client retrying a send after 20 other keyed sends to the same texter texted them twice.
Every key now gets a row, with the answer its request got (sms_agent/models/submissions.py);
the upgrade copies the keys the texters' lists still hold (their answers unknown), which
stay there (unused) for a downgrade.
"""

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0028_sent_submissions"
down_revision = "0027_pending_notices"
branch_labels = None
depends_on = None


def upgrade():
    sent = op.create_table(
        "sent_submissions",
        sa.Column("user_phone", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message_sid", sa.String(length=64), nullable=True),
        sa.Column("messages", sa.Integer(), nullable=True),
        sa.Column("shortened", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(["user_phone"], ["users.phone_number"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_phone", "key"),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT phone_number, service_state FROM users"))
    now = datetime.now(UTC)
    keys = []
    for phone, state in rows:
        state = json.loads(state) if isinstance(state, str) else state or {}
        for key in dict.fromkeys(state.get("staff_submissions", [])):
            keys.append({"user_phone": phone, "key": key, "created_at": now})
    if keys:
        op.bulk_insert(sent, keys)


def downgrade():
    op.drop_table("sent_submissions")
