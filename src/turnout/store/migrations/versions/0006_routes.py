"""HTTP routes: method + host + path bound to a function's qualifier

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "routes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("function_id", sa.Integer(), nullable=False),
        sa.Column("qualifier", sa.String(length=128), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("host", sa.String(length=253), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("shape", sa.String(length=1024), nullable=False),
        sa.Column("sticky_cookie", sa.String(length=128), nullable=True),
        sa.Column("sticky_header", sa.String(length=128), nullable=True),
        sa.Column("queued", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["function_id"],
            ["functions.id"],
            name=op.f("fk_routes_function_id_functions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routes")),
        sa.UniqueConstraint("method", "host", "shape", name=op.f("uq_routes_method_host_shape")),
    )
    op.create_index("ix_routes_function_id", "routes", ["function_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_routes_function_id", table_name="routes")
    op.drop_table("routes")
