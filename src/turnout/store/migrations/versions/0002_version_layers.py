"""versions record their pinned dependency set and layer

Existing versions get an empty pinned set and no layer (the column's server default ``'[]'``).
Both are plain ADD COLUMNs: SQLite must not recreate ``versions``, because dropping the old table
inside the migration's transaction fails on the alias routes that reference it. A server default given
as a string (not ``sa.text``) is what keeps Alembic's batch mode from recreating the table.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pinned_dependencies", sa.JSON(), server_default="[]", nullable=False))
        batch_op.add_column(sa.Column("layer_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("versions", schema=None) as batch_op:
        batch_op.drop_column("layer_hash")
        batch_op.drop_column("pinned_dependencies")
