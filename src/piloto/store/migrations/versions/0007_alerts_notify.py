"""alerts in and notifications out (filled by the alerts work)

Revision ID: 0007_alerts_notify
Revises: 0006_runbooks
Create Date: 2026-12-03 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0007_alerts_notify"
down_revision = "0006_runbooks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
