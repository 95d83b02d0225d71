"""Firing schedules: a conditional UPDATE on ``next_run_at`` is the door, so with several
instances a firing runs once, and a firing missed while Piloto was down runs once at start."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from piloto.audit.log import append_audit
from piloto.errors import PilotoError
from piloto.i18n import t
from piloto.plans import repo as plans_repo
from piloto.plans.confirm import queue_run
from piloto.runbooks import repo, service
from piloto.runbooks.models import Runbook, Schedule
from piloto.runbooks.schedule import next_after
from piloto.services.registry import ServiceRegistry
from piloto.settings import Settings
from piloto.store.db import Database
from piloto.store.ids import now
from piloto.store.schema import schedules
from piloto.threads import repo as threads_repo

log = logging.getLogger("piloto.scheduler")
STOP_GRACE_S = 5.0


async def _pause(conn: AsyncConnection, sched: Schedule, runbook: Runbook, text: str) -> None:
    await repo.set_schedule(conn, schedule_id=sched.id, status="paused", paused_reason=text)
    await threads_repo.append_message(
        conn, chat_id=sched.chat_id, role="event", content=text,
        meta={"kind": "schedule", "schedule_id": sched.id, "event": "schedule.paused"},
    )  # fmt: skip
    await service.notify_paused(conn, schedule=sched, text=text)
    await append_audit(
        conn, actor=f"schedule:{sched.id}", action="schedule.pause", project_id=sched.project_id,
        chat_id=sched.chat_id, plan_hash=runbook.plan_hash, outcome="paused",
        request_summary=text[:200],
    )  # fmt: skip


@dataclass(frozen=True)
class Door:
    """A firing's claim: move ``next_run_at`` from ``due`` to ``next`` while it is active."""

    due: float
    next: float
    at: float


async def _pass(conn: AsyncConnection, schedule_id: str, door: Door | None) -> bool:
    """Through the door in the firing's own transaction (False: another instance fired it)."""
    if door is None:
        return True
    return await repo.set_schedule(
        conn, schedule_id=schedule_id,
        where=(schedules.c.next_run_at == door.due) & (schedules.c.status == "active"),
        next_run_at=door.next, last_fired_at=door.at,
    )  # fmt: skip


async def fire(
    db: Database,
    registry: ServiceRegistry,
    settings: Settings,
    *,
    schedule_id: str,
    door: Door | None = None,
) -> str | None:
    """Propose the runbook's plan and queue it under the schedule's consent; the run id.

    The door, the proposal and the queueing commit together: a crash or a failed write
    leaves the schedule due, never a firing spent without its run. A plan that fails its
    checks pauses the schedule instead, in one transaction with the same door.
    """
    try:
        async with db.write() as conn:
            if not await _pass(conn, schedule_id, door):
                return None
            return await _fire_in(conn, registry, settings, schedule_id=schedule_id)
    except _Pause as pause:
        async with db.write() as conn:
            if not await _pass(conn, schedule_id, door):
                return None
            sched = await repo.get_schedule(conn, schedule_id=schedule_id)
            runbook = await repo.get_runbook(conn, runbook_id=sched.runbook_id)
            await _pause(conn, sched, runbook, pause.text)
        return None


class _Pause(Exception):
    """The firing cannot propose: undo it and pause the schedule saying why."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


async def _fire_in(
    conn: AsyncConnection, registry: ServiceRegistry, settings: Settings, *, schedule_id: str
) -> str | None:
    sched = await repo.get_schedule(conn, schedule_id=schedule_id)
    runbook = await repo.get_runbook(conn, runbook_id=sched.runbook_id)
    chat = await threads_repo.get_chat(conn, chat_id=sched.chat_id)
    people = await repo.approvers(conn, schedule_id=sched.id, runbook_hash_=sched.runbook_hash)
    lang = chat.language or settings.language
    if runbook.plan_hash != sched.runbook_hash:
        # Consent was given to other content: never run what nobody approved.
        raise _Pause(t(lang, "schedule_paused_changed", name=runbook.name))
    actor = f"schedule:{sched.id}"
    try:
        proposed = await service.propose_runbook(
            conn, registry, runbook=runbook, chat_id=sched.chat_id, arguments=sched.arguments,
            proposed_by=actor, lang=lang, ttl_s=settings.plan_ttl,
        )  # fmt: skip
    except PilotoError as exc:
        text = t(lang, "schedule_paused_invalid", name=runbook.name, reason=exc.message)
        raise _Pause(text) from None
    run = proposed.run
    names = ", ".join(p.name for p in people) or sched.created_by
    await repo.set_schedule(conn, schedule_id=sched.id, last_run_id=run.id)
    if run.status != "draft":
        return run.id  # the project's policy already queued it (read-only steps)
    required = run.approvals_required or 1
    if len(people) < required:
        # The plan became riskier than what was approved: the draft waits for people.
        text = t(lang, "schedule_paused_approvals", name=runbook.name, required=required,
                 count=len(people))  # fmt: skip
        await _pause(conn, sched, runbook, text)
        return run.id
    state = await plans_repo.get_chat_state(conn, chat_id=sched.chat_id)
    if state.active_run_id is not None:
        await threads_repo.append_message(
            conn, chat_id=sched.chat_id, role="event",
            content=t(lang, "schedule_busy", name=runbook.name), run_id=run.id,
        )  # fmt: skip
        return run.id
    for p in people:
        await plans_repo.add_approval(
            conn, run_id=run.id, principal=p.principal, name=p.name, plan_hash=run.plan_hash
        )
    by = f"schedule {runbook.name} (approved by {names})"[:100]
    await queue_run(
        conn, run_id=run.id, chat_id=sched.chat_id, actor=by, by_policy=False,
        expected_hash=run.plan_hash,
    )  # fmt: skip
    await append_audit(
        conn, actor=actor, action="confirm", project_id=sched.project_id,
        chat_id=sched.chat_id, run_id=run.id, plan_hash=run.plan_hash, outcome="queued",
        request_summary=f"schedule {sched.id} of runbook {runbook.plan_hash}; approved by {names}",
    )  # fmt: skip
    await threads_repo.append_message(
        conn, chat_id=sched.chat_id, role="event", run_id=run.id,
        content=t(lang, "schedule_fired", name=runbook.name, cron=sched.cron,
                  tz=sched.timezone, approvers=names),
    )  # fmt: skip
    return run.id


async def fire_due(
    db: Database, registry: ServiceRegistry, settings: Settings, *, at: float | None = None
) -> list[str]:
    """Fire every schedule due at ``at`` (now) once; returns the runs proposed.

    Each firing moves ``next_run_at`` to the first occurrence after ``at``, so many missed
    occurrences collapse into one, and only the instance whose UPDATE matched fires it.
    """
    at = now() if at is None else at
    async with db.read() as conn:
        due = await repo.due_schedules(conn, at=at)
    fired: list[str] = []
    for schedule_id, old_next in due:
        async with db.read() as conn:
            sched = await repo.get_schedule(conn, schedule_id=schedule_id)
        door = Door(due=old_next, next=await next_after(sched.cron, sched.timezone, at), at=at)
        try:
            run_id = await fire(db, registry, settings, schedule_id=schedule_id, door=door)
        except Exception:
            # Nothing of the firing committed: the schedule stays due for the next pass.
            log.exception("schedule %s failed to fire; it stays due", schedule_id)
            continue
        if run_id:
            fired.append(run_id)
    return fired


class Scheduler:
    """The lifespan's loop: a cheap poll for due schedules; stops at once on shutdown."""

    def __init__(self, db: Database, registry: ServiceRegistry, settings: Settings) -> None:
        self.db, self.registry, self.settings = db, registry, settings
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start polling; the first pass (missed firings) runs at once."""
        self._task = asyncio.create_task(self._loop(), name="piloto-scheduler")

    async def stop(self) -> None:
        """Stop after the firing in progress, if any."""
        self._stop.set()
        if self._task is not None:
            # A pass stuck on a dead database must not hold the shutdown forever.
            _, late = await asyncio.wait([self._task], timeout=STOP_GRACE_S)
            for task in late:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                await fire_due(self.db, self.registry, self.settings)
            except Exception:
                log.exception("scheduler pass failed; trying again")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.scheduler_poll_s):
                    await self._stop.wait()
