"""Pictures, voice notes and WhatsApp: task_media, users.channel and
users.last_whatsapp_at, outbound_messages.channel

Revision ID: 0010_media_and_channels
Revises: 0009_staff_inbox
Create Date: 2026-12-10 10:00:00

Each picture or voice note sent with a task gets a task_media row (type, size, sha256, a
picture's bytes for staff's thumbnail, a voice note's transcript). A texter's channel (sms or
whatsapp) says where answers go, and the time they last wrote on WhatsApp whether WhatsApp's
24-hour window is open; existing texters and messages are SMS.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_media_and_channels"
down_revision = "0009_staff_inbox"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "task_media",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.Column("transcript", sa.Text(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("task_id", "position", name="uq_task_media_position"),
    )
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(
            sa.Column("channel", sa.String(length=10), nullable=False, server_default="sms")
        )
        batch_op.add_column(sa.Column("last_whatsapp_at", sa.DateTime(timezone=True)))
    with op.batch_alter_table("outbound_messages") as batch_op:
        batch_op.add_column(
            sa.Column("channel", sa.String(length=10), nullable=False, server_default="sms")
        )


def downgrade():
    # recreate="never": SQLite drops the columns in place (3.35+). Recreating the users
    # table would drop it first, and its ON DELETE CASCADE would take every task with it.
    with op.batch_alter_table("outbound_messages", recreate="never") as batch_op:
        batch_op.drop_column("channel")
    with op.batch_alter_table("users", recreate="never") as batch_op:
        batch_op.drop_column("last_whatsapp_at")
        batch_op.drop_column("channel")
    op.drop_table("task_media")
