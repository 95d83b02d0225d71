"""What the executor commits about a step: started, retrying, ended; and its chat lines.

Every write first renews the run's lease (``hold``), so an instance that lost the run can
never record anything about it.
"""

from __future__ import annotations

import logging
from typing import Any

from piloto.audit.log import append_audit
from piloto.i18n import t
from piloto.logs import step_id_var
from piloto.plans import repo
from piloto.plans.models import PlanStep
from piloto.runner.context import RunCtx
from piloto.runner.failure import command_ran
from piloto.runner.journal import emit_delta, with_step
from piloto.runner.leases import hold
from piloto.runner.report import clip, localise_reason, short_result, step_line, stored_response
from piloto.services.models import InvokeResult
from piloto.store.ids import now
from piloto.store.schema import steps
from piloto.threads import repo as threads_repo

log = logging.getLogger("piloto.runner")


async def say(
    ctx: RunCtx, text: str, *, meta: dict[str, Any], audit: tuple[str, str, str, str] | None = None
) -> None:
    """A chat line about the run (and an audit record, when given), under the run's lease."""
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


async def start_step(ctx: RunCtx, step: PlanStep, summary: str) -> PlanStep:
    """Commit ``running`` (attempts + 1) BEFORE the call: a crash now leaves a trace to decide on.

    One transaction: the lease, the step row and its ``run_delta``; returns the step as written.
    """
    t = now()
    values: dict[str, Any] = {
        "status": "running", "started_at": t, "finished_at": None, "request_summary": summary,
    }  # fmt: skip
    async with ctx.deps.db.write() as conn:
        await hold(conn, run_id=ctx.run.id, owner=ctx.deps.owner, lease_s=ctx.deps.lease_s, touch=t)
        await repo.update_step(conn, step_id=step.id, attempts=steps.c.attempts + 1, **values)
        # We hold the lease: our copy of the step is the row, so it is not read back.
        step = step.model_copy(update={**values, "attempts": step.attempts + 1})
        await emit_delta(conn, with_step(ctx.run, step), status="running", updated_at=t, step=step)
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
) -> PlanStep:
    """Commit the step's result, its event, its audit record and its chat line together."""
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
    async with deps.db.write() as conn:
        await hold(
            conn, run_id=run.id, owner=deps.owner, lease_s=deps.lease_s, allow_cancelling=True,
            touch=t,
        )  # fmt: skip
        await repo.update_step(conn, step_id=step.id, **values)
        step = step.model_copy(update=values)
        await emit_delta(conn, with_step(run, step), updated_at=t, step=step)
        await append_audit(
            conn, actor=deps.actor, action="step", project_id=run.project_id, chat_id=run.chat_id, run_id=run.id,
            step_id=step.id, plan_hash=run.plan_hash, request_summary=summary or f"{step.service} {step.operation}",
            response_summary=clip(detail, 1000), outcome=status,
        )  # fmt: skip
        await threads_repo.append_message(
            conn, chat_id=run.chat_id, role="event", run_id=run.id, meta={"kind": "step", "step": step.idx, "status": status},
            content=step_line(ctx.lang, n=step.idx + 1, total=total, service=step.service, operation=step.operation, status=status, ms=ms, detail=detail),
        )  # fmt: skip
    log.info("step %d %s", step.idx + 1, status, extra={"service": step.service, "error": error})
    return step
