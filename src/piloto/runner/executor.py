"""Executing one claimed run (``run_plan_in_background``): steps in order, each committed
before it is invoked and again with its result, retries, the reasoner, and the run's end.

At most once (invariant 2): a failed attempt is sent again only when that is safe (see
``failure.after_failure``); a request that may have taken effect and is not idempotent stops
the run as ``interrupted`` for a person to retry, skip or abort.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from typing import Any, NoReturn

from sqlalchemy import select

from piloto.errors import Invalid, PilotoError
from piloto.i18n import t
from piloto.logs import step_id_var
from piloto.metrics import INVOCATION_ERRORS, RUNS_FINISHED, STEP_DURATION
from piloto.plans import repo
from piloto.plans.models import PlanStep
from piloto.plans.validate import (
    command_limits,
    command_of,
    invalid_text,
    is_command_operation,
)
from piloto.policy import check_command
from piloto.projects.repo import get_project
from piloto.runner.context import Correction, Outcome, RunCtx, StepFailed
from piloto.runner.correction import ask_reasoner, propose_correction, with_command
from piloto.runner.deps import RunnerDeps
from piloto.runner.failure import _command_failed, after_failure, call_failed, command_ran
from piloto.runner.finish import close_run, closing_text
from piloto.runner.leases import WORKING, LeaseLost, RunCancelled
from piloto.runner.record import NotAllowedAnyMore, end_step, flush, note_retry, start_step
from piloto.runner.report import clip, request_summary
from piloto.runner.templating import TemplateError, render
from piloto.runner.watch import RunWatch
from piloto.services.arguments import InvalidArguments
from piloto.services.registry import Resolved
from piloto.store.schema import runs
from piloto.threads import repo as threads_repo

log = logging.getLogger("piloto.runner")

BACKOFF_CAP_S = 60.0
CANCELLED_IN_FLIGHT = (
    "cancelled while in flight: the call was abandoned and its outcome is unknown "
    "(a command may have run)"
)

__all__ = ["backoff_s", "execute_run", "with_command"]


def backoff_s(base_s: float, attempt: int) -> float:
    """Exponential backoff with jitter: base · 2^(attempt-1) · U(0.5, 1.5), capped."""
    return float(min(BACKOFF_CAP_S, base_s * 2.0 ** (attempt - 1) * random.uniform(0.5, 1.5)))


async def execute_run(deps: RunnerDeps, run_id: str) -> str:
    """Run a claimed run to its end; returns the final status. Raises LeaseLost if taken over."""
    async with deps.db.read() as conn:
        run = await repo.get_run(conn, run_id=run_id)
        chat = await threads_repo.get_chat(conn, chat_id=run.chat_id)
        project = await get_project(conn, project_id=run.project_id)
    if run.lease_owner != deps.owner or run.status not in WORKING:
        raise LeaseLost(run_id)
    watch = RunWatch(
        deps.db, run_id=run_id, owner=deps.owner, poll_s=deps.cancel_poll_s, shutdown=deps.shutdown
    )
    ctx = RunCtx(deps, run, chat.language or deps.settings.language, project.settings, watch)
    watch.start()
    try:
        outcome = await _run_steps(ctx)
        await flush(ctx)
    except Exception:
        # Stopping, or a takeover: a step that ended well still says so (else recovery would
        # find it running and could not tell it ran).
        with contextlib.suppress(Exception):
            await flush(ctx)
        raise
    finally:
        await watch.close()
    status = await _finish_run(ctx, outcome)
    if outcome.new_draft:
        await _propose_correction(ctx, outcome.new_draft)
    if deps.on_run_end is not None:
        deps.on_run_end(run_id)  # the copilot loop; it schedules its own task and returns
    return status


async def _run_steps(ctx: RunCtx) -> Outcome:
    total = len(ctx.run.steps)
    for step in ctx.run.steps:
        if step.status == "done":
            ctx.results[step.idx] = step.response
            continue
        if step.status == "skipped":
            continue
        if step.status == "error":
            # Found after a restart: the step's failure was committed, the run's end was not.
            return Outcome("error", step.idx + 1, step.error or f"step {step.idx + 1} failed")
        if step.status == "interrupted":
            note = t(ctx.lang, "run_interrupted", n=step.idx + 1, operation=step.operation)
            return Outcome("interrupted", step.idx + 1, step.error, note=note)
        token = step_id_var.set(step.id)
        try:
            # No read here: the step's start holds the lease, which refuses a cancelled run.
            ctx.watch.check_local()
            await _run_step(ctx, step, total)
        except RunCancelled:
            return Outcome("cancelled")
        except StepFailed as exc:
            if exc.interrupted:
                return Outcome("interrupted", step.idx + 1, exc.reason, note=exc.note)
            return Outcome("error", step.idx + 1, exc.reason, exc.new_draft)
        finally:
            step_id_var.reset(token)
    return Outcome("done")


async def _run_step(ctx: RunCtx, step: PlanStep, total: int) -> None:
    deps, run = ctx.deps, ctx.run
    started = False
    key = (step.service, step.operation)
    try:
        # Resolved once per run and operation; each attempt's start re-checks the allowlist.
        resolved = ctx.resolved.get(key) or await _resolve(ctx, step)
    except PilotoError as exc:
        await _not_allowed(ctx, step, total, exc)
    ctx.resolved[key] = resolved
    spec, is_cmd = resolved.spec, is_command_operation(resolved.spec)
    try:
        arguments = render(
            step.arguments,
            ctx.results,
            current=step.idx,
            # The command field is shell-quoted when a template fills it (toolbox: cmd).
            shell_keys=frozenset({spec.command_field or "cmd"}) if is_cmd else frozenset(),
        )
    except TemplateError as exc:
        await end_step(ctx, step, total, None, str(exc), summary=None, ms=None)
        raise StepFailed(str(exc)) from None
    limits = command_limits(ctx.settings)
    original_cmd = (command_of(arguments, spec.command_field) or "") if is_cmd else ""
    read_cmd = False
    if is_cmd:
        # Invariant 4: the policy again, right before running, with the project's limits of now.
        decision = check_command(original_cmd, limits)
        if not decision.allowed:
            reason = t(ctx.lang, "step_blocked", reason=decision.reason)
            await end_step(ctx, step, total, None, reason, summary=None, ms=None)
            raise StepFailed(reason)
        read_cmd = decision.risk == "read"
    idempotent = spec.idempotent or resolved.service.honours_idempotency
    max_attempts = ctx.settings.retry_attempts
    current, note, attempt, corrected = arguments, "", 0, False
    summary = request_summary(
        method=spec.method, path=spec.path, arguments=current, is_command=is_cmd
    )
    last_reason = ""
    try:
        while True:
            attempt += 1
            summary = (
                request_summary(
                    method=spec.method, path=spec.path, arguments=current, is_command=is_cmd
                )
                + note
            )
            try:
                allowed = (resolved.service.id, resolved.operation.operation)
                step = await start_step(ctx, step, summary, allowed=allowed)
            except NotAllowedAnyMore:
                ctx.resolved.pop(key, None)
                try:  # the allowlist of now says why, in the chat's language
                    await _resolve(ctx, step)
                    raise PilotoError("the operation changed since the plan was resolved")
                except PilotoError as exc:
                    await _not_allowed(ctx, step, total, exc)
            started = True
            t0 = time.perf_counter()
            try:
                result = await ctx.watch.guard(
                    deps.registry.invoke(
                        project_id=run.project_id,
                        service=step.service,
                        operation=step.operation,
                        arguments=current,
                        idempotency_key=step.idempotency_key,
                        # The allowlist was checked in the same transaction that marked the
                        # step running (an operation disabled meanwhile is not sent).
                        resolved=resolved,
                    )
                )
            except (PilotoError, InvalidArguments) as exc:
                INVOCATION_ERRORS.labels(step.service).inc()
                await end_step(ctx, step, total, None, str(exc), summary=summary, ms=_ms(t0))
                raise StepFailed(str(exc)) from None
            STEP_DURATION.labels(step.service).observe(time.perf_counter() - t0)
            failure = _command_failed(result) if is_cmd else call_failed(result)
            ms = result.duration_ms or _ms(t0)
            if failure is None:
                step = await end_step(
                    ctx, step, total, result, None, summary=summary, ms=ms, defer=True
                )
                ctx.results[step.idx] = step.response  # as stored, serialised once
                return
            INVOCATION_ERRORS.labels(step.service).inc()
            last_reason = failure
            move = after_failure(
                result, is_command=is_cmd, idempotent=idempotent, read_command=read_cmd
            )
            if move == "interrupt":
                error = t(ctx.lang, "unknown_after_send", reason=failure)
                await end_step(
                    ctx, step, total, result, error, summary=summary, ms=ms, status="interrupted"
                )
                raise StepFailed(
                    error, interrupted=True, note=_unknown_note(ctx, step, failure, current, is_cmd)
                )
            left = attempt < max_attempts
            if (
                left
                and not corrected
                and is_cmd
                and deps.model is not None
                and command_ran(result)
                and (move == "fail" or attempt == max_attempts - 1)
            ):
                fix = await ask_reasoner(
                    ctx, step, total, original_cmd, result, failure, summary, limits, arguments
                )
                current, note = (
                    with_command(arguments, fix),
                    f" (reasoner's fix of: {clip(original_cmd, 200)})",
                )
                # The correction is the last attempt, and it only reads: that is why it may run.
                corrected, read_cmd, max_attempts = True, True, attempt + 1
                continue
            if move == "fail" or not left:
                await end_step(ctx, step, total, result, failure, summary=summary, ms=ms)
                raise StepFailed(failure)
            delay = backoff_s(deps.retry_base_s, attempt)
            await note_retry(ctx, step, result, failure, attempt, max_attempts, delay)
            await ctx.watch.guard(asyncio.sleep(delay))
    except RunCancelled:
        if started:
            reason = (
                CANCELLED_IN_FLIGHT
                if not last_reason
                else f"cancelled before the next attempt; last failure: {last_reason}"
            )
            # The time the step was in flight before it was abandoned, not an unknown "0 ms".
            await end_step(ctx, step, total, None, reason, summary=summary, ms=_ms(t0))
        raise


async def _resolve(ctx: RunCtx, step: PlanStep) -> Resolved:
    async with ctx.deps.db.read() as conn:
        return await ctx.deps.registry.resolve(
            conn, project_id=ctx.run.project_id, service=step.service, operation=step.operation
        )


async def _not_allowed(ctx: RunCtx, step: PlanStep, total: int, exc: PilotoError) -> NoReturn:
    """End the step: its service or operation is not (or no longer) allowed."""
    reason = invalid_text(exc, ctx.lang) if isinstance(exc, Invalid) else exc.message
    why = t(ctx.lang, "not_allowed_any_more", reason=reason)
    await end_step(ctx, step, total, None, why, summary=None, ms=None)
    raise StepFailed(why) from None


def _unknown_note(
    ctx: RunCtx, step: PlanStep, failure: str, arguments: dict[str, Any], is_cmd: bool
) -> str:
    """The chat line for a step whose outcome is unknown: what happened, what to check."""
    cmd = command_of(arguments) if is_cmd else None
    check = (
        t(ctx.lang, "check_command", cmd=clip(cmd, 200))
        if cmd
        else t(ctx.lang, "check_call", service=step.service)
    )
    return t(
        ctx.lang, "step_outcome_unknown", n=step.idx + 1, service=step.service,
        operation=step.operation, reason=clip(failure, 200), check=check,
    )  # fmt: skip


def _ms(t0: float) -> int:
    return int((time.perf_counter() - t0) * 1000)


async def _finish_run(ctx: RunCtx, outcome: Outcome) -> str:
    """``done`` / ``error`` / ``cancelled`` / ``interrupted``: the run, the chat state, the audit
    and the closing line, in one transaction."""
    deps = ctx.deps
    run = ctx.run  # its steps are what the journal committed: nothing is read back
    async with deps.db.write() as conn:
        row = (
            await conn.execute(select(runs.c.status, runs.c.lease_owner).where(runs.c.id == run.id))
        ).first()
        if row is None or row.lease_owner != deps.owner or row.status not in WORKING:
            raise LeaseLost(run.id)
        final: str = outcome.status
        if final == "interrupted" and row.status == "cancelling":
            # A person asked to stop: the run is cancelled, the step keeps its unknown outcome.
            final = "cancelled"
        interrupted = final == "interrupted"
        text = (
            outcome.note
            if interrupted and outcome.note
            else closing_text(ctx.lang, run, final, step_n=outcome.step_n, error=outcome.error)
        )
        await close_run(
            conn, run=run, to=final, actor=deps.actor, text=text,
            frm="running" if interrupted else WORKING, owner=deps.owner, error=outcome.error,
            audit_summary=outcome.error,
            step=next((s for s in run.steps if s.status == "interrupted"), None) if interrupted else None,
        )  # fmt: skip
    RUNS_FINISHED.labels(final).inc()
    log.info("run %s", final)
    return final


async def _propose_correction(ctx: RunCtx, correction: Correction) -> None:
    """A correction that needs consent becomes a new draft: a person decides."""
    await propose_correction(ctx, correction)
