"""StaffUser.session_token: a logout, a new password or a deactivation ends every session

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-10 09:00:00

Flask-Login now keeps "<id>:<session_token>" in the session, so a session made before
this revision (which holds only the id) is logged out once.
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0004"
# The lead re-points this to 0003 when both branches are merged.
down_revision = "0003"
branch_labels = None
depends_on = None

staff_users = sa.table("staff_users", sa.column("id", sa.Integer), sa.column("session_token"))


def upgrade():
    with op.batch_alter_table("staff_users") as batch_op:
        batch_op.add_column(sa.Column("session_token", sa.String(length=64), nullable=True))
    # Each account its own random token (staff accounts are few: one statement for all).
    connection = op.get_bind()
    ids = connection.execute(sa.select(staff_users.c.id)).scalars().all()
    if ids:
        connection.execute(
            staff_users.update()
            .where(staff_users.c.id == sa.bindparam("staff_id"))
            .values(session_token=sa.bindparam("token")),
            [{"staff_id": staff_id, "token": secrets.token_urlsafe(32)} for staff_id in ids],
        )
    with op.batch_alter_table("staff_users") as batch_op:
        batch_op.alter_column("session_token", existing_type=sa.String(length=64), nullable=False)


def downgrade():
    with op.batch_alter_table("staff_users") as batch_op:
        batch_op.drop_column("session_token")
