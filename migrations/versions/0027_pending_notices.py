"""pending_notices: notices a webhook could not queue while the broker was down

Revision ID: 0027_pending_notices
Revises: 0026_token_submissions
Create Date: 2026-12-05 18:30:00

The sweeper queues them once the broker is back (sms_agent/models/pending.py).
"""

import sqlalchemy as sa
from alembic import op

revision = "0027_pending_notices"
down_revision = "0026_token_submissions"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "pending_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("reply_to", sa.String(length=64), nullable=True),
        sa.Column("sender", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade():
    op.drop_table("pending_notices")
