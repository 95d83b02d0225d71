"""The runner journal's events: what changed about a run, not the whole run again.

A step's start, its end and the run's end are each written once, in one transaction with the
step row, its chat line and its audit record; the event that tells live clients carries only
the changed step and the run's status and counters (``run_delta``). Clients apply it to the
run they hold; one that holds none fetches the run (``GET /api/runs/{id}``) once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from piloto.plans.models import PlanRun, PlanStep
from piloto.store.eventlog import append_event

DELTA = "run_delta"


def with_step(run: PlanRun, step: PlanStep) -> PlanRun:
    """``run`` with ``step`` in its place: the executor's copy follows what it committed."""
    run.steps = [step if s.id == step.id else s for s in run.steps]
    return run


def run_delta(
    run: PlanRun,
    *,
    status: str | None = None,
    updated_at: float,
    step: PlanStep | None = None,
    end: bool = False,
    finished_at: float | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """The event's data: the run's counters, its status when known, the step that changed, and
    at the run's ``end`` (or stop for a person) its ``finished_at`` and ``error``.

    A step's end leaves the status out: the run may be ``cancelling`` by then, and only the
    person's cancel (a full ``run`` event) says so.
    """
    return delta_data(
        run_id=run.id, chat_id=run.chat_id, done=sum(1 for s in run.steps if s.status == "done"),
        total=len(run.steps), status=status, updated_at=updated_at, step=step, end=end,
        finished_at=finished_at, error=error,
    )  # fmt: skip


def delta_data(
    *,
    run_id: str,
    chat_id: str,
    done: int,
    total: int,
    status: str | None,
    updated_at: float,
    step: PlanStep | None,
    end: bool,
    finished_at: float | None,
    error: str | None,
) -> dict[str, Any]:
    """``run_delta`` from the counters, for a writer that does not hold the whole run."""
    data: dict[str, Any] = {
        "id": run_id,
        "chat_id": chat_id,
        "updated_at": updated_at,
        "done": done,
        "total": total,
    }
    if status is not None:
        data["status"] = status
    if end:
        data["finished_at"] = finished_at
        data["error"] = error
    if step is not None:
        data["step"] = step.model_dump()
    return data


async def emit_delta(conn: AsyncConnection, run: PlanRun, **delta: Any) -> None:
    """Log a ``run_delta`` in the caller's transaction (it commits with the change it tells)."""
    await append_event(conn, chat_id=run.chat_id, type=DELTA, data=run_delta(run, **delta))
