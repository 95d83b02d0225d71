"""Single-flight calls: concurrent callers asking for the same key share one call.

Fifty SSE streams of one chat are woken by one commit and would each read the same events
after the same cursor; with this they await one read. Sharing must never serve a result
older than what a caller already knows of, so each call records the bus tick at which it
began, and a caller joins only a call that began at or after the news it was woken for
(``EventBus.news``). Nothing is kept once a call ends: this is not a cache.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class SingleFlight(Generic[K, T]):
    """At most one call per key in flight for callers of the same freshness or older."""

    def __init__(self) -> None:
        self._flights: dict[K, tuple[int, asyncio.Future[T]]] = {}

    async def call(
        self, key: K, *, fresh_since: int, now: int, fn: Callable[[], Awaitable[T]]
    ) -> T:
        """``fn()``'s result, shared with a call for ``key`` begun at tick ``fresh_since`` or
        later if one is in flight; otherwise ``fn()`` runs now (its start noted as ``now``)."""
        found = self._flights.get(key)
        if found is None or found[0] < fresh_since:
            future = asyncio.ensure_future(fn())
            found = (now, future)
            # A staler call for the key may still be running for its own callers: it is
            # superseded here, and its end must not remove this one.
            self._flights[key] = found
            future.add_done_callback(lambda f: self._done(key, f))
        # Shielded: a caller that leaves (a client that disconnects) cancels its own wait,
        # never the call the others are waiting on.
        return await asyncio.shield(found[1])

    def _done(self, key: K, future: asyncio.Future[T]) -> None:
        found = self._flights.get(key)
        if found is not None and found[1] is future:
            del self._flights[key]
        if not future.cancelled():
            # Its callers may all have left: the error was theirs, not the loop's to report.
            future.exception()

    @property
    def in_flight(self) -> int:
        """How many calls are running now, for tests and metrics."""
        return len(self._flights)
