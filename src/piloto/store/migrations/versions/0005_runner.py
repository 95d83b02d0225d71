"""several instances: a per-chat event sequence and the shared secret key's record

Revision ID: 0005_runner
Revises: 0004_copilot_loop
Create Date: 2026-12-03 07:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_runner"
down_revision = "0004_copilot_loop"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A chat's events are read by `seq`, assigned at commit under the chat's counter row, so
    # on PostgreSQL a reader never passes an event a slower transaction commits later.
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
    # Existing events keep their id as seq: a browser resuming with an old Last-Event-ID
    # continues where it was.
    op.execute("UPDATE events SET seq = id")
    op.create_index("ux_events_chat_seq", "events", ["chat_id", "seq"], unique=True)
    op.create_table(
        "event_seqs",
        sa.Column("chat_id", sa.String(length=32), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("chat_id"),
    )
    op.execute(
        "INSERT INTO event_seqs (chat_id, last_seq) "
        "SELECT chat_id, MAX(id) FROM events GROUP BY chat_id"
    )
    # The instance secret key's record (one row, id 1): its fingerprint always, the key
    # itself only wrapped under PILOTO_SECRET_KEY, so the database alone never yields it.
    op.create_table(
        "secret_key",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("wrapped", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("secret_key")
    op.drop_table("event_seqs")
    op.drop_index("ux_events_chat_seq", table_name="events")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("seq")
