"""The per-chat event log behind SSE: rows written in the same transaction as the change."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from piloto.store.ids import now
from piloto.store.schema import events

NOTIFY_CHANNEL = "piloto_events"


@dataclass(frozen=True)
class Event:
    id: int
    chat_id: str
    type: str
    data: dict[str, Any]
    created_at: float


async def append_event(
    conn: AsyncConnection, *, chat_id: str, type: str, data: dict[str, Any]
) -> None:
    """Record an event; subscribers are woken only after the transaction commits."""
    await conn.execute(
        insert(events).values(
            chat_id=chat_id, type=type, data_json=json.dumps(data, default=str), created_at=now()
        )
    )
    conn.info.setdefault("piloto_notify", set()).add(chat_id)
    if conn.dialect.name == "postgresql":
        # NOTIFY is delivered at commit, so other instances never see uncommitted news.
        await conn.execute(
            text("SELECT pg_notify(:ch, :chat)"), {"ch": NOTIFY_CHANNEL, "chat": chat_id}
        )


async def read_events(
    conn: AsyncConnection, *, chat_id: str, after: int, limit: int = 500
) -> list[Event]:
    """Events of a chat with id greater than ``after``, oldest first."""
    rows = await conn.execute(
        select(events)
        .where(events.c.chat_id == chat_id, events.c.id > after)
        .order_by(events.c.id)
        .limit(limit)
    )
    return [Event(r.id, r.chat_id, r.type, json.loads(r.data_json), r.created_at) for r in rows]


async def last_event_id(conn: AsyncConnection, *, chat_id: str) -> int:
    """The newest event id of a chat, or 0."""
    row = await conn.execute(
        select(events.c.id).where(events.c.chat_id == chat_id).order_by(events.c.id.desc()).limit(1)
    )
    value = row.scalar()
    return int(value) if value is not None else 0
