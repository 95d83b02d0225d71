"""An in-process wake-up bus keyed by chat id; PostgreSQL NOTIFY feeds it across instances."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable


class EventBus:
    """Subscribers wait for "something new in chat X"; they then read the event log."""

    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)

    def subscribe(self, chat_id: str) -> asyncio.Event:
        """An event set whenever ``chat_id`` has news; call ``unsubscribe`` when done."""
        ev = asyncio.Event()
        self._waiters[chat_id].add(ev)
        return ev

    def unsubscribe(self, chat_id: str, ev: asyncio.Event) -> None:
        """Forget a subscription made with ``subscribe``."""
        waiters = self._waiters.get(chat_id)
        if waiters is not None:
            waiters.discard(ev)
            if not waiters:
                del self._waiters[chat_id]

    def publish(self, chat_ids: Iterable[str]) -> None:
        """Wake every subscriber of these chats (called after the commit)."""
        for chat_id in chat_ids:
            for ev in self._waiters.get(chat_id, ()):
                ev.set()

    @property
    def subscriber_count(self) -> int:
        """How many streams are waiting, for metrics."""
        return sum(len(w) for w in self._waiters.values())
