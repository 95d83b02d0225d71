"""Persistence of runs and steps (``PlanRunStore``), identical on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from types import SimpleNamespace
from typing import Any, get_args

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from piloto.errors import Conflict, NotFound
from piloto.notify.runs import notify_run
from piloto.plans.models import Approval, ChatState, PlanRun, PlanStep, RunStatus, allowed
from piloto.store import unit
from piloto.store.eventlog import append_event
from piloto.store.ids import new_id, now
from piloto.store.schema import approvals, chat_state, runs, steps


class TransitionRejected(Conflict):
    """A conditional UPDATE matched no row: someone else changed the run first."""

    def __init__(self, message: str, *, found: str | None) -> None:
        super().__init__(message, code="transition_rejected", status=found)
        self.found = found


def _step(r: Any) -> PlanStep:
    return PlanStep(
        id=r.id, idx=r.idx, service=r.service, operation=r.operation,
        arguments=json.loads(r.arguments_json), risk=r.risk, status=r.status, attempts=r.attempts,
        idempotency_key=r.idempotency_key, request_summary=r.request_summary,
        response=json.loads(r.response_json) if r.response_json else None, error=r.error,
        started_at=r.started_at, finished_at=r.finished_at, duration_ms=r.duration_ms,
        risk_reason=r.risk_reason, warnings=json.loads(r.warnings_json) if r.warnings_json else [],
    )  # fmt: skip


def _run(r: Any, step_rows: Iterable[Any] = (), approval_rows: Iterable[Any] = ()) -> PlanRun:
    data: dict[str, Any] = {c.name: getattr(r, c.name) for c in runs.c}
    corrects = data.pop("corrects_json")
    return PlanRun(
        **data,
        corrects=json.loads(corrects) if corrects else None,
        approvals=[Approval(by=a.name, at=a.at) for a in approval_rows],
        steps=[_step(s) for s in step_rows],
    )


async def insert_run(
    conn: AsyncConnection,
    *,
    chat_id: str,
    project_id: str,
    summary: str,
    plan_json: str,
    plan_hash: str,
    proposed_by: str,
    step_specs: Sequence[dict[str, Any]],
    expires_at: float | None,
    supersedes_run_id: str | None = None,
    proposed_for: str | None = None,
    proposed_for_name: str | None = None,
    risk: str | None = None,
    approvals_required: int | None = None,
    corrects: dict[str, Any] | None = None,
) -> PlanRun:
    """Store a new draft with its steps and return it as stored (read from what was written).

    Each step's Idempotency-Key is ``run_id:step_id``.
    """
    run_id = new_id()
    t = now()
    row: dict[str, Any] = {
        "id": run_id, "chat_id": chat_id, "project_id": project_id, "status": "draft",
        "summary": summary, "plan_json": plan_json, "plan_hash": plan_hash,
        "proposed_by": proposed_by, "approved_by_policy": False,
        "supersedes_run_id": supersedes_run_id, "proposed_for": proposed_for,
        "proposed_for_name": proposed_for_name, "risk": risk,
        "approvals_required": approvals_required,
        "corrects_json": json.dumps(corrects, sort_keys=True) if corrects else None,
        "created_at": t, "updated_at": t, "expires_at": expires_at,
    }  # fmt: skip
    await conn.execute(insert(runs).values(**row))
    rows = []
    for idx, spec in enumerate(step_specs):
        step_id = new_id()
        rows.append({
            "id": step_id, "run_id": run_id, "idx": idx, "service": spec["service"],
            "operation": spec["operation"], "arguments_json": json.dumps(spec["arguments"], sort_keys=True),
            "risk": spec.get("risk", "write"), "status": "pending", "attempts": 0,
            "idempotency_key": f"{run_id}:{step_id}", "risk_reason": spec.get("risk_reason"),
            "warnings_json": json.dumps(spec["warnings"]) if spec.get("warnings") else None,
            "request_summary": None, "response_json": None, "error": None, "started_at": None,
            "finished_at": None, "duration_ms": None,
        })  # fmt: skip
    if rows:
        await conn.execute(insert(steps), rows)
    # The same conversion a read makes, from the values just written: no read back.
    fields = {c.name: row.get(c.name) for c in runs.c}
    return _run(SimpleNamespace(**fields), [SimpleNamespace(**r) for r in rows])


async def get_run(
    conn: AsyncConnection, *, run_id: str, with_steps: bool = True, for_update: bool = False
) -> PlanRun:
    """A run with its steps in order and its approvals, or 404.

    ``for_update`` locks the run's row until the transaction ends (PostgreSQL; SQLite has
    one writer), so decisions that read then write (approvals) see each other.
    """
    q = select(runs).where(runs.c.id == run_id)
    row = (await conn.execute(q.with_for_update() if for_update else q)).first()
    if row is None:
        raise NotFound("No such run.")
    step_rows = (
        (
            await conn.execute(select(steps).where(steps.c.run_id == run_id).order_by(steps.c.idx))
        ).all()
        if with_steps
        else []
    )
    approval_rows = (
        await conn.execute(
            select(approvals).where(approvals.c.run_id == run_id).order_by(approvals.c.at)
        )
    ).all()
    return _run(row, step_rows, approval_rows)


async def list_runs(conn: AsyncConnection, *, chat_id: str, limit: int = 50) -> list[PlanRun]:
    """A chat's runs, newest first, with steps."""
    rows = (
        await conn.execute(
            select(runs)
            .where(runs.c.chat_id == chat_id)
            .order_by(runs.c.created_at.desc())
            .limit(limit)
        )
    ).all()
    return [await get_run(conn, run_id=r.id) for r in rows]


async def transition(
    conn: AsyncConnection,
    *,
    run_id: str,
    frm: str | Sequence[str],
    to: str,
    where: Any = None,
    emit: bool = True,
    **values: Any,
) -> None:
    """Move a run ``frm → to`` with one conditional UPDATE; say what was found when it loses.

    ``emit=False``: the caller logs its own event (the runner's ``run_delta``) instead of the
    whole run read back.
    """
    sources = (frm,) if isinstance(frm, str) else tuple(frm)
    for source in sources:
        if not allowed(source, to):
            raise ValueError(f"transition {source} → {to} is not in the state machine")
    q = update(runs).where(runs.c.id == run_id, runs.c.status.in_(sources))
    if where is not None:
        q = q.where(where)
    res = await conn.execute(q.values(status=to, **{"updated_at": now(), **values}))
    if res.rowcount == 1:
        if emit:
            await emit_run(conn, run_id=run_id)
        # Every run's end passes here: the one place its notification is written.
        await notify_run(conn, run_id=run_id, status=to)
        return
    found = (await conn.execute(select(runs.c.status).where(runs.c.id == run_id))).scalar()
    if found is None:
        raise NotFound("No such run.")
    raise TransitionRejected(f"This plan is {found} now, so it cannot become {to}.", found=found)


async def update_step(
    conn: AsyncConnection, *, step_id: str, expect: str | None = None, **values: Any
) -> bool:
    """Change a step (conditionally on its status when ``expect`` is given)."""
    if "response" in values:
        values["response_json"] = json.dumps(values.pop("response"), default=str)
    q = update(steps).where(steps.c.id == step_id)
    if expect is not None:
        q = q.where(steps.c.status == expect)
    res = await conn.execute(q.values(**values))
    return bool(res.rowcount == 1)


# The class of the per-chat proposal lock: PostgreSQL's two-int advisory keys never meet the
# one-bigint keys (the audit chain's lock).
_PROPOSAL_LOCK_CLASS = 7321


async def lock_proposals(conn: AsyncConnection, *, chat_id: str) -> None:
    """Make proposals in this chat take turns until the transaction ends (PostgreSQL; SQLite's
    single writer already serialises them). An advisory lock, not the chat state's row lock:
    confirm, cancel and the runner lock a run before the chat state, and a proposal that took
    the row first would wait on them in the opposite order (a deadlock)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(
            text("SELECT pg_advisory_xact_lock(:cls, hashtext(:chat))"),
            {"cls": _PROPOSAL_LOCK_CLASS, "chat": chat_id},
        )


async def get_chat_state(conn: AsyncConnection, *, chat_id: str) -> ChatState:
    """The chat's pending/active/last run pointers."""
    row = (await conn.execute(select(chat_state).where(chat_state.c.chat_id == chat_id))).first()
    if row is None:
        raise NotFound("No such chat. It may have been deleted.")
    return ChatState(
        chat_id=chat_id, pending_run_id=row.pending_run_id, active_run_id=row.active_run_id,
        last_run_id=row.last_run_id, last_run_status=row.last_run_status, last_run_at=row.last_run_at,
    )  # fmt: skip


_GET_CHAT_STATE = (
    "SELECT pending_run_id, active_run_id, last_run_id, last_run_status, last_run_at "
    "FROM chat_state WHERE chat_id = :chat"
)


def get_chat_state_sync(conn: Connection, *, chat_id: str) -> ChatState:
    """``get_chat_state`` inside a unit of work (``Database.write_unit``)."""
    row = unit.one(conn, _GET_CHAT_STATE, {"chat": chat_id})
    if row is None:
        raise NotFound("No such chat. It may have been deleted.")
    pending, active, last, last_status, last_at = row
    return ChatState(
        chat_id=chat_id, pending_run_id=pending, active_run_id=active, last_run_id=last,
        last_run_status=last_status, last_run_at=last_at,
    )  # fmt: skip


async def set_chat_state(
    conn: AsyncConnection, *, chat_id: str, where: Any = None, **values: Any
) -> bool:
    """Update the chat's run pointers (optionally only if ``where`` still holds)."""
    q = update(chat_state).where(chat_state.c.chat_id == chat_id)
    if where is not None:
        q = q.where(where)
    res = await conn.execute(q.values(**values))
    return bool(res.rowcount == 1)


async def emit_run(conn: AsyncConnection, *, run_id: str) -> None:
    """Log the run's current state, read back, for live clients (in the caller's transaction)."""
    await emit(conn, await get_run(conn, run_id=run_id))


async def emit(conn: AsyncConnection, run: PlanRun) -> None:
    """Log ``run`` as this transaction wrote it for live clients."""
    await append_event(conn, chat_id=run.chat_id, type="run", data=run.public())


async def move(
    conn: AsyncConnection, run: PlanRun, *, to: RunStatus, where: Any = None, **values: Any
) -> PlanRun:
    """``transition`` from ``run``'s status; returns the run as written and logs it, no read back.

    ``run`` must be current (read in this transaction, under its row lock where it matters):
    the conditional UPDATE still refuses a run that moved meanwhile.
    """
    values.setdefault("updated_at", now())
    await transition(conn, run_id=run.id, frm=run.status, to=to, where=where, emit=False, **values)
    moved = run.model_copy(update={"status": to, **values})
    await emit(conn, moved)
    return moved


async def add_approval(
    conn: AsyncConnection,
    *,
    run_id: str,
    principal: str,
    name: str,
    plan_hash: str,
    at: float | None = None,
) -> bool:
    """Record one person's approval at ``at`` (now); False when they had already approved."""
    at = now() if at is None else at
    exists = (
        await conn.execute(
            select(func.count())
            .select_from(approvals)
            .where(approvals.c.run_id == run_id, approvals.c.principal == principal)
        )
    ).scalar_one()
    if exists:
        return False
    try:
        # A savepoint: a concurrent duplicate (unique key) must not abort the caller's transaction.
        async with conn.begin_nested():
            await conn.execute(
                insert(approvals).values(
                    run_id=run_id, principal=principal, name=name, plan_hash=plan_hash, at=at
                )
            )
    except IntegrityError:
        return False
    # The run changed for everyone watching it: newer than any snapshot they hold.
    await conn.execute(update(runs).where(runs.c.id == run_id).values(updated_at=at))
    return True


async def count_approvals(conn: AsyncConnection, *, run_id: str, plan_hash: str) -> int:
    """How many different people approved this exact plan."""
    return int(
        (
            await conn.execute(
                select(func.count())
                .select_from(approvals)
                .where(approvals.c.run_id == run_id, approvals.c.plan_hash == plan_hash)
            )
        ).scalar_one()
    )


async def count_runs_by_status(conn: AsyncConnection) -> dict[str, int]:
    """How many runs are in each status, every status present (zero when none)."""
    rows = (await conn.execute(select(runs.c.status, func.count()).group_by(runs.c.status))).all()
    counts = {status: int(n) for status, n in rows}
    return {status: counts.get(status, 0) for status in get_args(RunStatus)}
