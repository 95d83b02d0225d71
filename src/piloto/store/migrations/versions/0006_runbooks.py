"""runbooks and schedules (filled by the runbooks work)

Revision ID: 0006_runbooks
Revises: 0005_runner
Create Date: 2026-12-03 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0006_runbooks"
down_revision = "0005_runner"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
