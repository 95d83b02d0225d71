"""the runner journal and event pruning (filled by the store work)

Revision ID: 0008_journal
Revises: 0007_alerts_notify
Create Date: 2026-12-03 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0008_journal"
down_revision = "0007_alerts_notify"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
