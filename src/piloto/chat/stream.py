"""SSE: a chat's event log, live, resumable with ``Last-Event-ID``."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Header, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from piloto.auth.deps import Viewer
from piloto.deps import DB
from piloto.store.db import Database
from piloto.store.eventlog import read_events
from piloto.threads import repo

router = APIRouter(prefix="/api", tags=["events"])

# Between wake-ups the stream re-reads the log anyway: a missed NOTIFY costs at most this.
POLL_S = 5.0


async def event_stream(
    db: Database, chat_id: str, after: int, request: Request | None = None
) -> AsyncIterator[ServerSentEvent]:
    """Yield every event after ``after``, then wait for more until the client leaves."""
    wake = db.bus.subscribe(chat_id)
    try:
        while True:
            wake.clear()
            async with db.read() as conn:
                batch = await read_events(conn, chat_id=chat_id, after=after)
            for ev in batch:
                after = ev.id
                yield ServerSentEvent(
                    data=json.dumps(ev.data, default=str), event=ev.type, id=str(ev.id)
                )
            if len(batch) >= 500:
                continue
            if request is not None and await request.is_disconnected():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=POLL_S)
    finally:
        db.bus.unsubscribe(chat_id, wake)


@router.get("/chats/{chat_id}/events")
async def chat_events(
    chat_id: str,
    request: Request,
    db: DB,
    _: Viewer,
    last_event_id: str | None = Header(default=None, alias="Last-Event-ID"),
    after: int | None = Query(
        default=None, ge=0, le=2**62, description="Resume after this event id"
    ),
) -> EventSourceResponse:
    """Messages and run/step changes as Server-Sent Events."""
    async with db.read() as conn:
        await repo.get_chat(conn, chat_id=chat_id)
    start = after or 0
    if last_event_id and last_event_id.isdigit() and len(last_event_id) < 18:
        start = int(last_event_id)
    return EventSourceResponse(event_stream(db, chat_id, start, request), ping=15)
