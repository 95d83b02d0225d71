"""SSE: a chat's event log, live, resumable with ``Last-Event-ID``.

Every stream of a chat is woken by the same commit, and most sit at the same cursor: they
share one read of the log (``events.flight``) and the events it encoded, so fifty clients
cost one read and one encoding per event instead of fifty. Each stream still follows its
own cursor, so one resuming from far behind reads its own way up to the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import weakref
from collections.abc import AsyncGenerator

from fastapi import APIRouter, Header, Query
from sse_starlette import EventSourceResponse, ServerSentEvent

from piloto.auth.deps import Viewer
from piloto.deps import DB
from piloto.events.bus import EventBus
from piloto.events.flight import SingleFlight
from piloto.store.db import Database
from piloto.store.eventlog import read_raw_events_sync
from piloto.threads import repo

router = APIRouter(prefix="/api", tags=["events"])

# Between wake-ups the stream re-reads the log anyway: a missed NOTIFY costs at most this.
POLL_S = 5.0
BATCH = 500


class SharedEvent(ServerSentEvent):
    """An event encoded once, however many streams send it."""

    def __init__(self, *, id: int, event: str, data: str) -> None:
        super().__init__(data=data, event=event, id=str(id))
        self.seq = id
        self._encoded: bytes | None = None

    def encode(self) -> bytes:
        """The wire form (computed by the first stream that sends it)."""
        if self._encoded is None:
            self._encoded = super().encode()
        return self._encoded


Batch = list[SharedEvent]
# One set of reads in flight per bus (per Database), keyed by (chat id, cursor).
_flights: weakref.WeakKeyDictionary[EventBus, SingleFlight[tuple[str, int], Batch]] = (
    weakref.WeakKeyDictionary()
)


async def _read(db: Database, chat_id: str, after: int) -> Batch:
    rows = await db.read_unit(
        lambda conn: read_raw_events_sync(conn, chat_id=chat_id, after=after, limit=BATCH)
    )
    # The stored JSON is what json.dumps wrote: sent as is, never decoded and re-encoded.
    return [SharedEvent(id=r.id, event=r.type, data=r.data_json) for r in rows]


async def event_stream(db: Database, chat_id: str, after: int) -> AsyncGenerator[SharedEvent, None]:
    """Yield every event after ``after``, then wait for more until the client leaves.

    A client that leaves is noticed by the response (sse-starlette listens for the
    disconnect and cancels this generator at its next ``await``).
    """
    bus = db.bus
    flights = _flights.get(bus)
    if flights is None:
        flights = _flights[bus] = SingleFlight()
    wake = bus.subscribe(chat_id)
    try:
        while True:
            # Cleared and stamped together: news after this sets ``wake`` again, and news
            # before it is in any read begun since (the only reads this stream may share).
            wake.clear()
            seen = bus.news(chat_id)
            batch = await flights.call(
                (chat_id, after),
                fresh_since=seen,
                now=bus.tick,
                fn=functools.partial(_read, db, chat_id, after),
            )
            for ev in batch:
                after = ev.seq
                yield ev
            if len(batch) >= BATCH:
                continue
            # A timeout context, not wait_for: that makes a task per wait, per stream.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_S):
                    await wake.wait()
    finally:
        bus.unsubscribe(chat_id, wake)


@router.get("/chats/{chat_id}/events")
async def chat_events(
    chat_id: str,
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
    return EventSourceResponse(event_stream(db, chat_id, start), ping=15)
