"""What the executor commits about a step: started, retrying, ended; and its chat lines.

Every write first renews the run's lease (``hold``), so an instance that lost the run can
never record anything about it.

A step that ended well is committed with the next write, normally the next step's start:
one transaction per step instead of two (a commit is the dearest part of a step, an fsync
on PostgreSQL). Its end is still whole (row, event, chat line and audit record together) and
committed before anything that follows it is sent; a crash before that commit leaves the step
``running``, exactly as a crash before its own commit would, for recovery to decide on.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy.engine import Connection

from piloto.audit.log import append_audit, append_audit_sync, audit_config
from piloto.i18n import t
from piloto.logs import step_id_var
from piloto.plans import repo
from piloto.plans.models import PlanStep
from piloto.runner.context import RunCtx
from piloto.runner.failure import command_ran
from piloto.runner.journal import DELTA, run_delta, with_step
from piloto.runner.leases import RunCancelled, hold, hold_sync
from piloto.runner.report import clip, localise_reason, short_result, step_line, stored_response
from piloto.services.models import InvokeResult
from piloto.store import unit
from piloto.store.db import after_commit
from piloto.store.eventlog import append_event_sync
from piloto.store.ids import now
from piloto.threads import repo as threads_repo
from piloto.threads.repo import append_message_sync

log = logging.getLogger("piloto.runner")


async def say(
    ctx: RunCtx, text: str, *, meta: dict[str, Any], audit: tuple[str, str, str, str] | None = None
) -> None:
    """A chat line about the run (and an audit record, when given), under the run's lease."""
    await flush(ctx)
    run = ctx.run
    async with ctx.deps.db.write() as conn:
        await hold(
            conn,
            run_id=run.id,
            owner=ctx.deps.owner,
            lease_s=ctx.deps.lease_s,
            allow_cancelling=True,
        )
        if audit is not None:
            action, req, resp, outcome = audit
            await append_audit(
                conn, actor=ctx.deps.actor, action=action, project_id=run.project_id, chat_id=run.chat_id,
                run_id=run.id, step_id=step_id_var.get(), plan_hash=run.plan_hash, request_summary=req,
                response_summary=resp, outcome=outcome,
            )  # fmt: skip
        await threads_repo.append_message(
            conn, chat_id=run.chat_id, role="event", content=text, run_id=run.id, meta=meta
        )


_START = (
    "UPDATE steps SET status = 'running', attempts = attempts + 1, started_at = :t, "
    "finished_at = NULL, request_summary = :summary WHERE id = :id"
)
_END = (
    "UPDATE steps SET status = :status, error = :error, finished_at = :t, duration_ms = :ms, "
    "response_json = COALESCE(:response, response_json), "
    "request_summary = COALESCE(:summary, request_summary) WHERE id = :id"
)


_STILL_ALLOWED = (
    "SELECT 1 FROM services s JOIN operations o ON o.service_id = s.id WHERE s.id = :service "
    "AND o.operation_id = :operation AND s.enabled = :yes AND o.enabled = :yes"
)


class NotAllowedAnyMore(Exception):
    """The step's service or operation was disabled or removed since the run resolved it."""


async def flush(ctx: RunCtx) -> None:
    """Commit a step's end still waiting for the next write (before the run's end, on the
    way out, or before a write that cannot carry it)."""
    pending, ctx.pending = ctx.pending, None
    if pending is not None:
        t = now()
        await ctx.deps.db.write_unit(lambda conn: pending(conn, t))


async def start_step(
    ctx: RunCtx, step: PlanStep, summary: str, *, allowed: tuple[str, str]
) -> PlanStep:
    """Commit ``running`` (attempts + 1) BEFORE the call: a crash now leaves a trace to decide on.

    The journal's ``step_started``: the lease (which also says whether a person cancelled), the
    allowlist of now for ``allowed`` (service id, operation id), the step row and its
    ``run_delta`` in one unit of work; returns the step as written (we hold the lease, so our
    copy is the row: no read-back).
    """
    t = now()
    run, deps = ctx.run, ctx.deps
    step = step.model_copy(
        update={
            "status": "running", "attempts": step.attempts + 1, "started_at": t,
            "finished_at": None, "request_summary": summary,
        }
    )  # fmt: skip
    data = json.dumps(
        run_delta(with_step(run, step), status="running", updated_at=t, step=step), default=str
    )

    pending, ctx.pending = ctx.pending, None

    def write(conn: Connection) -> str:
        if pending is None:
            hold_sync(conn, run_id=run.id, owner=deps.owner, lease_s=deps.lease_s, touch=t)
        elif pending(conn, t) == "cancelling":
            return "cancelled"  # the previous step's end commits; this step never starts
        # (else the previous end renewed the lease in this transaction: the row is ours)
        service_id, operation_id = allowed
        check = {"service": service_id, "operation": operation_id, "yes": True}
        if unit.one(conn, _STILL_ALLOWED, check) is None:
            return "not allowed"  # committed all the same: the previous end is kept
        unit.run(conn, _START, {"t": t, "summary": summary, "id": step.id})
        append_event_sync(conn, chat_id=run.chat_id, type=DELTA, data_json=data)
        return "started"

    done = await deps.db.write_unit(write)
    if done == "cancelled":
        raise RunCancelled(run.id)
    if done == "not allowed":
        raise NotAllowedAnyMore(step.operation)
    log.info(
        "step %d started",
        step.idx + 1,
        extra={"service": step.service, "operation": step.operation},
    )
    return step


async def note_retry(
    ctx: RunCtx,
    step: PlanStep,
    result: InvokeResult,
    reason: str,
    attempt: int,
    max_attempts: int,
    delay: float,
) -> None:
    """The failed attempt's result and a chat line saying when the next one comes."""
    await flush(ctx)
    run = ctx.run
    async with ctx.deps.db.write() as conn:
        await hold(
            conn,
            run_id=run.id,
            owner=ctx.deps.owner,
            lease_s=ctx.deps.lease_s,
            allow_cancelling=True,
        )
        stored = stored_response(result)
        await repo.update_step(conn, step_id=step.id, response=stored, error=reason)
        with_step(run, step.model_copy(update={"response": stored, "error": reason}))
        text = (
            t(ctx.lang, "retrying", n=step.idx + 1, attempt=attempt, max=max_attempts, delay=delay)
            + f" ({clip(localise_reason(ctx.lang, reason), 200)})"
        )
        await threads_repo.append_message(
            conn, chat_id=run.chat_id, role="event", content=text, run_id=run.id,
            meta={"kind": "retry", "step": step.idx, "attempt": attempt},
        )  # fmt: skip
    log.info(
        "step %d failed (attempt %d of %d), retrying in %.2f s: %s",
        step.idx + 1,
        attempt,
        max_attempts,
        delay,
        reason,
    )


async def end_step(
    ctx: RunCtx,
    step: PlanStep,
    total: int,
    result: InvokeResult | None,
    error: str | None,
    *,
    summary: str | None,
    ms: int | None,
    status: str | None = None,
    defer: bool = False,
) -> PlanStep:
    """Commit the step's result, its event, its audit record and its chat line together.

    ``defer``: the step ended well and the run goes on; its end is committed with the next
    write (see the module's docstring) instead of in a transaction of its own.
    """
    run, deps = ctx.run, ctx.deps
    status = status or ("done" if error is None else "error")
    detail = short_result(result, is_command=command_ran(result) if result else False)
    if error is not None:
        detail = clip(error, 300) + (f" · {detail}" if detail and detail not in error else "")
    values: dict[str, Any] = {
        "status": status,
        "error": error,
        "finished_at": now(),
        "duration_ms": ms,
    }
    if result is not None:
        values["response"] = stored_response(result)
    if summary is not None:
        values["request_summary"] = summary
    t = values["finished_at"]
    step = step.model_copy(update=values)
    data = json.dumps(run_delta(with_step(run, step), updated_at=t, step=step), default=str)
    params = {
        "status": status, "error": error, "t": t, "ms": ms, "id": step.id, "summary": summary,
        "response": json.dumps(values["response"], default=str) if "response" in values else None,
    }  # fmt: skip
    line = step_line(
        ctx.lang, n=step.idx + 1, total=total, service=step.service, operation=step.operation,
        status=status, ms=ms, detail=detail,
    )  # fmt: skip
    audit = audit_config(deps.db.engine)

    def write(conn: Connection, touch: float) -> str:
        # The journal's ``step_ended``: one unit of work, the audit record last (on PostgreSQL
        # its chain lock is then held only until the commit).
        held = hold_sync(
            conn, run_id=run.id, owner=deps.owner, lease_s=deps.lease_s, touch=max(t, touch),
            allow_cancelling=True,
        )  # fmt: skip
        unit.run(conn, _END, params)
        append_event_sync(conn, chat_id=run.chat_id, type=DELTA, data_json=data)
        append_message_sync(
            conn, chat_id=run.chat_id, role="event", run_id=run.id, content=line,
            meta={"kind": "step", "step": step.idx, "status": status},
        )  # fmt: skip
        append_audit_sync(
            conn, audit, actor=deps.actor, action="step", project_id=run.project_id,
            chat_id=run.chat_id, run_id=run.id, step_id=step.id, plan_hash=run.plan_hash,
            request_summary=summary or f"{step.service} {step.operation}",
            response_summary=clip(detail, 1000), outcome=status,
        )  # fmt: skip
        after_commit(conn, lambda: log.info(
            "step %d %s", step.idx + 1, status, extra={"service": step.service, "error": error}
        ))  # fmt: skip
        return held

    if defer:
        await flush(ctx)  # never two waiting: each end is committed before the next call
        ctx.pending = write
        return step
    pending, ctx.pending = ctx.pending, None

    def both(conn: Connection) -> None:
        if pending is not None:  # a waiting step end first, in this transaction
            pending(conn, t)
        write(conn, t)

    await deps.db.write_unit(both)
    return step
