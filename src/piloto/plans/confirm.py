"""Confirmation by people: one approval per person, and the compare-and-swap ``draft → queued``.

A project may require several different people for a risk class (``required_approvals``).
Each approval is stored with the plan hash and audited in the same transaction as the check;
the run's row is locked first so concurrent approvers see each other and exactly one of
them — the last needed — queues the run. The functions here run in the caller's write
transaction (``plans.service`` opens it) and return what they wrote.
"""

from __future__ import annotations

from typing import Any

from piloto.audit.log import append_audit
from piloto.auth.tokens import Principal
from piloto.errors import Conflict, Forbidden
from piloto.i18n import t
from piloto.plans import repo
from piloto.plans.models import Approval, Outcome, PlanRun
from piloto.projects.repo import get_project
from piloto.store.ids import now
from piloto.store.schema import chat_state, runs
from piloto.threads import repo as threads_repo

RISK_ORDER = {"read": 0, "write": 1, "destructive": 2}


def plan_risk(risks: list[str]) -> str:
    """A plan's risk: its riskiest step's (an unknown risk counts as ``write``)."""
    return max(risks or ["read"], key=lambda r: RISK_ORDER.get(r, RISK_ORDER["write"]))


class Refused(Conflict):
    """A refusal that still wrote something (a draft found expired): the caller answers with it."""

    def __init__(self, message: str, outcome: Outcome, **extra: Any) -> None:
        super().__init__(message, **extra)
        self.outcome = outcome


async def _make_active(conn: Any, *, run_id: str, chat_id: str) -> None:
    await repo.set_chat_state(
        conn, chat_id=chat_id, pending_run_id=None, where=chat_state.c.pending_run_id == run_id
    )
    await repo.set_chat_state(conn, chat_id=chat_id, active_run_id=run_id)


async def queue_run(
    conn: Any,
    *,
    run_id: str,
    chat_id: str,
    actor: str,
    by_policy: bool,
    expected_hash: str | None = None,
) -> None:
    """``draft → queued`` (on the expected hash) and make it the chat's active run."""
    where = runs.c.plan_hash == expected_hash if expected_hash else None
    await repo.transition(
        conn, run_id=run_id, frm="draft", to="queued", where=where,
        confirmed_by=actor, confirmed_at=now(), approved_by_policy=by_policy,
    )  # fmt: skip
    await _make_active(conn, run_id=run_id, chat_id=chat_id)


async def queue(conn: Any, run: PlanRun, *, actor: str, by_policy: bool) -> PlanRun:
    """``queue_run`` for a draft read in this transaction, on its hash; the run as queued."""
    at = now()
    queued = await repo.move(
        conn, run, to="queued", where=runs.c.plan_hash == run.plan_hash, confirmed_by=actor,
        confirmed_at=at, approved_by_policy=by_policy, updated_at=at,
    )  # fmt: skip
    await _make_active(conn, run_id=run.id, chat_id=run.chat_id)
    return queued


async def expire_run(conn: Any, run: PlanRun, lang: str) -> Outcome:
    """``draft → expired``, audited and announced; ``run`` is read in this transaction."""
    expired = await repo.move(conn, run, to="expired")
    await repo.set_chat_state(
        conn, chat_id=run.chat_id, pending_run_id=None, where=chat_state.c.pending_run_id == run.id
    )
    await append_audit(
        conn,
        actor="system",
        action="expire",
        project_id=run.project_id,
        chat_id=run.chat_id,
        run_id=run.id,
        plan_hash=run.plan_hash,
        outcome="expired",
    )
    msg = await threads_repo.append_message(
        conn, chat_id=run.chat_id, role="event", content=t(lang, "expired"), run_id=run.id
    )
    return Outcome(expired, [msg])


async def confirm(
    conn: Any, *, run_id: str, plan_hash_: str, principal: Principal, lang: str
) -> Outcome:
    """This person approves exactly this plan; the last approval needed queues it (one CAS).

    Runs in the caller's write transaction, under the run's row lock, and returns the run as
    written. A draft found past its TTL is expired instead: the outcome says ``expired`` and
    the caller refuses the confirmation once that is committed.
    """
    if not principal.can("operator"):
        raise Forbidden(t(lang, "viewer_cannot_confirm"), code="viewer")
    run = await repo.get_run(conn, run_id=run_id, for_update=True)
    refuse(run, plan_hash_, lang)
    if run.expires_at is not None and run.expires_at < now():
        return await expire_run(conn, run, lang)
    return await _approve(conn, run, principal, lang)


def refuse(run: PlanRun, plan_hash_: str, lang: str) -> None:
    """409 unless ``run`` is a draft with exactly this hash."""
    if run.status != "draft":
        raise Conflict(
            t(lang, "not_draft", status=t(lang, f"status_{run.status}")),
            code="not_draft",
            status=run.status,
            run_id=run.id,
        )
    if plan_hash_ != run.plan_hash:
        raise Conflict(
            t(lang, "plan_hash_mismatch"),
            code="plan_hash_mismatch", status=run.status, plan_hash=run.plan_hash, run_id=run.id,
        )  # fmt: skip


async def _approve(conn: Any, run: PlanRun, principal: Principal, lang: str) -> Outcome:
    project = await get_project(conn, project_id=run.project_id)
    # The stricter of the rule when proposed and the rule now: raising it applies to drafts.
    required = max(run.approvals_required or 1, project.settings.approvals_for(run.risk or "write"))
    state = await repo.get_chat_state(conn, chat_id=run.chat_id)
    before = await repo.count_approvals(conn, run_id=run.id, plan_hash=run.plan_hash)
    if before + 1 >= required and state.active_run_id and state.active_run_id != run.id:
        # This approval would queue the run: refuse it while another run is active.
        active = await repo.get_run(conn, run_id=state.active_run_id, with_steps=False)
        raise Conflict(
            t(lang, "already_running", status=active.status),
            code="already_running",
            status=active.status,
            run_id=active.id,
        )
    at = now()
    added = await repo.add_approval(
        conn, run_id=run.id, principal=principal.token_id, name=principal.name,
        plan_hash=run.plan_hash, at=at,
    )  # fmt: skip
    if not added:
        raise Conflict(
            t(lang, "already_approved", count=before, required=required),
            code="already_approved", status=run.status, run_id=run.id,
            approvals=before, approvals_required=required,
        )  # fmt: skip
    run = run.model_copy(
        update={"approvals": [*run.approvals, Approval(by=principal.name, at=at)], "updated_at": at}
    )
    count = before + 1
    audit = {
        "project_id": run.project_id, "chat_id": run.chat_id, "run_id": run.id,
        "plan_hash": run.plan_hash,
    }  # fmt: skip
    if count < required:
        await append_audit(
            conn, actor=principal.name, action="approve", outcome=f"{count}/{required}", **audit
        )
        msg = await threads_repo.append_message(
            conn,
            chat_id=run.chat_id,
            role="event",
            content=t(
                lang, "approval_recorded", actor=principal.name, count=count,
                required=required, missing=required - count,
            ),
            run_id=run.id,
        )  # fmt: skip
        await repo.emit(conn, run)
        return Outcome(run, [msg])
    queued = await queue(conn, run, actor=principal.name, by_policy=False)
    await append_audit(
        conn, actor=principal.name, action="confirm", outcome="queued",
        request_summary=f"{count}/{required} approvals" if required > 1 else None, **audit,
    )  # fmt: skip
    msg = await threads_repo.append_message(
        conn,
        chat_id=run.chat_id,
        role="event",
        content=t(lang, "confirmed", actor=principal.name),
        run_id=run.id,
    )
    return Outcome(queued, [msg])
