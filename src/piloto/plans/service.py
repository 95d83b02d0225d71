"""Consent's entry points: propose, confirm, cancel, expire, and a decision on an interrupted run.

Each opens exactly ONE write transaction, runs the action's core in it (``plans.actions``,
``plans.confirm``) and returns the ``Outcome`` the core wrote: the run and its chat lines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select

from piloto.auth.tokens import Principal
from piloto.errors import Conflict, Forbidden
from piloto.i18n import t
from piloto.plans import actions, repo
from piloto.plans import confirm as consent
from piloto.plans.actions import POLICY_ACTOR, describe_steps, finish_chat_state
from piloto.plans.confirm import Refused, expire_run
from piloto.plans.models import InterruptedChoice, Outcome, PlanRun
from piloto.services.registry import ServiceRegistry
from piloto.store.db import Database
from piloto.store.ids import now
from piloto.store.schema import runs

__all__ = [
    "POLICY_ACTOR",
    "Refused",
    "cancel",
    "confirm",
    "decide_interrupted",
    "describe_steps",
    "finish_chat_state",
    "propose",
]


async def propose(
    db: Database,
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
    """Store a plan as the chat's pending draft, in one transaction (see ``actions.propose``)."""
    async with db.write() as conn:
        return await actions.propose(
            conn, registry, chat_id=chat_id, summary=summary, steps_in=steps_in,
            proposed_by=proposed_by, lang=lang, ttl_s=ttl_s, preface=preface,
            proposed_for=proposed_for, corrects=corrects,
        )  # fmt: skip


async def confirm(
    db: Database, *, run_id: str, plan_hash_: str, principal: Principal, lang: str
) -> Outcome:
    """This person approves exactly this plan; the last approval needed queues it (one CAS).

    Returns the run as the one transaction wrote it. A draft past its TTL is expired and the
    confirmation refused with ``Refused``, which carries the expiry's outcome.
    """
    if not principal.can("operator"):
        raise Forbidden(t(lang, "viewer_cannot_confirm"), code="viewer")
    async with db.gate(f"confirm:{run_id}"):
        # Losers learn it from a snapshot, without queueing for the writer; the conditional
        # UPDATE in the transaction below stays the real check (other instances, races).
        async with db.read() as conn:
            consent.refuse(
                await repo.get_run(conn, run_id=run_id, with_steps=False), plan_hash_, lang
            )
        async with db.write() as conn:
            outcome = await consent.confirm(
                conn, run_id=run_id, plan_hash_=plan_hash_, principal=principal, lang=lang
            )
    if outcome.run.status == "expired":
        # Refused only now: raised inside the transaction, it would undo the expiry.
        raise Refused(t(lang, "expired"), outcome, code="expired", status="expired", run_id=run_id)
    return outcome


async def cancel(db: Database, *, run_id: str, principal: Principal, lang: str) -> Outcome:
    """Cancel a draft or a queued run, or ask a running one to stop before its next step."""
    if not principal.can("operator"):
        raise Forbidden(t(lang, "viewer_cannot_confirm"), code="viewer")
    async with db.write() as conn:
        return await actions.cancel(conn, run_id=run_id, principal=principal, lang=lang)


async def decide_interrupted(
    db: Database, *, run_id: str, choice: InterruptedChoice, principal: Principal, lang: str
) -> Outcome:
    """A person's answer for a step whose outcome is unknown: retry it, skip it, or abort."""
    if not principal.can("operator"):
        raise Forbidden(t(lang, "viewer_cannot_confirm"), code="viewer")
    async with db.write() as conn:
        return await actions.decide_interrupted(
            conn, run_id=run_id, choice=choice, principal=principal, lang=lang
        )


async def expire_drafts(db: Database, *, lang: str = "en") -> int:
    """Expire every draft past its TTL, each in its own transaction; returns how many."""
    async with db.read() as conn:
        ids = [
            r.id
            for r in await conn.execute(
                select(runs.c.id).where(runs.c.status == "draft", runs.c.expires_at < now())
            )
        ]
    count = 0
    for run_id in ids:
        async with db.write() as conn:
            run = await repo.get_run(conn, run_id=run_id, for_update=True)
            if run.status == "draft":
                await expire_run(conn, run, lang)
                count += 1
    return count


async def draft_steps(db: Database, *, run_id: str) -> tuple[PlanRun, list[dict[str, Any]]]:
    """A draft and its steps as plain dicts (for editing)."""
    async with db.read() as conn:
        run = await repo.get_run(conn, run_id=run_id)
    if run.status != "draft":
        raise Conflict(
            f"This plan is {run.status}; only a draft can be edited.",
            code="not_draft",
            status=run.status,
        )
    return run, [
        {"service": s.service, "operation": s.operation, "arguments": s.arguments}
        for s in run.steps
    ]
