"""model_calls.cached_tokens: the prompt tokens a call read from the server's prompt cache

Revision ID: 0034_cost23_cached_tokens
Revises: 0033_cost22_pending_mores
Create Date: 2026-12-07 20:50:00

OpenAI bills the prompt tokens it read from its prompt cache at MODEL_PRICES' cached_input,
and a call's cost_usd is priced so; the call kept only its prompt tokens, so its cost could
not be told from its tokens, and the export showed the tokens without what made them
cheaper. Calls recorded before the upgrade count 0 (their cost stays as priced).
"""

import sqlalchemy as sa
from alembic import op

revision = "0034_cost23_cached_tokens"
down_revision = "0033_cost22_pending_mores"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "model_calls",
        sa.Column("cached_tokens", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade():
    op.execute("ALTER TABLE model_calls DROP COLUMN cached_tokens")
