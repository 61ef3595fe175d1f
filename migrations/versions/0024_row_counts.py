"""row_counts: the kept number of users and of error logs

Revision ID: 0024_row_counts
Revises: 0023_handled_messages
Create Date: 2026-12-05 15:20:00

The admin's Users and Error logs lists counted every row on each page (slow at 1,000,000
rows); triggers on both tables now keep their counts (sms_agent/models/row_counts.py),
counted once here from the rows there are.
"""

import sqlalchemy as sa
from alembic import op

from sms_agent.models import row_counts

revision = "0024_row_counts"
down_revision = "0023_handled_messages"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "row_counts",
        sa.Column("table_name", sa.String(length=40), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("table_name"),
    )
    connection = op.get_bind()
    row_counts.create_triggers(connection)
    row_counts.rebuild(connection)


def downgrade():
    row_counts.drop_triggers(op.get_bind())
    op.drop_table("row_counts")
