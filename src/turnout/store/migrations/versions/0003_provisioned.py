"""provisioned concurrency per alias or version

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provisioned",
        sa.Column("function_id", sa.Integer(), nullable=False),
        sa.Column("qualifier", sa.String(length=128), nullable=False),
        sa.Column("workers", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["function_id"],
            ["functions.id"],
            name=op.f("fk_provisioned_function_id_functions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("function_id", "qualifier", name=op.f("pk_provisioned")),
    )


def downgrade() -> None:
    op.drop_table("provisioned")
