"""runner: step outcome bookkeeping (filled in by the runner work)

Revision ID: 0005_runner
Revises: 0004_copilot_loop
Create Date: 2026-12-03 07:40:00
"""

from __future__ import annotations

revision = "0005_runner"
down_revision = "0004_copilot_loop"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
