"""async invocation configs: destinations and retry limits per function qualifier

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_configs",
        sa.Column(
            "function_id", sa.Integer(), sa.ForeignKey("functions.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("qualifier", sa.String(length=128), primary_key=True),
        sa.Column("on_success", sa.String(length=200), nullable=True),
        sa.Column("on_failure", sa.String(length=200), nullable=True),
        sa.Column("max_retries", sa.Integer(), nullable=True),
        sa.Column("max_age_s", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("event_configs")
