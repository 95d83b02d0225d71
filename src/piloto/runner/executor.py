"""Executing one claimed run (``run_plan_in_background``): steps in order, each committed
before it is invoked and again with its result, retries, the reasoner, and the run's end."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any

from piloto.audit.log import append_audit
from piloto.chat import repo as chat_repo
from piloto.errors import PilotoError
from piloto.i18n import t
from piloto.logs import step_id_var
from piloto.metrics import INVOCATION_ERRORS, RUNS_FINISHED, STEP_DURATION
from piloto.plans import repo
from piloto.plans import service as plans
from piloto.plans.models import PlanRun, PlanStep
from piloto.plans.validate import command_limits, command_of, is_command_operation
from piloto.policy import check_command, check_correction
from piloto.projects.models import ProjectSettings
from piloto.projects.repo import get_project
from piloto.runner.deps import RunnerDeps
from piloto.runner.failure import _command_failed, call_failed, worth_retrying
from piloto.runner.leases import WORKING, LeaseLost, RunCancelled, hold
from piloto.runner.reasoner import agent_reasoner
from piloto.runner.report import clip, request_summary, short_result, step_line, stored_response
from piloto.runner.templating import TemplateError, has_placeholders, render
from piloto.runner.watch import RunWatch
from piloto.services.invoke import InvalidArguments
from piloto.services.models import InvokeResult
from piloto.store.ids import now
from piloto.store.schema import runs, steps

log = logging.getLogger("piloto.runner")

BACKOFF_CAP_S = 60.0
CANCELLED_IN_FLIGHT = (
    "cancelled while in flight: the call was abandoned and its outcome is unknown "
    "(a command may have run)"
)


@dataclass
class Outcome:
    """How the run ended, and a correction that needs a new confirmation, if any."""

    status: str = "done"
    step_n: int | None = None
    error: str | None = None
    new_draft: list[dict[str, Any]] | None = None


@dataclass
class StepFailed(Exception):
    """The step ended in error; the run stops here."""

    reason: str
    new_draft: list[dict[str, Any]] | None = None


@dataclass
class _Ctx:
    deps: RunnerDeps
    run: PlanRun
    lang: str
    settings: ProjectSettings
    watch: RunWatch
    results: dict[int, Any] = field(default_factory=dict)


def backoff_s(base_s: float, attempt: int) -> float:
    """Exponential backoff with jitter: base · 2^(attempt-1) · U(0.5, 1.5), capped."""
    return float(min(BACKOFF_CAP_S, base_s * 2.0 ** (attempt - 1) * random.uniform(0.5, 1.5)))


def with_command(arguments: dict[str, Any], cmd: str) -> dict[str, Any]:
    """A copy of a command step's arguments with the command replaced."""
    out = dict(arguments)
    if isinstance(out.get("body"), dict) and "cmd" in out["body"]:
        out["body"] = {**out["body"], "cmd": cmd}
    else:
        out["cmd"] = cmd
    return out


async def execute_run(deps: RunnerDeps, run_id: str) -> str:
    """Run a claimed run to its end; returns the final status. Raises LeaseLost if taken over."""
    async with deps.db.read() as conn:
        run = await repo.get_run(conn, run_id=run_id)
        chat = await chat_repo.get_chat(conn, chat_id=run.chat_id)
        project = await get_project(conn, project_id=run.project_id)
    if run.lease_owner != deps.owner or run.status not in WORKING:
        raise LeaseLost(run_id)
    watch = RunWatch(
        deps.db, run_id=run_id, owner=deps.owner, poll_s=deps.cancel_poll_s, shutdown=deps.shutdown
    )
    ctx = _Ctx(deps, run, chat.language or deps.settings.language, project.settings, watch)
    watch.start()
    try:
        outcome = await _run_steps(ctx)
    finally:
        await watch.close()
    status = await _finish_run(ctx, outcome)
    if outcome.new_draft:
        await _propose_correction(ctx, outcome.new_draft)
    return status


async def _run_steps(ctx: _Ctx) -> Outcome:
    total = len(ctx.run.steps)
    for step in ctx.run.steps:
        if step.status == "done":
            ctx.results[step.idx] = step.response
            continue
        if step.status == "skipped":
            continue
        if step.status in ("error", "interrupted"):
            # Found after a restart: the step's failure was committed, the run's end was not.
            return Outcome("error", step.idx + 1, step.error or f"step {step.idx + 1} failed")
        token = step_id_var.set(step.id)
        try:
            await ctx.watch.check()
            await _run_step(ctx, step, total)
        except RunCancelled:
            return Outcome("cancelled")
        except StepFailed as exc:
            return Outcome("error", step.idx + 1, exc.reason, exc.new_draft)
        finally:
            step_id_var.reset(token)
    return Outcome("done")


async def _run_step(ctx: _Ctx, step: PlanStep, total: int) -> None:
    deps, run = ctx.deps, ctx.run
    started = False
    try:
        async with deps.db.read() as conn:
            resolved = await deps.registry.resolve(
                conn, project_id=run.project_id, service=step.service, operation=step.operation
            )
    except PilotoError as exc:
        await _end_step(
            ctx, step, total, None, f"not allowed any more: {exc}", summary=None, ms=None
        )
        raise StepFailed(f"not allowed any more: {exc}") from None
    spec, is_cmd = resolved.spec, is_command_operation(resolved.spec)
    try:
        arguments = render(
            step.arguments,
            ctx.results,
            current=step.idx,
            shell_keys=frozenset({"cmd"}) if is_cmd else frozenset(),
        )
    except TemplateError as exc:
        await _end_step(ctx, step, total, None, str(exc), summary=None, ms=None)
        raise StepFailed(str(exc)) from None
    limits = command_limits(ctx.settings)
    original_cmd = (command_of(arguments) or "") if is_cmd else ""
    if is_cmd:
        # Invariant 4: the policy again, right before running, with the project's limits of now.
        decision = check_command(original_cmd, limits)
        if not decision.allowed:
            reason = t(ctx.lang, "step_blocked", reason=decision.reason)
            await _end_step(ctx, step, total, None, reason, summary=None, ms=None)
            raise StepFailed(reason)
    retryable = is_cmd or spec.idempotent or resolved.service.honours_idempotency
    max_attempts = ctx.settings.retry_attempts if retryable else 1
    current, note, attempt = arguments, "", 0
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
            await _start_step(ctx, step, summary)
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
                    )
                )
            except (PilotoError, InvalidArguments) as exc:
                INVOCATION_ERRORS.labels(step.service).inc()
                await _end_step(ctx, step, total, None, str(exc), summary=summary, ms=_ms(t0))
                raise StepFailed(str(exc)) from None
            STEP_DURATION.labels(step.service).observe(time.perf_counter() - t0)
            failure = _command_failed(result) if is_cmd else call_failed(result)
            if failure is None:
                ctx.results[step.idx] = stored_response(result)
                await _end_step(
                    ctx,
                    step,
                    total,
                    result,
                    None,
                    summary=summary,
                    ms=result.duration_ms or _ms(t0),
                )
                return
            INVOCATION_ERRORS.labels(step.service).inc()
            last_reason = failure
            if attempt >= max_attempts or not worth_retrying(result, is_command=is_cmd):
                await _end_step(
                    ctx,
                    step,
                    total,
                    result,
                    failure,
                    summary=summary,
                    ms=result.duration_ms or _ms(t0),
                )
                raise StepFailed(failure)
            if (
                is_cmd
                and attempt == max_attempts - 1
                and deps.model is not None
                and _command_ran(result)
            ):
                fix = await _ask_reasoner(
                    ctx, step, total, original_cmd, result, failure, summary, limits, arguments
                )
                current, note = (
                    with_command(arguments, fix),
                    f" (reasoner's fix of: {clip(original_cmd, 200)})",
                )
                continue
            delay = backoff_s(deps.retry_base_s, attempt)
            await _note_retry(ctx, step, result, failure, attempt, max_attempts, delay)
            await ctx.watch.guard(asyncio.sleep(delay))
    except RunCancelled:
        if started:
            reason = (
                CANCELLED_IN_FLIGHT
                if not last_reason
                else f"cancelled before the next attempt; last failure: {last_reason}"
            )
            await _end_step(ctx, step, total, None, reason, summary=summary, ms=None)
        raise


def _command_ran(result: InvokeResult) -> bool:
    body = result.body
    return isinstance(body, dict) and ("exit_code" in body or "timed_out" in body)


def _ms(t0: float) -> int:
    return int((time.perf_counter() - t0) * 1000)


async def _ask_reasoner(
    ctx: _Ctx, step: PlanStep, total: int, original: str, result: InvokeResult, reason: str, summary: str,
    limits: Any, arguments: dict[str, Any],
) -> str:  # fmt: skip
    """The correction to run as the final attempt; StepFailed when there is none to run."""
    deps, run, lang = ctx.deps, ctx.run, ctx.lang
    assert deps.model is not None
    answer = await ctx.watch.guard(
        agent_reasoner(deps.model, command=original, result=result, summary=run.summary)
    )
    if answer.action == "give_up" or answer.cmd is None:
        await _say(
            ctx,
            t(lang, "reasoner_gave_up", reason=answer.reason),
            meta={"kind": "reasoner", "step": step.idx, "action": "give_up"},
        )
        failure = f"{reason}; the reasoner found no safe fix: {answer.reason}"
        await _end_step(ctx, step, total, result, failure, summary=summary, ms=result.duration_ms)
        raise StepFailed(failure)
    corrected = answer.cmd
    verdict = check_command(corrected, limits)
    if verdict.allowed:
        verdict = check_correction(original, corrected, limits)
        needs_consent = not verdict.allowed
    else:
        needs_consent = False
    if verdict.allowed:
        await _say(
            ctx, t(lang, "reasoner_fix", cmd=corrected, reason=answer.reason),
            meta={"kind": "reasoner", "step": step.idx, "action": "fix"},
            audit=("reasoner.fix", f"$ {original}", f"$ {corrected}", "fix"),
        )  # fmt: skip
        return corrected
    action = "reasoner.new_plan" if needs_consent else "reasoner.blocked"
    await _say(
        ctx, t(lang, "reasoner_blocked", cmd=corrected, reason=verdict.reason),
        meta={"kind": "reasoner", "step": step.idx, "action": "new_plan" if needs_consent else "blocked"},
        audit=(action, f"$ {original}", f"$ {corrected}", "blocked"),
    )  # fmt: skip
    failure = f"{reason}; the reasoner's correction `{clip(corrected, 200)}` was not run: {verdict.reason}"
    await _end_step(ctx, step, total, result, failure, summary=summary, ms=result.duration_ms)
    draft = None
    if needs_consent:
        # The rest of the plan comes along unless it refers to earlier results by index (the
        # indices would shift in the new plan); then the corrected step is proposed alone.
        later = [s for s in run.steps if s.idx > step.idx]
        draft = [
            {
                "service": step.service,
                "operation": step.operation,
                "arguments": with_command(arguments, corrected),
            }
        ]
        if not any(has_placeholders(s.arguments) for s in later):
            draft += [
                {"service": s.service, "operation": s.operation, "arguments": s.arguments}
                for s in later
            ]
    raise StepFailed(failure, new_draft=draft)


async def _say(
    ctx: _Ctx, text: str, *, meta: dict[str, Any], audit: tuple[str, str, str, str] | None = None
) -> None:
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
        await chat_repo.append_message(
            conn, chat_id=run.chat_id, role="event", content=text, run_id=run.id, meta=meta
        )


async def _start_step(ctx: _Ctx, step: PlanStep, summary: str) -> None:
    """Commit ``running`` (attempts + 1) BEFORE the call: a crash now leaves a trace to decide on."""
    async with ctx.deps.db.write() as conn:
        await hold(conn, run_id=ctx.run.id, owner=ctx.deps.owner, lease_s=ctx.deps.lease_s)
        await repo.update_step(
            conn, step_id=step.id, status="running", attempts=steps.c.attempts + 1, started_at=now(),
            finished_at=None, request_summary=summary,
        )  # fmt: skip
        await repo.emit_run(conn, run_id=ctx.run.id)
    log.info(
        "step %d started",
        step.idx + 1,
        extra={"service": step.service, "operation": step.operation},
    )


async def _note_retry(
    ctx: _Ctx,
    step: PlanStep,
    result: InvokeResult,
    reason: str,
    attempt: int,
    max_attempts: int,
    delay: float,
) -> None:
    run = ctx.run
    async with ctx.deps.db.write() as conn:
        await hold(
            conn,
            run_id=run.id,
            owner=ctx.deps.owner,
            lease_s=ctx.deps.lease_s,
            allow_cancelling=True,
        )
        await repo.update_step(
            conn, step_id=step.id, response=stored_response(result), error=reason
        )
        text = (
            t(ctx.lang, "retrying", n=step.idx + 1, attempt=attempt, max=max_attempts, delay=delay)
            + f" ({clip(reason, 200)})"
        )
        await chat_repo.append_message(
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


async def _end_step(
    ctx: _Ctx,
    step: PlanStep,
    total: int,
    result: InvokeResult | None,
    error: str | None,
    *,
    summary: str | None,
    ms: int | None,
) -> None:
    """Commit the step's result, its event, its audit record and its chat line together."""
    run, deps = ctx.run, ctx.deps
    status = "done" if error is None else "error"
    detail = short_result(result, is_command=_command_ran(result) if result else False)
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
    async with deps.db.write() as conn:
        await hold(
            conn, run_id=run.id, owner=deps.owner, lease_s=deps.lease_s, allow_cancelling=True
        )
        await repo.update_step(conn, step_id=step.id, **values)
        await repo.emit_run(conn, run_id=run.id)
        await append_audit(
            conn, actor=deps.actor, action="step", project_id=run.project_id, chat_id=run.chat_id, run_id=run.id,
            step_id=step.id, plan_hash=run.plan_hash, request_summary=summary or f"{step.service} {step.operation}",
            response_summary=clip(detail, 1000), outcome=status,
        )  # fmt: skip
        await chat_repo.append_message(
            conn, chat_id=run.chat_id, role="event", run_id=run.id, meta={"kind": "step", "step": step.idx, "status": status},
            content=step_line(ctx.lang, n=step.idx + 1, total=total, service=step.service, operation=step.operation, status=status, ms=ms, detail=detail),
        )  # fmt: skip
    log.info("step %d %s", step.idx + 1, status, extra={"service": step.service, "error": error})


async def _finish_run(ctx: _Ctx, outcome: Outcome) -> str:
    """``done`` / ``error`` / ``cancelled``: the run, the chat state, the audit and the closing line."""
    deps = ctx.deps
    async with deps.db.write() as conn:
        run = await repo.get_run(conn, run_id=ctx.run.id)
        if run.lease_owner != deps.owner or run.status not in WORKING:
            raise LeaseLost(run.id)
        final = outcome.status
        await repo.transition(
            conn, run_id=run.id, frm=WORKING, to=final, where=runs.c.lease_owner == deps.owner,
            finished_at=now(), lease_owner=None, lease_expires_at=None, error=outcome.error,
        )  # fmt: skip
        await plans.finish_chat_state(conn, run=run, status=final)
        done = sum(1 for s in run.steps if s.status == "done")
        total = len(run.steps)
        if final == "done":
            text = t(ctx.lang, "run_done", done=done, total=total)
        elif final == "cancelled":
            text = t(ctx.lang, "run_cancelled", done=done, total=total)
        else:
            text = t(
                ctx.lang, "run_error", n=outcome.step_n or "?", error=clip(outcome.error or "", 500)
            )
        await append_audit(
            conn, actor=deps.actor, action="run.finish", project_id=run.project_id, chat_id=run.chat_id, run_id=run.id,
            plan_hash=run.plan_hash, response_summary=outcome.error, outcome=final,
        )  # fmt: skip
        await chat_repo.append_message(
            conn,
            chat_id=run.chat_id,
            role="event",
            content=text,
            run_id=run.id,
            meta={"kind": "run", "status": final},
        )
    RUNS_FINISHED.labels(final).inc()
    log.info("run %s", final)
    return final


async def _propose_correction(ctx: _Ctx, steps_in: list[dict[str, Any]]) -> None:
    """A correction that changes the program or raises the risk becomes a new draft: a person decides."""
    deps, run = ctx.deps, ctx.run
    try:
        new = await plans.propose(
            deps.db, deps.registry, chat_id=run.chat_id, summary=clip(f"{run.summary} (corrected)", 300),
            steps_in=steps_in, proposed_by="runner:reasoner", lang=ctx.lang, ttl_s=deps.settings.plan_ttl,
        )  # fmt: skip
    except PilotoError as exc:
        log.warning("the reasoner's correction could not be proposed: %s", exc)
        async with deps.db.write() as conn:
            await chat_repo.append_message(
                conn,
                chat_id=run.chat_id,
                role="event",
                content=t(ctx.lang, "invalid_plan", reason=str(exc)),
                run_id=run.id,
            )
        return
    async with deps.db.write() as conn:
        await chat_repo.append_message(
            conn, chat_id=run.chat_id, role="event", content=t(ctx.lang, "reasoner_new_plan"), run_id=new.id,
            meta={"kind": "reasoner", "action": "new_plan", "from_run": run.id},
        )  # fmt: skip
