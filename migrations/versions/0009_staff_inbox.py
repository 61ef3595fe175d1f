"""Staff inbox: conversations (ai, waiting, staff) and the staff author of an SMS

Revision ID: 0009_staff_inbox
Revises: 0008_analytics_rollups
Create Date: 2026-12-10 10:00:00

A texter can ask for a person (AGENT, HUMAN, or the model's request_human tool);
users.conversation_state says who answers them (ai, waiting, staff) and the new
conversations table who holds it and what staff have not read. Texts that arrive
meanwhile are stored as refused tasks with refusal_reason held_for_staff (a plain string
column: no schema change). outbound_messages.staff_user_id names the staff member who wrote
an SMS. Downgrading drops both; held texts stay as refused tasks, which 0007 already knows.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_staff_inbox"
down_revision = "0008_analytics_rollups"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "conversations",
        sa.Column("user_phone", sa.String(length=20), nullable=False),
        sa.Column("held_by_id", sa.Integer(), nullable=True),
        sa.Column("handoff_source", sa.String(length=10), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("staff_clock_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_staff_reply_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_texter_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("unread", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["held_by_id"], ["staff_users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["user_phone"], ["users.phone_number"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_phone"),
    )
    op.create_index("ix_conversations_last_message_at", "conversations", ["last_message_at"])
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(
            sa.Column(
                "conversation_state", sa.String(length=10), nullable=False, server_default="ai"
            )
        )
        batch_op.create_index("ix_users_conversation_state", ["conversation_state"])
    with op.batch_alter_table("outbound_messages") as batch_op:
        batch_op.add_column(sa.Column("staff_user_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_outbound_messages_staff_user_id",
            "staff_users",
            ["staff_user_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade():
    with op.batch_alter_table("outbound_messages") as batch_op:
        batch_op.drop_constraint("fk_outbound_messages_staff_user_id", type_="foreignkey")
        batch_op.drop_column("staff_user_id")
    op.drop_index("ix_users_conversation_state", table_name="users")
    # Not a batch operation: on SQLite that copies the table, and dropping the old copy would
    # cascade to every texter's tasks. Both databases drop a plain column in place.
    op.execute("ALTER TABLE users DROP COLUMN conversation_state")
    op.drop_index("ix_conversations_last_message_at", table_name="conversations")
    op.drop_table("conversations")
