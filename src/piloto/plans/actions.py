"""The consent actions' cores: propose, cancel, and a person's decision on an interrupted run.

Each takes the caller's write transaction (``plans.service`` opens one per action; ``chat``
opens its own when the proposal's tool call must commit with it) and returns an ``Outcome``:
the run as written and the chat lines appended, so nobody reads back what was just written.
The state change, the chat state, the audit record, the chat line and the live event commit
together or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from piloto.audit.log import append_audit
from piloto.auth.tokens import Principal
from piloto.errors import Conflict, Forbidden, NotFound
from piloto.i18n import MESSAGES, t
from piloto.notify.runs import notify_waiting
from piloto.plans import repo
from piloto.plans.confirm import plan_risk, queue
from piloto.plans.models import InterruptedChoice, Outcome, PlanRun
from piloto.plans.plan import canonical_plan, plan_hash, plan_json
from piloto.plans.validate import CheckedStep, PlanInvalid, check_plan, command_of
from piloto.policy.chars import hidden_characters
from piloto.projects.repo import get_project
from piloto.services.registry import ServiceRegistry
from piloto.store.ids import now
from piloto.store.schema import chat_state
from piloto.threads import repo as threads_repo
from piloto.threads.models import Message

POLICY_ACTOR = "policy:auto-approve-reads"


def describe_steps(
    checked: Sequence[CheckedStep] | Sequence[Mapping[str, Any]], lang: str = "en"
) -> str:
    """A numbered Markdown list of steps: service · operation — key arguments (risk), in ``lang``."""
    lines = []
    for n, s in enumerate(checked, start=1):
        d = s if isinstance(s, Mapping) else s.__dict__
        args = d["arguments"]
        cmd = command_of(args)
        shown = (
            f"`{cmd}`"
            if cmd
            else ", ".join(
                f"{k}={json.dumps(v, ensure_ascii=False)[:60]}" for k, v in list(args.items())[:4]
            )
        )
        risk = d.get("risk", "write")
        word = t(lang, f"risk_{risk}") if f"risk_{risk}" in MESSAGES else risk
        why = (
            t(lang, "step_risk", risk=word, reason=d["risk_reason"])
            if d.get("risk_reason")
            else word
        )
        lines.append(
            f"{n}. **{d['service']}** · {d['operation']}{' — ' + shown if shown else ''} ({why})"
        )
        # Look-alike characters are named under the step so a person sees what the text hides.
        lines.extend(f"   ⚠ {w}" for w in d.get("warnings") or ())
    return "\n".join(lines)


async def _supersede(conn: Any, run: PlanRun) -> bool:
    """``draft → superseded``; False when a confirm or cancel that committed first moved it."""
    try:
        await repo.move(conn, run, to="superseded")
    except repo.TransitionRejected:
        return False
    return True


async def propose(
    conn: Any,
    registry: ServiceRegistry,
    *,
    chat_id: str,
    summary: str,
    steps_in: Sequence[Mapping[str, Any]],
    proposed_by: str,
    lang: str,
    ttl_s: int,
    preface: str | None = None,
    proposed_for: Principal | None = None,
    corrects: Mapping[str, Any] | None = None,
) -> Outcome:
    """Validate a plan and store it as the chat's pending draft (superseding an older one).

    ``proposed_for`` is the person whose message (or ``/cmd``, ``/call``, edit) produced the
    plan: only they can confirm it by typing "yes"; anyone with the operator role can on its
    card. ``corrects`` (``{run_id, step_id, index}``, index from 1 as shown) says which
    failed step it corrects. The outcome's messages: the model's preface (if any), the
    proposal, and the auto-approval line when the project's policy queued it.
    """
    hidden = hidden_characters(summary)
    if hidden:
        raise PlanInvalid(
            [
                f"the summary holds invisible or direction-changing characters: {', '.join(hidden[:3])}"
            ]
        )
    chat = await threads_repo.get_chat(conn, chat_id=chat_id)
    project = await get_project(conn, project_id=chat.project_id)
    checked = await check_plan(
        conn, registry, project_id=project.id, settings=project.settings, steps=steps_in,
        lang=lang,
    )  # fmt: skip
    plan = canonical_plan(summary, [c.__dict__ for c in checked])
    # Proposals racing in one chat take turns, so each supersedes the one before and the
    # chat never holds two drafts.
    await repo.lock_proposals(conn, chat_id=chat_id)
    state = await repo.get_chat_state(conn, chat_id=chat_id)
    superseded = None
    if state.pending_run_id:
        old = await repo.get_run(conn, run_id=state.pending_run_id)
        if old.status == "draft" and await _supersede(conn, old):
            await append_audit(
                conn,
                actor=proposed_by,
                action="supersede",
                project_id=project.id,
                chat_id=chat_id,
                run_id=old.id,
                plan_hash=old.plan_hash,
                outcome="superseded",
            )
            superseded = old.id
    h = plan_hash(plan)
    risk = plan_risk([c.risk for c in checked])
    required = project.settings.approvals_for(risk)
    run = await repo.insert_run(
        conn, chat_id=chat_id, project_id=project.id, summary=summary, plan_json=plan_json(plan),
        plan_hash=h, proposed_by=proposed_by, step_specs=[c.__dict__ for c in checked],
        expires_at=now() + ttl_s, supersedes_run_id=superseded,
        proposed_for=proposed_for.token_id if proposed_for else None,
        proposed_for_name=proposed_for.name if proposed_for else None,
        risk=risk, approvals_required=required, corrects=dict(corrects) if corrects else None,
    )  # fmt: skip
    await repo.set_chat_state(conn, chat_id=chat_id, pending_run_id=run.id)
    await append_audit(
        conn,
        actor=proposed_by,
        action="propose",
        project_id=project.id,
        chat_id=chat_id,
        run_id=run.id,
        plan_hash=h,
        request_summary=summary,
    )
    written: list[Message] = []
    if preface:
        # The model's own words come before its proposal, in the same commit.
        written.append(
            await threads_repo.append_message(
                conn,
                chat_id=chat_id,
                role="assistant",
                content=preface,
                meta={"preface_of": run.id},
            )
        )
    text = t(lang, "proposed", summary=summary, steps=describe_steps(checked, lang))
    if corrects:
        text = t(lang, "corrects_step", index=corrects.get("index", "?")) + "\n\n" + text
    if superseded:
        text = t(lang, "superseded") + "\n\n" + text
    written.append(
        await threads_repo.append_message(
            conn,
            chat_id=chat_id,
            role="assistant",
            content=text,
            run_id=run.id,
            meta={"kind": "plan", "plan_hash": h},
        )
    )
    # Never in place of people the project requires (the two-person rule).
    auto = (
        project.settings.auto_approve_reads
        and required <= 1
        and all(c.risk == "read" and not c.is_command for c in checked)
    )
    if auto and state.active_run_id is None:
        run = await queue(conn, run, actor=POLICY_ACTOR, by_policy=True)
        await append_audit(
            conn,
            actor=POLICY_ACTOR,
            action="confirm",
            project_id=project.id,
            chat_id=chat_id,
            run_id=run.id,
            plan_hash=h,
            outcome="queued",
        )
        written.append(
            await threads_repo.append_message(
                conn, chat_id=chat_id, role="event", content=t(lang, "auto_approved"), run_id=run.id
            )
        )
    else:
        await repo.emit(conn, run)
        await notify_waiting(conn, run_id=run.id)
    return Outcome(run, written)


async def finish_chat_state(conn: Any, *, run: PlanRun, status: str) -> None:
    """Clear the chat's active run and record the last one."""
    await repo.set_chat_state(
        conn, chat_id=run.chat_id, active_run_id=None, where=chat_state.c.active_run_id == run.id
    )
    await repo.set_chat_state(
        conn, chat_id=run.chat_id, last_run_id=run.id, last_run_status=status, last_run_at=now()
    )


async def cancel(conn: Any, *, run_id: str, principal: Principal, lang: str) -> Outcome:
    """Cancel a draft or a queued run, or ask a running one to stop before its next step."""
    if not principal.can("operator"):
        raise Forbidden(t(lang, "viewer_cannot_confirm"), code="viewer")
    # Locked before the chat state, in the order confirm and the runner take them.
    run = await repo.get_run(conn, run_id=run_id, for_update=True)
    if run.status in ("draft", "queued", "interrupted"):
        at = now()
        moved = await repo.move(
            conn, run, to="cancelled", cancelled_by=principal.name, finished_at=at, updated_at=at
        )
        if run.status == "draft":
            await repo.set_chat_state(
                conn,
                chat_id=run.chat_id,
                pending_run_id=None,
                where=chat_state.c.pending_run_id == run_id,
            )
        else:
            await finish_chat_state(conn, run=run, status="cancelled")
        text = t(lang, "cancelled", actor=principal.name)
    elif run.status == "running":
        moved = await repo.move(conn, run, to="cancelling", cancelled_by=principal.name)
        text = t(lang, "cancelling")
    else:
        raise Conflict(
            f"This plan is {run.status}; there is nothing to cancel.",
            code="not_cancellable",
            status=run.status,
            run_id=run_id,
        )
    await append_audit(
        conn,
        actor=principal.name,
        action="cancel",
        project_id=run.project_id,
        chat_id=run.chat_id,
        run_id=run_id,
        plan_hash=run.plan_hash,
        outcome=run.status,
    )
    msg = await threads_repo.append_message(
        conn, chat_id=run.chat_id, role="event", content=text, run_id=run_id
    )
    return Outcome(moved, [msg])


async def decide_interrupted(
    conn: Any, *, run_id: str, choice: InterruptedChoice, principal: Principal, lang: str
) -> Outcome:
    """A person's answer for a step whose outcome is unknown: retry it, skip it, or abort."""
    if not principal.can("operator"):
        raise Forbidden(t(lang, "viewer_cannot_confirm"), code="viewer")
    if choice == "abort":
        return await cancel(conn, run_id=run_id, principal=principal, lang=lang)
    run = await repo.get_run(conn, run_id=run_id, for_update=True)
    if run.status != "interrupted":
        raise Conflict(
            f"This plan is {run.status}, not interrupted.",
            code="not_interrupted",
            status=run.status,
        )
    step = next((s for s in run.steps if s.status == "interrupted"), None)
    if step is None:
        raise NotFound(t(lang, "no_interrupted_step"))
    new_status = "pending" if choice == "retry" else "skipped"
    await repo.update_step(conn, step_id=step.id, expect="interrupted", status=new_status)
    decided = step.model_copy(update={"status": new_status})
    run = run.model_copy(update={"steps": [decided if s.id == step.id else s for s in run.steps]})
    moved = await repo.move(conn, run, to="queued", lease_owner=None, lease_expires_at=None)
    await append_audit(
        conn,
        actor=principal.name,
        action=f"step.{choice}",
        project_id=run.project_id,
        chat_id=run.chat_id,
        run_id=run_id,
        step_id=step.id,
        plan_hash=run.plan_hash,
    )
    msg = await threads_repo.append_message(
        conn,
        chat_id=run.chat_id,
        role="event",
        content=t(lang, f"step_decided_{choice}", actor=principal.name, n=step.idx + 1),
        run_id=run_id,
    )
    return Outcome(moved, [msg])
