"""Explicit waits: poll a condition until it holds, within a deadline sized for a busy CI
machine (a deadline is a bound on a hang, never a timing assertion)."""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

# Generous on purpose: a loaded 2-core runner can be 10x slower than a quiet laptop.
WAIT_S = float(os.environ.get("PILOTO_TEST_WAIT_S", "60"))


async def eventually(
    check: Callable[[], T | Awaitable[T]], what: str, *, within: float = WAIT_S
) -> T:
    """The first truthy value of ``check()`` (sync or async); fails naming ``what`` if none."""
    end = time.monotonic() + within
    delay = 0.005
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() > end:
            raise AssertionError(f"still waiting after {within:g} s for {what}")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.1)


def wait_until(check: Callable[[], T], what: str, *, within: float = WAIT_S) -> T:
    """``eventually`` for code outside an event loop (threads, subprocesses, the browser)."""
    end = time.monotonic() + within
    delay = 0.005
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"still waiting after {within:g} s for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
