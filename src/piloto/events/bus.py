"""An in-process wake-up bus keyed by chat id; PostgreSQL NOTIFY feeds it across instances."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable


class EventBus:
    """Subscribers wait for "something new in chat X"; they then read the event log.

    Every publish also advances a clock (``tick``), and ``news(chat)`` is the tick of the
    chat's latest publish: a read that began at a tick at or after a chat's ``news`` began
    after everything announced for that chat was committed (see ``events.flight``).
    """

    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._tick = 0
        # Only for chats with subscribers; a chat's first subscriber starts it at "now".
        self._news: dict[str, int] = {}

    def subscribe(self, chat_id: str) -> asyncio.Event:
        """An event set whenever ``chat_id`` has news; call ``unsubscribe`` when done."""
        ev = asyncio.Event()
        if chat_id not in self._waiters:
            # Its publishes were not recorded while nobody listened: assume the latest was now.
            self._news[chat_id] = self._tick
        self._waiters[chat_id].add(ev)
        return ev

    def unsubscribe(self, chat_id: str, ev: asyncio.Event) -> None:
        """Forget a subscription made with ``subscribe``."""
        waiters = self._waiters.get(chat_id)
        if waiters is not None:
            waiters.discard(ev)
            if not waiters:
                del self._waiters[chat_id]
                self._news.pop(chat_id, None)

    def publish(self, chat_ids: Iterable[str]) -> None:
        """Wake every subscriber of these chats (called after the commit)."""
        for chat_id in chat_ids:
            self._tick += 1
            waiters = self._waiters.get(chat_id)
            if not waiters:
                continue
            self._news[chat_id] = self._tick
            for ev in waiters:
                ev.set()

    @property
    def tick(self) -> int:
        """How many publishes this bus has seen: a clock that only moves on news."""
        return self._tick

    def news(self, chat_id: str) -> int:
        """The tick of ``chat_id``'s latest publish (for a chat nobody follows: now)."""
        return self._news.get(chat_id, self._tick)

    @property
    def subscriber_count(self) -> int:
        """How many streams are waiting, for metrics."""
        return sum(len(w) for w in self._waiters.values())
