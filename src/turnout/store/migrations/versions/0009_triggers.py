"""merge the triggers' branches (routes 0006, schedules 0007, async events 0008) into one head

Revision ID: 0009
Revises: 0006, 0007, 0008
"""

from __future__ import annotations

revision = "0009"
down_revision = ("0006", "0007", "0008")
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to change: the three branches touch different tables."""


def downgrade() -> None:
    """Nothing to change."""
