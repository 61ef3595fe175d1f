"""Messages record the transaction that wrote them, on PostgreSQL

Revision ID: 0020_message_write_marks
Revises: 0019_staff_username_key
Create Date: 2026-12-05 10:30:00

tasks and outbound_messages get `write_xid` (xid8, default pg_current_xact_id()) and an
index on (number, write_xid), so the API's message cursor polls by what committed, not by
the time a writer stamped (sms_agent/models/write_marks.py). Existing rows keep NULL: they
committed before any cursor. SQLite needs nothing (its rowids come in commit order).
"""

from alembic import op

from sms_agent.models import write_marks

revision = "0020_message_write_marks"
down_revision = "0019_staff_username_key"
branch_labels = None
depends_on = None


def upgrade():
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        # The migrations share one transaction: earlier ones' writes left deferred rollup
        # triggers pending, and PostgreSQL alters no table with pending trigger events.
        connection.exec_driver_sql("SET CONSTRAINTS ALL IMMEDIATE")
    write_marks.install(connection)


def downgrade():
    write_marks.uninstall(op.get_bind())
