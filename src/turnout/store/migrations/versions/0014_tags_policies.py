"""tags and resource-policy statements of functions (the Lambda API's TagResource and AddPermission)

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)


def _function_id() -> sa.Column[int]:
    return sa.Column(
        "function_id", sa.Integer(), sa.ForeignKey("functions.id", ondelete="CASCADE"), primary_key=True
    )


def upgrade() -> None:
    op.create_table(
        "function_tags",
        _function_id(),
        sa.Column("key", sa.String(length=128), primary_key=True),
        sa.Column("value", sa.String(length=256), nullable=False),
    )
    op.create_table(
        "function_policies",
        _function_id(),
        sa.Column("qualifier", sa.String(length=128), primary_key=True),
        sa.Column("statement_id", sa.String(length=100), primary_key=True),
        sa.Column("statement", sa.JSON(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("function_policies")
    op.drop_table("function_tags")
