"""secrets at rest: the keyring row (the check value that tells a right secret key from a wrong one)

Only the table: sealing the plain-text secrets already stored needs the secret key, which migrations
never see, so the server does it at start, right after migrating (``SecretService.seal_stored``), in
one transaction.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "keyring",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("check_value", sa.Text(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("rotated_at", Timestamp, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("keyring")
