"""copilot loop: tool-call history and automatic turns; a model per chat

Revision ID: 0004_copilot_loop
Revises: 0003_audit_anchor
Create Date: 2026-12-03 07:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_copilot_loop"
down_revision = "0003_audit_anchor"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The tool call a plan answers (model) or the slash command it came from (direct), and
    # the one follow-up turn its end earns: claimed once, by compare-and-set on `followup`.
    op.create_table(
        "plan_calls",
        sa.Column(
            "run_id",
            sa.String(length=32),
            sa.ForeignKey("runs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("chat_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("calls_json", sa.Text(), nullable=False),
        sa.Column("origin_seq", sa.BigInteger(), nullable=False),
        sa.Column("auto_turn", sa.Integer(), nullable=False),
        sa.Column("followup", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_plan_calls_chat", "plan_calls", ["chat_id"])
    with op.batch_alter_table("chats") as batch:
        batch.add_column(sa.Column("model", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("chats") as batch:
        batch.drop_column("model")
    op.drop_index("ix_plan_calls_chat", table_name="plan_calls")
    op.drop_table("plan_calls")
