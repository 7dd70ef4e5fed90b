"""function URLs: an HTTP endpoint per alias (or $LATEST) of a function

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "function_urls",
        sa.Column("function_id", sa.Integer(), nullable=False),
        sa.Column("qualifier", sa.String(length=128), nullable=False),
        sa.Column("url_id", sa.String(length=32), nullable=False),
        sa.Column("auth_type", sa.String(length=16), nullable=False),
        sa.Column("cors", sa.JSON(), nullable=True),
        sa.Column("invoke_mode", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["function_id"],
            ["functions.id"],
            name=op.f("fk_function_urls_function_id_functions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("function_id", "qualifier", name=op.f("pk_function_urls")),
        sa.UniqueConstraint("url_id", name=op.f("uq_function_urls_url_id")),
    )


def downgrade() -> None:
    op.drop_table("function_urls")
