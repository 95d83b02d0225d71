"""``recover_stale_runs``: take over runs whose owner stopped renewing its lease.

A step found ``running`` has an unknown outcome. It is re-sent only when that is safe: the
operation is idempotent, its service honours the Idempotency-Key Piloto sends (stable
across attempts), or it is a command the policy classifies ``read``. Any other step becomes ``interrupted`` and the run waits for a person to
retry, skip or abort (invariant 2). Finished steps stay finished.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any, Literal

from sqlalchemy import or_, select, update

from piloto.audit.log import append_audit
from piloto.errors import PilotoError
from piloto.i18n import t
from piloto.metrics import LEASE_TAKEOVERS, RUNS_FINISHED
from piloto.plans import repo
from piloto.plans.models import PlanRun, PlanStep
from piloto.plans.validate import command_limits, command_of, is_command_operation
from piloto.policy import check_command
from piloto.projects.repo import get_project
from piloto.runner.finish import close_run, closing_text
from piloto.runner.journal import with_step
from piloto.runner.leases import WORKING
from piloto.runner.recovery_batch import UNKNOWN_OUTCOME, take_over_batch
from piloto.runner.templating import TemplateError, render
from piloto.services.registry import ServiceRegistry
from piloto.store.db import Database
from piloto.store.ids import now
from piloto.store.schema import runs
from piloto.threads import repo as threads_repo

log = logging.getLogger("piloto.runner.recovery")

TakeOver = Literal["resume", "interrupted", "cancelled", "lost"]
# Runs taken over in one unit of work (``recovery_batch``); the rest one by one.
BATCH = 200


async def stale_runs(db: Database, *, take_all: bool, skip: Collection[str] = ()) -> list[Any]:
    """Runs in ``running``/``cancelling`` whose lease expired (every one of them with ``take_all``)."""
    q = select(runs.c.id, runs.c.status, runs.c.lease_owner, runs.c.lease_expires_at).where(
        runs.c.status.in_(WORKING)
    )
    if not take_all:
        q = q.where(or_(runs.c.lease_expires_at.is_(None), runs.c.lease_expires_at < now()))
    async with db.read() as conn:
        rows = (await conn.execute(q.order_by(runs.c.updated_at))).all()
    return [r for r in rows if r.id not in skip]


async def recover_stale_runs(
    db: Database,
    registry: ServiceRegistry,
    *,
    owner: str,
    lease_s: float,
    language: str = "en",
    take_all: bool = False,
    skip: Collection[str] = (),
) -> list[str]:
    """Take over stale runs; returns the ids this instance should now resume."""
    resume: list[str] = []
    rows = await stale_runs(db, take_all=take_all, skip=skip)
    for at in range(0, len(rows), BATCH):
        chunk = rows[at : at + BATCH]
        try:
            outcomes, slow = await take_over_batch(
                db, registry, chunk, owner=owner, lease_s=lease_s, language=language
            )
        except Exception:  # the batch rolled back: each of its runs on its own, below
            log.exception("could not recover %d runs at once; one at a time instead", len(chunk))
            outcomes, slow = {}, chunk
        for row in chunk:
            outcome = outcomes.get(row.id)
            if outcome is None or outcome == "lost":
                continue
            LEASE_TAKEOVERS.inc()
            log.warning(
                "took over run %s from %s: %s", row.id, row.lease_owner, outcome,
                extra={"run_id": row.id},
            )  # fmt: skip
            if outcome == "resume":
                resume.append(row.id)
        for row in slow:
            try:
                outcome = await take_over(
                    db, registry, row=row, owner=owner, lease_s=lease_s, language=language
                )
            except Exception:  # one broken run must not keep the others from being recovered
                log.exception("could not recover run %s", row.id)
                continue
            if outcome == "resume":
                resume.append(row.id)
    return resume


async def _resend_is_safe(
    conn: Any, registry: ServiceRegistry, run: PlanRun, step: PlanStep
) -> bool:
    """Idempotent: a GET/HEAD/OPTIONS, a service that honours the Idempotency-Key, or a command
    the policy classifies ``read`` (judged on the command as it would be sent again)."""
    try:
        resolved = await registry.resolve(
            conn, project_id=run.project_id, service=step.service, operation=step.operation
        )
    except PilotoError:
        return False
    if resolved.spec.idempotent or resolved.service.honours_idempotency:
        return True
    if not is_command_operation(resolved.spec):
        return False
    results = {s.idx: s.response for s in run.steps if s.status == "done"}
    try:
        field = resolved.spec.command_field or "cmd"
        arguments = render(step.arguments, results, current=step.idx, shell_keys=frozenset({field}))
    except TemplateError:
        return False
    project = await get_project(conn, project_id=run.project_id)
    decision = check_command(
        command_of(arguments, resolved.spec.command_field) or "", command_limits(project.settings)
    )
    return decision.allowed and decision.risk == "read"


async def take_over(
    db: Database, registry: ServiceRegistry, *, row: Any, owner: str, lease_s: float, language: str
) -> TakeOver:
    """One stale run, in one transaction: claim its lease (conditionally), then decide."""
    async with db.write() as conn:
        res = await conn.execute(
            update(runs)
            .where(
                runs.c.id == row.id,
                runs.c.status == row.status,
                runs.c.lease_owner.is_not_distinct_from(row.lease_owner),
                runs.c.lease_expires_at.is_not_distinct_from(row.lease_expires_at),
            )
            .values(lease_owner=owner, lease_expires_at=now() + lease_s)
        )
        if res.rowcount != 1:
            return "lost"  # another instance was quicker, or the run moved on
        run = await repo.get_run(conn, run_id=row.id)
        chat = await threads_repo.get_chat(conn, chat_id=run.chat_id)
        lang = chat.language or language
        actor = f"runner:{owner}"
        in_flight = next((s for s in run.steps if s.status == "running"), None)
        audit: dict[str, Any] = {
            "project_id": run.project_id,
            "chat_id": run.chat_id,
            "run_id": run.id,
            "plan_hash": run.plan_hash,
        }
        if run.status == "cancelling":
            ended = None
            if in_flight is not None:
                values = {
                    "status": "error", "error": f"cancelled; {UNKNOWN_OUTCOME}",
                    "finished_at": now(),
                }  # fmt: skip
                await repo.update_step(conn, step_id=in_flight.id, expect="running", **values)
                # The run's end event carries the step as it is now (clients apply deltas).
                ended = in_flight.model_copy(update=values)
                with_step(run, ended)
            await close_run(
                conn, run=run, frm="cancelling", to="cancelled", actor=actor, owner=owner,
                audit_summary="taken over while cancelling", changed=ended,
                text=closing_text(lang, run, "cancelled", step_n=None, error=None),
            )  # fmt: skip
            outcome: TakeOver = "cancelled"
        elif in_flight is None:
            await append_audit(
                conn,
                actor=actor,
                action="run.takeover",
                outcome="resume",
                response_summary=f"from {row.lease_owner}",
                **audit,
            )
            outcome = "resume"
        elif await _resend_is_safe(conn, registry, run, in_flight):
            await append_audit(
                conn,
                actor=actor,
                action="run.takeover",
                step_id=in_flight.id,
                outcome="resend",
                response_summary=f"from {row.lease_owner}",
                **audit,
            )
            await threads_repo.append_message(
                conn, chat_id=run.chat_id, role="event", run_id=run.id, meta={"kind": "resumed", "step": in_flight.idx},
                content=t(lang, "run_resumed", n=in_flight.idx + 1, operation=in_flight.operation),
            )  # fmt: skip
            outcome = "resume"
        else:
            values = {"status": "interrupted", "error": UNKNOWN_OUTCOME, "finished_at": now()}
            await repo.update_step(conn, step_id=in_flight.id, expect="running", **values)
            in_flight = in_flight.model_copy(update=values)
            with_step(run, in_flight)
            await close_run(
                conn, run=run, frm="running", to="interrupted", actor=actor, owner=owner,
                step=in_flight,
                text=t(lang, "run_interrupted", n=in_flight.idx + 1, operation=in_flight.operation),
            )  # fmt: skip
            outcome = "interrupted"
    LEASE_TAKEOVERS.inc()
    if outcome == "cancelled":
        RUNS_FINISHED.labels("cancelled").inc()
    log.warning(
        "took over run %s from %s: %s", row.id, row.lease_owner, outcome, extra={"run_id": row.id}
    )
    return outcome
