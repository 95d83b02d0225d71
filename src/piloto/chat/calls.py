"""Where a plan came from (the model's tool calls or a person's slash command), and the
follow-up turn each ended run is owed, claimed by exactly one instance."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from piloto.store.ids import now
from piloto.store.schema import plan_calls, runs


class PlanCall(BaseModel):
    """Where a plan came from: the model's tool call(s) or a person's slash command."""

    run_id: str
    chat_id: str
    kind: Literal["model", "direct"]
    calls: list[dict[str, str]]
    origin_seq: int
    auto_turn: int
    followup: str


async def add_plan_call(
    conn: AsyncConnection,
    *,
    run_id: str,
    chat_id: str,
    kind: Literal["model", "direct"],
    calls: list[dict[str, str]],
    origin_seq: int,
    auto_turn: int,
) -> None:
    """Record the tool call(s) a plan answers; its follow-up turn is then pending."""
    await conn.execute(
        insert(plan_calls).values(
            run_id=run_id, chat_id=chat_id, kind=kind, calls_json=json.dumps(calls),
            origin_seq=origin_seq, auto_turn=auto_turn, followup="pending", created_at=now(),
        )
    )  # fmt: skip


def _plan_call(r: Any) -> PlanCall:
    return PlanCall(
        run_id=r.run_id, chat_id=r.chat_id, kind=r.kind, calls=json.loads(r.calls_json),
        origin_seq=r.origin_seq, auto_turn=r.auto_turn, followup=r.followup,
    )  # fmt: skip


async def plan_calls_of(conn: AsyncConnection, *, chat_id: str) -> dict[str, PlanCall]:
    """Every recorded plan call of a chat, by run id."""
    rows = await conn.execute(select(plan_calls).where(plan_calls.c.chat_id == chat_id))
    return {r.run_id: _plan_call(r) for r in rows}


async def get_plan_call(conn: AsyncConnection, *, run_id: str) -> PlanCall | None:
    """The plan call of one run, if it has one."""
    row = (await conn.execute(select(plan_calls).where(plan_calls.c.run_id == run_id))).first()
    return _plan_call(row) if row is not None else None


async def claim_followup(conn: AsyncConnection, *, run_id: str) -> bool:
    """Compare-and-set pending → claimed: exactly one instance answers a run's end."""
    result = await conn.execute(
        update(plan_calls)
        .where(plan_calls.c.run_id == run_id, plan_calls.c.followup == "pending")
        .values(followup="claimed")
    )
    return bool(result.rowcount)


async def release_followup(conn: AsyncConnection, *, run_id: str) -> None:
    """claimed → pending: an interrupted run may still end again (retried), and earn its turn."""
    await conn.execute(
        update(plan_calls)
        .where(plan_calls.c.run_id == run_id, plan_calls.c.followup == "claimed")
        .values(followup="pending")
    )


async def unanswered_runs(conn: AsyncConnection, *, since: float) -> list[str]:
    """Runs that ran and ended after ``since`` whose follow-up was never started (a restart)."""
    rows = await conn.execute(
        select(plan_calls.c.run_id)
        .join(runs, runs.c.id == plan_calls.c.run_id)
        .where(
            plan_calls.c.followup == "pending",
            runs.c.status.in_(("done", "error", "cancelled")),
            runs.c.started_at.is_not(None),
            runs.c.finished_at >= since,
        )
        .order_by(runs.c.finished_at)
    )
    return [r.run_id for r in rows]
