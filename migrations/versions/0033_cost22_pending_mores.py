"""users.more_asked_at: which texters have a MORE's part still to be sent, indexed

Revision ID: 0033_cost22_pending_mores
Revises: 0032_cost14_keyword_charges
Create Date: 2026-12-07 18:10:00

A MORE admitted waits in its texter's service_state until a job takes its part, and counts
against the spend caps as an answer under way (User.more_parts_pending). The daily cap
counted it only when that texter texted again: every other texter's admission read the
answers under way from the tasks alone. The time of the texter's latest MORE still to be
sent, NULL when none is, lets the statement that reads the day's answers under way find
them through a partial index (a row per texter with one). MOREs asked before the upgrade
count for their own texter as before, and leave the caps within a day.
"""

import sqlalchemy as sa
from alembic import op

revision = "0033_cost22_pending_mores"
down_revision = "0032_cost14_keyword_charges"
branch_labels = None
depends_on = None

_ASKED = sa.text("more_asked_at IS NOT NULL")


def upgrade():
    op.add_column("users", sa.Column("more_asked_at", sa.DateTime(timezone=True)))
    op.create_index(
        "ix_users_more_asked_at",
        "users",
        ["more_asked_at"],
        postgresql_where=_ASKED,
        sqlite_where=_ASKED,
    )


def downgrade():
    op.drop_index("ix_users_more_asked_at", table_name="users")
    op.execute("ALTER TABLE users DROP COLUMN more_asked_at")
