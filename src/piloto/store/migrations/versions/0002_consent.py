"""consent: approvals by several people, run metadata (filled in by the consent work)

Revision ID: 0002_consent
Revises: 0001_initial
Create Date: 2026-12-03 07:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_consent"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Who a plan was proposed for (a typed "yes" counts only from that person), its risk,
    # how many people must approve it, and which failed step of which run it corrects.
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("proposed_for", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("proposed_for_name", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("risk", sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column("approvals_required", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("corrects_json", sa.Text(), nullable=True))
    # What the card shows beside each step: why it has its risk, and look-alike warnings.
    with op.batch_alter_table("steps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("risk_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("warnings_json", sa.Text(), nullable=True))
    op.create_table(
        "approvals",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("principal", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("plan_hash", sa.String(length=64), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "principal"),
    )


def downgrade() -> None:
    op.drop_table("approvals")
    with op.batch_alter_table("steps", schema=None) as batch_op:
        batch_op.drop_column("warnings_json")
        batch_op.drop_column("risk_reason")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("corrects_json")
        batch_op.drop_column("approvals_required")
        batch_op.drop_column("risk")
        batch_op.drop_column("proposed_for_name")
        batch_op.drop_column("proposed_for")
