"""consent: approvals by several people, run metadata (filled in by the consent work)

Revision ID: 0002_consent
Revises: 0001_initial
Create Date: 2026-12-03 07:40:00
"""

from __future__ import annotations

revision = "0002_consent"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
