"""PostgreSQL LISTEN/NOTIFY: wake this instance's SSE streams for changes made by any instance."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import psycopg

from piloto.events.bus import EventBus

log = logging.getLogger("piloto.events")


class PgListener:
    """Listens on one channel and publishes each notification's chat id to the bus."""

    def __init__(self, dsn: str, channel: str, bus: EventBus) -> None:
        self._dsn = dsn
        self._channel = channel
        self._bus = bus
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    async def start(self) -> None:
        """Begin listening in a background task (reconnecting after failures)."""
        self._task = asyncio.create_task(self._run(), name="piloto-pg-listener")

    async def stop(self) -> None:
        """Stop listening."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._dsn, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {self._channel}")
                    self.ready.set()
                    delay = 0.5
                    async for note in conn.notifies():
                        self._bus.publish([note.payload])
            except asyncio.CancelledError:
                raise
            except Exception:
                # Streams still poll the event log, so a lost listener only adds latency.
                log.warning("LISTEN connection lost; reconnecting", exc_info=True)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
