"""The runner: claims confirmed runs with a lease, executes them, keeps leases alive, recovers.

Several instances may share a PostgreSQL database (``FOR UPDATE SKIP LOCKED`` claims, leases
and takeovers). On SQLite only one runner may use a database file: a ``flock`` says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Coroutine
from typing import Any

from piloto.llm import ChatModel
from piloto.logs import run_id_var
from piloto.metrics import QUEUE_DEPTH, RUNS_FINISHED
from piloto.plans import repo
from piloto.runner.deps import RunnerDeps
from piloto.runner.executor import execute_run
from piloto.runner.finish import close_run, closing_text
from piloto.runner.journal import with_step
from piloto.runner.leases import (
    WORKING,
    LeaseLost,
    RunnerStopping,
    claim_queued,
    heartbeat,
    queue_depth,
    register_instance,
    release_all,
)
from piloto.runner.lock import RunnerLock, sqlite_path
from piloto.runner.prune import PRUNE_EVERY_S, prune_events
from piloto.runner.recovery import recover_stale_runs
from piloto.services.registry import ServiceRegistry
from piloto.settings import Settings
from piloto.store.db import Database
from piloto.store.ids import now
from piloto.threads import repo as threads_repo

log = logging.getLogger("piloto.runner")

POLL_S = 0.25
STOP_GRACE_S = 10.0


def new_instance_id() -> str:
    """``host:pid:random``: unique per process life, so a restart never reuses a lease."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


class Runner:
    """Executes confirmed plans in the background of the server process."""

    def __init__(
        self,
        *,
        db: Database,
        registry: ServiceRegistry,
        settings: Settings,
        model: ChatModel | None,
        on_run_end: Callable[[str], None] | None = None,
    ) -> None:
        self.db = db
        self.registry = registry
        self.settings = settings
        self.model = model
        self.instance_id = new_instance_id()
        self.deps = RunnerDeps(
            db=db, registry=registry, settings=settings, model=model, owner=self.instance_id,
            lease_s=settings.lease_s, retry_base_s=settings.retry_base_s,
            cancel_poll_s=min(0.5, max(0.05, settings.lease_s / 4)), on_run_end=on_run_end,
        )  # fmt: skip
        self._tasks: dict[str, asyncio.Task[str]] = {}
        self._side: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._lock: RunnerLock | None = None
        self._stopping = False
        self._pruned_at = float("-inf")  # the first recovery pass also prunes

    # -- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Take the SQLite lock, recover what a previous life left, start claiming."""
        if self.db.dialect == "sqlite":
            path = sqlite_path(self.db.url)
            if path is not None:
                lock = RunnerLock(path)
                await asyncio.to_thread(lock.acquire)
                self._lock = lock
        try:
            await register_instance(self.db, owner=self.instance_id)
            # On SQLite we hold the only runner lock, so whoever owned a working run is dead.
            await self.recover_now(take_all=self.db.dialect == "sqlite")
        except BaseException:
            self._release_lock()
            raise
        for name, coro in (
            ("claim", self._claim_loop()),
            ("heartbeat", self._heartbeat_loop()),
            ("recovery", self._recovery_loop()),
        ):
            task = asyncio.create_task(coro, name=f"piloto-runner-{name}")
            task.add_done_callback(self._loop_done)
            self._loops.append(task)
        log.info(
            "runner started",
            extra={"instance": self.instance_id, "concurrency": self.settings.runner_concurrency},
        )

    async def stop(self) -> None:
        """Stop claiming, cancel the runs in progress, and expire our leases for a prompt takeover."""
        self._stopping = True
        self.deps.shutdown.set()
        self._wake.set()
        # Loops and runs stop at their next safe point: an in-flight call is abandoned, a
        # database statement is not (cancelling one mid-flight breaks its pooled connection).
        work = [*self._loops, *self._tasks.values(), *self._side]
        if work:
            _, late = await asyncio.wait(work, timeout=STOP_GRACE_S)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=STOP_GRACE_S)
        try:
            released = await release_all(self.db, owner=self.instance_id)
            if released:
                log.info("released %d leases for another instance to take over", released)
        except Exception:
            log.exception(
                "could not release leases on shutdown; they expire in %.0f s", self.settings.lease_s
            )
        self._release_lock()
        log.info("runner stopped")

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    # -- claiming, heartbeat, recovery -----------------------------------------------------

    async def claim_now(self) -> list[str]:
        """One claiming pass, within the concurrency limit; returns the runs started."""
        if self._stopping:
            return []
        free = self.settings.runner_concurrency - len(self._tasks)
        claimed = await claim_queued(
            self.db, owner=self.instance_id, lease_s=self.settings.lease_s, limit=free
        )
        for run_id in claimed:
            self._spawn_run(run_id)
        return claimed

    async def recover_now(self, *, take_all: bool = False) -> list[str]:
        """One recovery pass (``recover_stale_runs``); resumes what can be resumed."""
        resume = await recover_stale_runs(
            self.db, self.registry, owner=self.instance_id, lease_s=self.settings.lease_s,
            language=self.settings.language, take_all=take_all, skip=set(self._tasks),
        )  # fmt: skip
        for run_id in resume:
            if not self._stopping and run_id not in self._tasks:
                self._spawn_run(run_id)
        return resume

    async def _claim_loop(self) -> None:
        while not self._stopping:
            try:
                await self.claim_now()
                QUEUE_DEPTH.set(await queue_depth(self.db))
            except Exception:
                log.exception("claiming runs failed; trying again")
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_S):
                    await self._wake.wait()
            self._wake.clear()

    async def _heartbeat_loop(self) -> None:
        while not self._stopping:
            if await self._pause(self.settings.heartbeat_s):
                return
            try:
                taken = await heartbeat(
                    self.db,
                    owner=self.instance_id,
                    run_ids=list(self._tasks),
                    lease_s=self.settings.lease_s,
                )
            except Exception:
                log.exception("heartbeat failed; leases may expire")
                continue
            for run_id in taken:
                task = self._tasks.get(run_id)
                if task is not None:
                    log.warning(
                        "run %s was taken over by another instance; abandoning it here", run_id
                    )
                    task.cancel()

    async def _recovery_loop(self) -> None:
        while not self._stopping:
            if await self._pause(max(0.2, self.settings.lease_s / 2)):
                return
            try:
                await self.recover_now()
            except Exception:
                log.exception("recovery pass failed")
            if time.monotonic() - self._pruned_at >= PRUNE_EVERY_S:
                self._pruned_at = time.monotonic()
                try:
                    await prune_events(self.db)
                except Exception:
                    log.exception("pruning old events failed; trying again later")

    async def _pause(self, seconds: float) -> bool:
        """Sleep, but wake at once on shutdown; True when shutting down."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.deps.shutdown.wait()
        return self.deps.shutdown.is_set()

    def _loop_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self._stopping:
            return
        log.critical(
            "runner loop %s ended unexpectedly", task.get_name(), exc_info=task.exception()
        )

    # -- run tasks ---------------------------------------------------------------------------

    def _spawn_run(self, run_id: str) -> None:
        task = asyncio.create_task(self._run(run_id), name=f"piloto-run-{run_id}")
        self._tasks[run_id] = task
        task.add_done_callback(lambda done: self._run_done(run_id, done))

    async def _run(self, run_id: str) -> str:
        run_id_var.set(run_id)
        return await execute_run(self.deps, run_id)

    def _run_done(self, run_id: str, task: asyncio.Task[str]) -> None:
        if self._tasks.get(run_id) is task:
            del self._tasks[run_id]
        self._wake.set()
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        if isinstance(exc, RunnerStopping):
            return
        if isinstance(exc, LeaseLost):
            log.warning(
                "run %s: lease lost to another instance (%s)", run_id, exc, extra={"run_id": run_id}
            )
            return
        log.error(
            "run %s: the runner failed unexpectedly", run_id, exc_info=exc, extra={"run_id": run_id}
        )
        if not self._stopping:
            self._spawn_side(self._mark_error(run_id, exc), name=f"piloto-mark-error-{run_id}")

    def _spawn_side(self, coro: Coroutine[Any, Any, Any], *, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._side.add(task)

        def done(t_: asyncio.Task[Any]) -> None:
            self._side.discard(t_)
            if not t_.cancelled() and t_.exception() is not None:
                log.error("runner side task %s failed", name, exc_info=t_.exception())

        task.add_done_callback(done)

    async def _mark_error(self, run_id: str, exc: BaseException) -> None:
        """A run whose task died: end it in ``error`` with the reason, so nothing waits forever."""
        message = f"internal error in the runner ({type(exc).__name__}: {str(exc)[:300]}); see the server log"
        async with self.db.write() as conn:
            run = await repo.get_run(conn, run_id=run_id)
            if run.lease_owner != self.instance_id or run.status not in WORKING:
                return
            ended = None
            for step in run.steps:
                if step.status == "running":
                    values = {"status": "error", "error": message, "finished_at": now()}
                    await repo.update_step(conn, step_id=step.id, expect="running", **values)
                    ended = step.model_copy(update=values)
                    with_step(run, ended)
            chat = await threads_repo.get_chat(conn, chat_id=run.chat_id)
            n = next(
                (s.idx + 1 for s in run.steps if s.status not in ("done", "skipped")),
                len(run.steps),
            )
            lang = chat.language or self.settings.language
            await close_run(
                conn, run=run, to="error", actor=self.deps.actor, owner=self.instance_id,
                error=message, audit_summary=message, changed=ended,
                text=closing_text(lang, run, "error", step_n=n, error=message),
            )  # fmt: skip
        RUNS_FINISHED.labels("error").inc()
