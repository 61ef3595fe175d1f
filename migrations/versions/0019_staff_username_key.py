"""StaffUser.username_key: usernames differ in more than letter case, and log in in any case

Revision ID: 0019_staff_username_key
Revises: 0018_task_rollup_costs
Create Date: 2026-12-05 10:30:00

"Ann" could not log in as "ann", and "Ann" and "ann" could both be created. Each account now
keeps its username case-folded, unique, and a login looks it up by that.

Accounts made before may already differ only in case. None is renamed or locked out here:
the oldest of such a group gets the key, the others keep none (a NULL, which the unique
constraint allows) and log in by their exact name as before; the upgrade names them, so an
admin can rename them (the admin's form asks for that before it saves such an account).
"""

import logging

import sqlalchemy as sa
from alembic import op

from sms_agent.models.staff import username_key

revision = "0019_staff_username_key"
down_revision = "0018_task_rollup_costs"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

staff_users = sa.table(
    "staff_users",
    sa.column("id", sa.Integer),
    sa.column("username", sa.String),
    sa.column("username_key", sa.String),
)


def upgrade():
    with op.batch_alter_table("staff_users") as batch_op:
        batch_op.add_column(sa.Column("username_key", sa.String(length=240), nullable=True))
    connection = op.get_bind()
    accounts = connection.execute(
        sa.select(staff_users.c.id, staff_users.c.username).order_by(staff_users.c.id)
    ).all()
    keyed: dict[str, str] = {}
    for staff_id, username in accounts:
        key = username_key(username)
        if key in keyed:
            log.warning(
                "staff user %r differs from %r only in letter case: it logs in by its exact"
                " name until an admin renames it",
                username,
                keyed[key],
            )
            continue
        keyed[key] = username
        connection.execute(
            staff_users.update().where(staff_users.c.id == staff_id).values(username_key=key)
        )
    with op.batch_alter_table("staff_users") as batch_op:
        batch_op.create_unique_constraint("uq_staff_users_username_key", ["username_key"])


def downgrade():
    with op.batch_alter_table("staff_users") as batch_op:
        batch_op.drop_constraint("uq_staff_users_username_key", type_="unique")
        batch_op.drop_column("username_key")
