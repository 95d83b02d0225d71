"""The one way a run ends (``done`` / ``error`` / ``cancelled``) or stops for a person
(``interrupted``): its status, the chat state, the audit record and the closing line, all in
the caller's transaction. The executor, the runner's last-resort error path and recovery use it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from piloto.audit.log import append_audit
from piloto.i18n import t
from piloto.plans import repo
from piloto.plans import service as plans
from piloto.plans.models import PlanRun, PlanStep
from piloto.runner.journal import emit_delta
from piloto.runner.leases import WORKING
from piloto.runner.report import clip, localise_reason
from piloto.store.ids import now
from piloto.store.schema import runs
from piloto.threads import repo as threads_repo

CHOICES = ("retry", "skip", "abort")


def closing_text(
    lang: str, run: PlanRun, status: str, *, step_n: int | None, error: str | None
) -> str:
    """The chat line that says how a run ended."""
    done = sum(1 for s in run.steps if s.status == "done")
    if status == "done":
        return t(lang, "run_done", done=done, total=len(run.steps))
    if status == "cancelled":
        return t(lang, "run_cancelled", done=done, total=len(run.steps))
    reason = clip(localise_reason(lang, error or ""), 500)
    return t(lang, "run_error", n=step_n or "?", error=reason)


async def close_run(
    conn: AsyncConnection,
    *,
    run: PlanRun,
    to: str,
    actor: str,
    text: str,
    frm: str | Sequence[str] = WORKING,
    owner: str | None = None,
    error: str | None = None,
    audit_summary: str | None = None,
    step: PlanStep | None = None,
    changed: PlanStep | None = None,
) -> None:
    """Move ``run`` to ``to`` (conditionally on ``owner``'s lease) and record it everywhere:
    the ``run_finished`` of the journal, one transaction, its event a ``run_delta``.

    An interrupted run keeps its place as the chat's active run: it waits for a person to
    retry, skip or abort the step whose outcome is unknown. ``changed``: a step the caller
    ended in this transaction (besides ``step``), for the event to carry.
    """
    interrupted = to == "interrupted"
    t = now()
    values: dict[str, Any] = {
        "lease_owner": None, "lease_expires_at": None, "error": error, "updated_at": t,
    }  # fmt: skip
    if not interrupted:
        values["finished_at"] = t
    await repo.transition(
        conn, run_id=run.id, frm=frm, to=to, emit=False,
        where=runs.c.lease_owner == owner if owner is not None else None, **values,
    )  # fmt: skip
    await emit_delta(
        conn, run, status=to, updated_at=t, step=step or changed, end=True,
        finished_at=values.get("finished_at"), error=error,
    )  # fmt: skip
    if not interrupted:
        await plans.finish_chat_state(conn, run=run, status=to)
    await append_audit(
        conn, actor=actor, action="run.interrupted" if interrupted else "run.finish",
        project_id=run.project_id, chat_id=run.chat_id, run_id=run.id,
        step_id=step.id if step is not None else None, plan_hash=run.plan_hash,
        request_summary=step.request_summary if interrupted and step is not None else None,
        response_summary=audit_summary, outcome=to,
    )  # fmt: skip
    meta: dict[str, Any] = {"kind": "run", "status": to}
    if interrupted:
        meta = {"kind": "interrupted", "step": step.idx if step else None, "choices": list(CHOICES)}
    await threads_repo.append_message(
        conn, chat_id=run.chat_id, role="event", content=text, run_id=run.id, meta=meta
    )
