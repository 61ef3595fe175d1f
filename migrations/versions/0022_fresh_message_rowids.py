"""Messages never reuse a deleted message's rowid, on SQLite

Revision ID: 0022_fresh_message_rowids
Revises: 0021_count_of_sms_kept
Create Date: 2026-12-05 12:30:00

SQLite gives a new row the table's highest rowid + 1, so after the newest text or SMS was
deleted the next one took its rowid and sorted before a message cursor that had seen the
deleted one: a poller missed it. tasks and outbound_messages get triggers that keep their
rowids fresh, and message_rowids_used the highest rowid deleted while newest
(sms_agent/models/write_marks.py). PostgreSQL needs nothing (its marks are transactions).
"""

from alembic import op

from sms_agent.models import write_marks

revision = "0022_fresh_message_rowids"
down_revision = "0021_count_of_sms_kept"
branch_labels = None
depends_on = None


def upgrade():
    write_marks.install_fresh_rowids(op.get_bind())


def downgrade():
    write_marks.uninstall_fresh_rowids(op.get_bind())
