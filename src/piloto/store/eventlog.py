"""The per-chat event log behind SSE: rows written in the same transaction as the change.

Each event has a ``seq``, its position in the chat's stream, and readers follow ``seq``. On
PostgreSQL a global id is not enough: two transactions take ids 7 and 8, 8 commits first,
a reader moves past 8 and never sees 7. So the seq is assigned as the transaction's last
act, under the chat's row in ``event_seqs``, held until commit: the writer that takes seq
n+1 waits for the one holding n to commit, and a reader that sees n+1 sees n. The counter
rows are locked last and in chat-id order, so they add no deadlock to what the transaction
already locks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from piloto.store import unit
from piloto.store.ids import now
from piloto.store.schema import event_seqs, events

NOTIFY_CHANNEL = "piloto_events"
# conn.info keys: set while Database.write() owns the transaction; events awaiting a seq.
_DEFERRED = "piloto_events_deferred"
_PENDING = "piloto_events_pending"

# This transaction's events of one chat (seq still NULL), numbered in the order written.
_NUMBER_SQL = (
    "UPDATE events SET seq = :base + r.rn FROM ("
    "SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS rn FROM events "
    "WHERE chat_id = :chat AND seq IS NULL) AS r WHERE events.id = r.id"
)
_NUMBER = text(_NUMBER_SQL)
# The same statements for units of work (store/unit.py), valid on SQLite and PostgreSQL.
_BUMP_SQL = (
    "INSERT INTO event_seqs (chat_id, last_seq) VALUES (:chat, :n) ON CONFLICT (chat_id) "
    "DO UPDATE SET last_seq = event_seqs.last_seq + excluded.last_seq RETURNING last_seq"
)
_INSERT_SQL = (
    "INSERT INTO events (chat_id, type, data_json, created_at) VALUES (:chat, :type, :data, :at)"
)
_NOTIFY_SQL = "SELECT pg_notify(:ch, :chat)"
# PostgreSQL: the counter's bump and the numbering in one statement, whose answer nobody
# waits for (a unit of work is pipelined there); SQLite allows no INSERT inside a WITH.
_BUMP_AND_NUMBER_PG = (
    "WITH b AS (" + _BUMP_SQL + ") UPDATE events SET seq = (SELECT last_seq FROM b) - :n + r.rn "
    "FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS rn FROM events "
    "WHERE chat_id = :chat AND seq IS NULL) AS r WHERE events.id = r.id"
)


@dataclass(frozen=True)
class Event:
    """One event; ``id`` is its seq in the chat's stream (what SSE ids and ``after`` mean)."""

    id: int
    chat_id: str
    type: str
    data: dict[str, Any]
    created_at: float


async def append_event(
    conn: AsyncConnection, *, chat_id: str, type: str, data: dict[str, Any]
) -> None:
    """Record an event; it gets its seq at commit, and subscribers are woken after it."""
    await conn.execute(
        insert(events).values(
            chat_id=chat_id, type=type, data_json=json.dumps(data, default=str), created_at=now()
        )
    )
    conn.info.setdefault("piloto_notify", set()).add(chat_id)
    if conn.info.get(_DEFERRED):
        pending: dict[str, int] = conn.info.setdefault(_PENDING, {})
        pending[chat_id] = pending.get(chat_id, 0) + 1
    else:
        # A transaction opened outside Database.write(): number it now (correct, though the
        # counter row is then held for the rest of that transaction).
        await _number(conn, chat_id, 1)
    if conn.dialect.name == "postgresql":
        # NOTIFY is delivered at commit, so other instances never see uncommitted news.
        await conn.execute(
            text("SELECT pg_notify(:ch, :chat)"), {"ch": NOTIFY_CHANNEL, "chat": chat_id}
        )


def defer_seqs(conn: AsyncConnection | Connection) -> None:
    """Hold this transaction's seqs until ``assign_seqs`` (called right before commit)."""
    conn.info.pop(_PENDING, None)
    conn.info[_DEFERRED] = True


def forget_seqs(conn: AsyncConnection | Connection) -> None:
    """End deferral (conn.info outlives a pool checkout: nothing may leak to the next one)."""
    conn.info.pop(_PENDING, None)
    conn.info.pop(_DEFERRED, None)


async def assign_seqs(conn: AsyncConnection) -> None:
    """Give this transaction's events their seqs: the last statements before commit."""
    pending: dict[str, int] = conn.info.pop(_PENDING, None) or {}
    for chat_id in sorted(pending):  # one order for every writer: no deadlock among them
        await _number(conn, chat_id, pending[chat_id])


async def _number(conn: AsyncConnection, chat_id: str, count: int) -> None:
    last = await _bump(conn, chat_id, count)
    # A rolled-back savepoint may have removed some: seqs then have a gap, never a repeat.
    await conn.execute(_NUMBER, {"base": last - count, "chat": chat_id})


async def _bump(conn: AsyncConnection, chat_id: str, count: int) -> int:
    """Advance the chat's counter by ``count``, locking its row; the new last seq."""
    if conn.dialect.name == "postgresql":
        pg = pg_insert(event_seqs).values(chat_id=chat_id, last_seq=count)
        stmt = pg.on_conflict_do_update(
            index_elements=[event_seqs.c.chat_id],
            set_={"last_seq": event_seqs.c.last_seq + pg.excluded.last_seq},
        ).returning(event_seqs.c.last_seq)
    else:
        lite = sqlite_insert(event_seqs).values(chat_id=chat_id, last_seq=count)
        stmt = lite.on_conflict_do_update(
            index_elements=[event_seqs.c.chat_id],
            set_={"last_seq": event_seqs.c.last_seq + lite.excluded.last_seq},
        ).returning(event_seqs.c.last_seq)
    return int((await conn.execute(stmt)).scalar_one())


def append_event_sync(conn: Connection, *, chat_id: str, type: str, data_json: str) -> None:
    """``append_event`` inside a unit of work (``Database.write_unit``); ``data_json`` is JSON."""
    unit.run(conn, _INSERT_SQL, {"chat": chat_id, "type": type, "data": data_json, "at": now()})
    conn.info.setdefault("piloto_notify", set()).add(chat_id)
    pending: dict[str, int] = conn.info.setdefault(_PENDING, {})
    first = chat_id not in pending
    pending[chat_id] = pending.get(chat_id, 0) + 1
    if first and conn.dialect.name == "postgresql":
        # One wake-up per chat and transaction is enough: NOTIFY only wakes readers.
        unit.run(conn, _NOTIFY_SQL, {"ch": NOTIFY_CHANNEL, "chat": chat_id})


def assign_seqs_sync(conn: Connection) -> None:
    """``assign_seqs`` for a unit of work: the last statements before commit."""
    pending: dict[str, int] = conn.info.pop(_PENDING, None) or {}
    postgresql = conn.dialect.name == "postgresql"
    for chat_id in sorted(pending):
        count = pending[chat_id]
        if postgresql:
            unit.run(conn, _BUMP_AND_NUMBER_PG, {"chat": chat_id, "n": count})
            continue
        row = unit.one(conn, _BUMP_SQL, {"chat": chat_id, "n": count})
        assert row is not None
        unit.run(conn, _NUMBER_SQL, {"base": int(row[0]) - count, "chat": chat_id})


async def read_events(
    conn: AsyncConnection, *, chat_id: str, after: int, limit: int = 500
) -> list[Event]:
    """Events of a chat with seq greater than ``after``, in order."""
    rows = await conn.execute(
        select(events)
        .where(events.c.chat_id == chat_id, events.c.seq > after)
        .order_by(events.c.seq)
        .limit(limit)
    )
    return [Event(r.seq, r.chat_id, r.type, json.loads(r.data_json), r.created_at) for r in rows]


@dataclass(frozen=True)
class RawEvent:
    """An event as stored: ``data_json`` undecoded, for readers that only pass it on."""

    id: int
    type: str
    data_json: str


_READ_SQL = (
    "SELECT seq, type, data_json FROM events WHERE chat_id = :chat AND seq > :after "
    "ORDER BY seq LIMIT :limit"
)


def read_raw_events_sync(
    conn: Connection, *, chat_id: str, after: int, limit: int = 500
) -> list[RawEvent]:
    """``read_events`` for a read unit (``Database.read_unit``), data left as stored JSON."""
    rows = unit.fetch_all(conn, _READ_SQL, {"chat": chat_id, "after": after, "limit": limit})
    return [RawEvent(int(seq), str(type_), str(data)) for seq, type_, data in rows]


async def last_event_id(conn: AsyncConnection, *, chat_id: str) -> int:
    """The newest committed event seq of a chat, or 0."""
    value = (
        await conn.execute(select(func.max(events.c.seq)).where(events.c.chat_id == chat_id))
    ).scalar()
    return int(value) if value is not None else 0
