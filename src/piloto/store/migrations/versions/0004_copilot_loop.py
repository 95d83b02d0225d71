"""copilot loop: tool-call history and automatic turns (filled in by the loop work)

Revision ID: 0004_copilot_loop
Revises: 0003_audit_anchor
Create Date: 2026-12-03 07:40:00
"""

from __future__ import annotations

revision = "0004_copilot_loop"
down_revision = "0003_audit_anchor"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
