"""sent_submissions.fingerprint and task_id: what a keyed API request asked for, and made

Revision ID: 0029_key_fingerprints
Revises: 0028_sent_submissions
Create Date: 2026-12-05 21:10:00

An Idempotency-Key sent again with another message was answered 409 already_sent, as a
retry is, so a client reusing its keys lost the second message without being told. The
hash of the message is kept with the key (handoff.fingerprint); keys stored before have
none and are read as before. POST /api/tasks/ takes an Idempotency-Key too: its key is
kept there with the task it created (task_id), so a retry creates and texts nothing more.
"""

import sqlalchemy as sa
from alembic import op

revision = "0029_key_fingerprints"
down_revision = "0028_sent_submissions"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("sent_submissions") as batch:
        batch.add_column(sa.Column("fingerprint", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("task_id", sa.Uuid(), nullable=True))


def downgrade():
    with op.batch_alter_table("sent_submissions") as batch:
        batch.drop_column("task_id")
        batch.drop_column("fingerprint")
