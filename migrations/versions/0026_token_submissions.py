"""api_tokens.submission: one token per admin form submission

Revision ID: 0026_token_submissions
Revises: 0025_deleted_task_sids
Create Date: 2026-12-05 18:20:00

A double click on Create (or a resent form) in the admin's API tokens made two tokens; the
key of each rendering of the form is now kept on the token it made, unique, so a second
post of it makes none. Tokens made before (and by `flask token create`) have none.
"""

import sqlalchemy as sa
from alembic import op

revision = "0026_token_submissions"
down_revision = "0025_deleted_task_sids"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.add_column(sa.Column("submission", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint("uq_api_tokens_submission", ["submission"])


def downgrade():
    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.drop_constraint("uq_api_tokens_submission", type_="unique")
        batch_op.drop_column("submission")
