"""audit: the anchored head of the hash chain (filled in by the audit work)

Revision ID: 0003_audit_anchor
Revises: 0002_consent
Create Date: 2026-12-03 07:40:00
"""

from __future__ import annotations

revision = "0003_audit_anchor"
down_revision = "0002_consent"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
