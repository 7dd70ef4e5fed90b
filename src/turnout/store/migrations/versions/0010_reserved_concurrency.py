"""functions get an optional reserved concurrency (their own limit of concurrent invocations per node)

A plain nullable ADD COLUMN (NULL: the server's TURNOUT_FUNCTION_CONCURRENCY applies), so SQLite never
recreates ``functions``, which every other table references.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("functions", sa.Column("reserved_concurrency", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("functions", "reserved_concurrency")
