"""cluster mode: blobs in the store, the durable change sequence, nodes, shared rollout windows

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "blobs",
        sa.Column("sha256", sa.String(length=64), primary_key=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
    )
    op.create_table(
        "blob_chunks",
        sa.Column(
            "sha256",
            sa.String(length=64),
            sa.ForeignKey("blobs.sha256", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "changes",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("topic", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("node", sa.String(length=200), nullable=False),
        sa.Column("at", Timestamp, nullable=False),
    )
    op.create_index("ix_changes_at", "changes", ["at"])
    op.create_table(
        "nodes",
        sa.Column("name", sa.String(length=200), primary_key=True),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("started_at", Timestamp, nullable=False),
        sa.Column("seen_at", Timestamp, nullable=False),
        sa.Column("stopped_at", Timestamp, nullable=True),
        sa.Column("info", sa.JSON(), nullable=False),
    )
    op.create_table(
        "window_buckets",
        sa.Column("node", sa.String(length=200), primary_key=True),
        sa.Column("function", sa.String(length=64), primary_key=True),
        sa.Column("version", sa.String(length=16), primary_key=True),
        sa.Column("channel", sa.String(length=8), primary_key=True),
        sa.Column("second", sa.BigInteger(), primary_key=True),
        sa.Column("data", sa.JSON(), nullable=False),
    )
    op.create_index("ix_window_buckets_function_second", "window_buckets", ["function", "second"])


def downgrade() -> None:
    op.drop_index("ix_window_buckets_function_second", table_name="window_buckets")
    op.drop_table("window_buckets")
    op.drop_table("nodes")
    op.drop_index("ix_changes_at", table_name="changes")
    op.drop_table("changes")
    op.drop_table("blob_chunks")
    op.drop_table("blobs")
