"""Recovering many stale runs at once: a few reads per batch, then one unit of work per batch.

After a crash with hundreds of runs in flight, taking each over in a transaction of its own
through the async engine cost ~19 ms a run (1,000 runs: 19 s). Here a batch reads what it
needs in three queries (the runs with their chats, the steps in flight, the steps' counts),
resolves each operation once, and writes every decision in one unit of work. The decisions
are those of ``recovery.take_over``; a run this path does not handle (a person's cancel, a
command whose re-send depends on the policy) is handed back to that slower path, and so is a
whole batch whose unit failed, so one broken run never keeps the others from recovery.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import case, func, select
from sqlalchemy.engine import Connection

from piloto.audit.log import append_audit_sync, audit_config
from piloto.errors import PilotoError
from piloto.i18n import t
from piloto.notify.runs import notify_run_sync
from piloto.plans.models import PlanStep, allowed
from piloto.plans.validate import is_command_operation
from piloto.runner.finish import CHOICES
from piloto.runner.journal import DELTA, delta_data
from piloto.services.registry import ServiceRegistry
from piloto.store import unit
from piloto.store.db import Database
from piloto.store.eventlog import append_event_sync
from piloto.store.ids import now
from piloto.store.schema import chats, runs, steps
from piloto.threads.repo import append_message_sync

Decision = Literal["resume", "resend", "interrupt"]
UNKNOWN_OUTCOME = "Piloto stopped while this step was in flight; whether it ran is unknown"


@dataclass(frozen=True)
class Planned:
    """One stale run and what to do with it, decided from one read."""

    row: Any  # id, status, lease_owner, lease_expires_at as found stale
    chat_id: str
    project_id: str
    plan_hash: str
    lang: str
    done: int
    total: int
    step: PlanStep | None
    decision: Decision


async def plan_batch(
    db: Database, registry: ServiceRegistry, rows: Sequence[Any], *, language: str
) -> tuple[list[Planned], list[Any]]:
    """Decide what this path can for ``rows``; the rest go back to ``take_over``."""
    ids = [r.id for r in rows]
    planned: list[Planned] = []
    slow: list[Any] = []
    async with db.read() as conn:
        meta = {
            r.id: r
            for r in await conn.execute(
                select(
                    runs.c.id,
                    runs.c.chat_id,
                    runs.c.project_id,
                    runs.c.plan_hash,
                    chats.c.language,
                )
                .join(chats, chats.c.id == runs.c.chat_id)
                .where(runs.c.id.in_(ids))
            )
        }
        counts = {
            r.run_id: (int(r.done or 0), int(r.total))
            for r in await conn.execute(
                select(
                    steps.c.run_id,
                    func.sum(case((steps.c.status == "done", 1), else_=0)).label("done"),
                    func.count().label("total"),
                )
                .where(steps.c.run_id.in_(ids))
                .group_by(steps.c.run_id)
            )
        }
        in_flight: dict[str, PlanStep] = {}
        for s in await conn.execute(
            select(steps)
            .where(steps.c.run_id.in_(ids), steps.c.status == "running")
            .order_by(steps.c.run_id, steps.c.idx.desc())
        ):
            in_flight[s.run_id] = _step(s)  # the lowest idx is written last: the first in flight
        safe: dict[tuple[str, str, str], bool | None] = {}
        for row in rows:
            m = meta.get(row.id)
            if m is None or row.status != "running":
                slow.append(row)  # gone meanwhile, or cancelling (the chat state changes too)
                continue
            step = in_flight.get(row.id)
            decision: Decision = "resume"
            if step is not None:
                key = (m.project_id, step.service, step.operation)
                if key not in safe:
                    safe[key] = await _resend_is_safe(conn, registry, *key)
                if safe[key] is None:
                    slow.append(row)  # a command: the policy decides on its rendered text
                    continue
                decision = "resend" if safe[key] else "interrupt"
            done, total = counts.get(row.id, (0, 0))
            planned.append(
                Planned(
                    row,
                    m.chat_id,
                    m.project_id,
                    m.plan_hash,
                    m.language or language,
                    done,
                    total,
                    step,
                    decision,
                )
            )
    return planned, slow


async def _resend_is_safe(
    conn: Any, registry: ServiceRegistry, project_id: str, service: str, operation: str
) -> bool | None:
    """True when idempotent, False when not (or no longer allowed), None for a command."""
    try:
        resolved = await registry.resolve(
            conn, project_id=project_id, service=service, operation=operation
        )
    except PilotoError:
        return False
    if resolved.spec.idempotent or resolved.service.honours_idempotency:
        return True
    return None if is_command_operation(resolved.spec) else False


def _step(r: Any) -> PlanStep:
    return PlanStep.model_validate(
        {
            **{c.name: getattr(r, c.name) for c in steps.c if not c.name.endswith("_json")},
            "arguments": json.loads(r.arguments_json),
            "response": json.loads(r.response_json) if r.response_json else None,
            "warnings": json.loads(r.warnings_json) if r.warnings_json else [],
        }
    )


def _claim_all(
    conn: Connection, batch: Sequence[Planned], *, owner: str, lease_s: float
) -> set[str]:
    """One conditional UPDATE for the batch, each run claimed only as it was found stale
    (status, owner and expiry unchanged): the ids claimed."""
    same = "IS" if conn.dialect.name == "sqlite" else "IS NOT DISTINCT FROM"
    found: list[str] = []
    params: dict[str, Any] = {"owner": owner, "expires": now() + lease_s}
    for i, p in enumerate(batch):
        found.append(
            f"SELECT CAST(:i{i} AS VARCHAR) AS id, CAST(:s{i} AS VARCHAR) AS status, "
            f"CAST(:o{i} AS VARCHAR) AS old_owner, CAST(:e{i} AS DOUBLE PRECISION) AS old_expires"
        )
        row = p.row
        params |= {
            f"i{i}": row.id,
            f"s{i}": row.status,
            f"o{i}": row.lease_owner,
            f"e{i}": row.lease_expires_at,
        }
    sql = (
        "UPDATE runs SET lease_owner = :owner, lease_expires_at = :expires FROM ("
        + " UNION ALL ".join(found)
        + ") AS v WHERE runs.id = v.id AND runs.status = v.status "
        f"AND runs.lease_owner {same} v.old_owner AND runs.lease_expires_at {same} v.old_expires "
        "RETURNING runs.id"
    )
    return {str(r[0]) for r in unit.fetch_all(conn, sql, params)}


_STEP_INTERRUPTED = (
    "UPDATE steps SET status = 'interrupted', error = :error, finished_at = :t "
    "WHERE id = :id AND status = 'running'"
)
_RUN_INTERRUPTED = (
    "UPDATE runs SET status = 'interrupted', lease_owner = NULL, lease_expires_at = NULL, "
    "error = NULL, updated_at = :t WHERE id = :id AND status = 'running' AND lease_owner = :owner"
)


def apply_batch(
    conn: Connection, batch: Sequence[Planned], *, owner: str, lease_s: float, audit: Any
) -> dict[str, str]:
    """In one unit of work: claim each run (conditionally, as found stale) and record its
    decision; returns run id → ``resume`` / ``interrupted`` / ``lost``."""
    assert allowed("running", "interrupted")
    out: dict[str, str] = {}
    actor = f"runner:{owner}"
    claimed = _claim_all(conn, batch, owner=owner, lease_s=lease_s)
    for p in batch:
        r = p.row
        if r.id not in claimed:
            out[r.id] = "lost"  # another instance was quicker, or the run moved on
            continue
        audit_fields = {
            "actor": actor, "project_id": p.project_id, "chat_id": p.chat_id, "run_id": r.id,
            "plan_hash": p.plan_hash,
        }  # fmt: skip
        if p.decision != "interrupt" or p.step is None:
            step = p.step
            append_audit_sync(
                conn, audit, action="run.takeover", step_id=step.id if step else None,
                outcome=p.decision, response_summary=f"from {r.lease_owner}", **audit_fields,
            )  # fmt: skip
            if step is not None:
                append_message_sync(
                    conn,
                    chat_id=p.chat_id,
                    role="event",
                    run_id=r.id,
                    meta={"kind": "resumed", "step": step.idx},
                    content=t(p.lang, "run_resumed", n=step.idx + 1, operation=step.operation),
                )
            out[r.id] = "resume"
            continue
        tnow = now()
        step = p.step.model_copy(
            update={"status": "interrupted", "error": UNKNOWN_OUTCOME, "finished_at": tnow}
        )
        unit.run(conn, _STEP_INTERRUPTED, {"error": UNKNOWN_OUTCOME, "t": tnow, "id": step.id})
        # Claimed above in this transaction (its row locked, or SQLite's one writer): the
        # transition cannot miss, so its answer is not waited for (PostgreSQL pipelines it).
        unit.run(conn, _RUN_INTERRUPTED, {"t": tnow, "id": r.id, "owner": owner})
        notify_run_sync(conn, run_id=r.id, status="interrupted")
        data = delta_data(
            run_id=r.id, chat_id=p.chat_id, done=p.done, total=p.total, status="interrupted",
            updated_at=tnow, step=step, end=True, finished_at=None, error=None,
        )  # fmt: skip
        append_event_sync(
            conn, chat_id=p.chat_id, type=DELTA, data_json=json.dumps(data, default=str)
        )
        append_audit_sync(
            conn, audit, action="run.interrupted", step_id=step.id,
            request_summary=step.request_summary, response_summary=None, outcome="interrupted",
            **audit_fields,
        )  # fmt: skip
        append_message_sync(
            conn, chat_id=p.chat_id, role="event", run_id=r.id,
            content=t(p.lang, "run_interrupted", n=step.idx + 1, operation=step.operation),
            meta={"kind": "interrupted", "step": step.idx, "choices": list(CHOICES)},
        )  # fmt: skip
        out[r.id] = "interrupted"
    return out


async def take_over_batch(
    db: Database,
    registry: ServiceRegistry,
    rows: Sequence[Any],
    *,
    owner: str,
    lease_s: float,
    language: str,
) -> tuple[dict[str, str], Collection[Any]]:
    """Take over ``rows`` in one unit of work; the outcomes, and the rows left to ``take_over``."""
    planned, slow = await plan_batch(db, registry, rows, language=language)
    if not planned:
        return {}, slow
    audit = audit_config(db.engine)
    outcomes = await db.write_unit(
        lambda conn: apply_batch(conn, planned, owner=owner, lease_s=lease_s, audit=audit)
    )
    return outcomes, slow
