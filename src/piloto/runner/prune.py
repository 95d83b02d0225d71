"""Pruning the event log: events are the live feed, not the record (chats keep their messages,
runs their steps), so old ones go.

A client that resumes from before the pruned horizon must not skip what it missed in silence:
each chat's newest pruned event is kept as a ``reset`` marker at its seq, and a client that
reads it reloads the chat (messages after its last one, its unfinished runs) from the API.
"""

from __future__ import annotations

import logging

from sqlalchemy import delete, func, select, update

from piloto.store.db import Database
from piloto.store.ids import now
from piloto.store.schema import events

log = logging.getLogger("piloto.runner")

# A day of live feed is kept: a browser asleep longer than that reloads its chats.
EVENTS_KEEP_S = 24 * 3600.0
PRUNE_EVERY_S = 600.0
RESET = "reset"


async def prune_events(db: Database, *, older_than_s: float = EVENTS_KEEP_S) -> int:
    """Delete events older than ``older_than_s``, each chat's newest of them becoming its
    ``reset`` marker; returns how many were deleted."""
    cutoff = now() - older_than_s
    deleted = 0
    async with db.write() as conn:
        tops = (
            await conn.execute(
                select(events.c.chat_id, func.max(events.c.seq))
                .where(events.c.created_at < cutoff, events.c.seq.is_not(None))
                .group_by(events.c.chat_id)
            )
        ).all()
        for chat_id, top in tops:
            res = await conn.execute(
                delete(events).where(events.c.chat_id == chat_id, events.c.seq < top)
            )
            deleted += int(res.rowcount or 0)
            # The marker keeps its seq: a reader that resumes after it has missed nothing.
            await conn.execute(
                update(events)
                .where(events.c.chat_id == chat_id, events.c.seq == top)
                .values(type=RESET, data_json='{"reason": "pruned"}')
            )
    if deleted:
        log.info("pruned %d old events", deleted)
    return deleted
