"""Watching a run while it works: a person's cancel, or another instance taking it over."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

from sqlalchemy import select

from piloto.runner.leases import WORKING, LeaseLost, RunCancelled, RunnerStopping
from piloto.store.db import Database
from piloto.store.schema import runs

log = logging.getLogger("piloto.runner")
T = TypeVar("T")


class RunWatch:
    """Polls the run's status in a side task; ``guard`` abandons a call when the run must stop."""

    def __init__(
        self, db: Database, *, run_id: str, owner: str, poll_s: float, shutdown: asyncio.Event
    ) -> None:
        self.db = db
        self.shutdown = shutdown
        self.run_id = run_id
        self.owner = owner
        self.poll_s = poll_s
        self.stop_event = asyncio.Event()
        self._reason: type[Exception] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._reading = False

    def start(self) -> None:
        """Begin polling."""
        self._task = asyncio.create_task(self._loop(), name=f"piloto-watch-{self.run_id}")
        self._task.add_done_callback(_log_failure)

    async def close(self) -> None:
        """Stop polling, never in the middle of a database read (a statement cancelled
        mid-flight leaves its pooled connection broken for the next user)."""
        self._closing = True
        if self._task is not None:
            if not self._reading:
                self._task.cancel()
            await asyncio.wait({self._task})

    def _stop(self, reason: type[Exception]) -> None:
        self._reason = reason
        self.stop_event.set()

    def error(self) -> Exception:
        """The exception that says why the run must stop."""
        reason = self._reason or RunCancelled
        return reason(self.run_id)

    def check_local(self) -> None:
        """Raise if the watch or a shutdown already says the run must stop (no database read)."""
        if self.shutdown.is_set():
            self._stop(RunnerStopping)
        if self.stop_event.is_set():
            raise self.error()

    async def check(self) -> None:
        """Read the run's status once; raise RunCancelled, LeaseLost or RunnerStopping when it must stop."""
        if self.shutdown.is_set():
            self._stop(RunnerStopping)
            raise self.error()
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(runs.c.status, runs.c.lease_owner).where(runs.c.id == self.run_id)
                )
            ).first()
        if row is None or row.lease_owner != self.owner or row.status not in WORKING:
            self._stop(LeaseLost)
        elif row.status == "cancelling":
            self._stop(RunCancelled)
        if self.stop_event.is_set():
            raise self.error()

    async def _loop(self) -> None:
        while not self.stop_event.is_set() and not self._closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_s):
                    await self.shutdown.wait()
            if self._closing:
                return
            self._reading = True
            try:
                await self.check()
            except (RunCancelled, LeaseLost, RunnerStopping):
                return
            except Exception:  # a failed poll must not end the watch: try again next time
                log.warning("could not read the run's status", exc_info=True)
            finally:
                self._reading = False

    async def guard(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro``; if the run must stop first, cancel it (the call is abandoned) and raise."""
        if self.stop_event.is_set():
            coro.close()
            raise self.error()
        call = asyncio.create_task(coro)
        stopper = asyncio.create_task(self.stop_event.wait())
        try:
            await asyncio.wait({call, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            if not call.done():
                call.cancel()
                await asyncio.wait({call})
            with contextlib.suppress(asyncio.CancelledError):
                await stopper
        if call.cancelled():
            raise self.error()
        # The call finished first (or together with the stop): its outcome is known, keep it.
        return call.result()


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("a runner side task failed", exc_info=task.exception())
