"""The reasoner's correction of a failed command, and the rule that it never widens consent.

A correction runs under the confirmation already given only when the policy allows it, its
risk is ``read`` and it runs the programs the original ran (invariant 4). Anything else the
policy allows becomes a new draft that a person must confirm; what the policy blocks is
dropped. The failed output reaches the model only as fenced data, and nothing in it can make
a correction acceptable: the rule above looks at the command alone.
"""

from __future__ import annotations

import logging
from typing import Any

from piloto.errors import PilotoError
from piloto.i18n import t
from piloto.plans import actions as plans_actions
from piloto.plans.models import PlanStep
from piloto.policy import CommandLimits, check_command, check_correction
from piloto.runner.context import Correction, RunCtx, StepFailed
from piloto.runner.reasoner import ReasonerAnswer, agent_reasoner
from piloto.runner.record import end_step, say
from piloto.runner.report import clip
from piloto.runner.templating import has_placeholders
from piloto.services.models import InvokeResult
from piloto.threads import repo as threads_repo

log = logging.getLogger("piloto.runner")


def with_command(arguments: dict[str, Any], cmd: str) -> dict[str, Any]:
    """A copy of a command step's arguments with the command replaced."""
    out = dict(arguments)
    if isinstance(out.get("body"), dict) and "cmd" in out["body"]:
        out["body"] = {**out["body"], "cmd": cmd}
    else:
        out["cmd"] = cmd
    return out


def judge(original: str, corrected: str, limits: CommandLimits, lang: str) -> tuple[str, str]:
    """``("run" | "consent" | "blocked", why)``: may the correction run under the old consent?"""
    verdict = check_command(corrected, limits)
    if not verdict.allowed:
        return "blocked", verdict.reason
    if verdict.risk != "read":
        return "consent", t(lang, "correction_not_read", risk=verdict.risk)
    same = check_correction(original, corrected, limits)
    if not same.allowed:
        return "consent", same.reason
    return "run", same.reason


async def ask_reasoner(
    ctx: RunCtx, step: PlanStep, total: int, original: str, result: InvokeResult, reason: str, summary: str,
    limits: CommandLimits, arguments: dict[str, Any],
) -> str:  # fmt: skip
    """The correction to run as the final attempt; StepFailed when there is none to run."""
    deps, run, lang = ctx.deps, ctx.run, ctx.lang
    assert deps.model is not None
    answer = await ctx.watch.guard(
        agent_reasoner(deps.model, command=original, result=result, summary=run.summary)
    )
    if answer.cmd is not None and answer.cmd.strip() == original.strip():
        # The same command again is no correction (and, for a write, a re-send in disguise).
        answer = ReasonerAnswer("give_up", "the model proposed the same command again")
    if answer.action == "give_up" or answer.cmd is None:
        await say(
            ctx,
            t(lang, "reasoner_gave_up", reason=answer.reason),
            meta={"kind": "reasoner", "step": step.idx, "action": "give_up"},
        )
        failure = t(lang, "reasoner_no_fix", reason=reason, why=answer.reason)
        await end_step(ctx, step, total, result, failure, summary=summary, ms=result.duration_ms)
        raise StepFailed(failure)
    corrected = answer.cmd
    decision, why = judge(original, corrected, limits, lang)
    if decision == "run":
        await say(
            ctx, t(lang, "reasoner_fix", cmd=corrected, reason=answer.reason),
            meta={"kind": "reasoner", "step": step.idx, "action": "fix"},
            audit=("reasoner.fix", f"$ {original}", f"$ {corrected}", "fix"),
        )  # fmt: skip
        return corrected
    needs_consent = decision == "consent"
    action = "reasoner.new_plan" if needs_consent else "reasoner.blocked"
    await say(
        ctx, t(lang, "reasoner_blocked", cmd=corrected, reason=why),
        meta={"kind": "reasoner", "step": step.idx, "action": "new_plan" if needs_consent else "blocked"},
        audit=(action, f"$ {original}", f"$ {corrected}", "blocked"),
    )  # fmt: skip
    failure = t(lang, "correction_not_run", reason=reason, cmd=clip(corrected, 200), why=why)
    await end_step(ctx, step, total, result, failure, summary=summary, ms=result.duration_ms)
    draft = None
    if needs_consent:
        # The rest of the plan comes along unless it refers to earlier results by index (the
        # indices would shift in the new plan); then the corrected step is proposed alone.
        later = [s for s in run.steps if s.idx > step.idx]
        steps_in = [
            {
                "service": step.service,
                "operation": step.operation,
                "arguments": with_command(arguments, corrected),
            }
        ]
        if not any(has_placeholders(s.arguments) for s in later):
            steps_in += [
                {"service": s.service, "operation": s.operation, "arguments": s.arguments}
                for s in later
            ]
        # ``index`` counts from 1, as the card and the chat show steps.
        corrects = {"run_id": run.id, "step_id": step.id, "index": step.idx + 1}
        draft = Correction(steps=steps_in, corrects=corrects, step_n=step.idx + 1)
    raise StepFailed(failure, new_draft=draft)


async def propose_correction(ctx: RunCtx, correction: Correction) -> None:
    """A correction that needs consent becomes a new draft: a person decides."""
    deps, run = ctx.deps, ctx.run
    text = t(ctx.lang, "reasoner_new_plan", n=correction.step_n, summary=clip(run.summary, 120))
    try:
        # The draft and the line that says where it comes from commit together.
        async with deps.db.write() as conn:
            new = await plans_actions.propose(
                conn, deps.registry, chat_id=run.chat_id,
                summary=clip(f"{run.summary} (corrected)", 300), steps_in=correction.steps,
                proposed_by="runner:reasoner", lang=ctx.lang, ttl_s=deps.settings.plan_ttl,
                corrects=correction.corrects,
            )  # fmt: skip
            await threads_repo.append_message(
                conn, chat_id=run.chat_id, role="event", content=text, run_id=new.run.id,
                meta={"kind": "reasoner", "action": "new_plan", "from_run": run.id, "corrects": correction.corrects},
            )  # fmt: skip
    except PilotoError as exc:
        log.warning("the reasoner's correction could not be proposed: %s", exc)
        async with deps.db.write() as conn:
            await threads_repo.append_message(
                conn,
                chat_id=run.chat_id,
                role="event",
                content=t(ctx.lang, "invalid_plan", reason=str(exc)),
                run_id=run.id,
            )
