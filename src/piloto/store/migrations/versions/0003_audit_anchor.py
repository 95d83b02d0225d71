"""audit: the anchored head of the hash chain (filled in by the audit work)

Revision ID: 0003_audit_anchor
Revises: 0002_consent
Create Date: 2026-12-03 07:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_audit_anchor"
down_revision = "0002_consent"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL: a record written before the chain was keyed (plain SHA-256); "hmac-sha256" after.
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("alg", sa.String(length=16), nullable=True))
    # The head of the chain (one row), HMAC-signed and updated with every append, so deleting
    # the newest records is found by `piloto audit verify`.
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("audit_head")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_column("alg")
