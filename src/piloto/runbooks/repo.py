"""Persistence of runbooks and schedules; keyword-only functions on the caller's connection."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from piloto.errors import Conflict, NotFound
from piloto.runbooks.models import Runbook, Schedule
from piloto.store.ids import new_id, now
from piloto.store.schema import runbooks, schedule_approvals, schedules


def runbook_hash(
    summary: str, steps: Sequence[Mapping[str, Any]], parameters: Mapping[str, Any]
) -> str:
    """SHA-256 of what a schedule's consent covers: the summary, steps and parameters."""
    text = json.dumps(
        {"summary": summary, "steps": list(steps), "parameters": dict(parameters)},
        sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    )  # fmt: skip
    return hashlib.sha256(text.encode()).hexdigest()


def _runbook(r: Any) -> Runbook:
    return Runbook(
        id=r.id, project_id=r.project_id, name=r.name, summary=r.summary,
        steps=json.loads(r.steps_json), parameters=json.loads(r.parameters_json),
        triggers=json.loads(r.triggers_json), plan_hash=r.plan_hash, created_by=r.created_by,
        created_at=r.created_at, updated_at=r.updated_at,
    )  # fmt: skip


async def insert_runbook(
    conn: AsyncConnection,
    *,
    project_id: str,
    name: str,
    summary: str,
    steps: list[dict[str, Any]],
    parameters: dict[str, Any],
    triggers: list[dict[str, Any]],
    created_by: str,
) -> Runbook:
    """Store a runbook; 409 when the project already has one of that name."""
    t = now()
    row = {
        "id": new_id(), "project_id": project_id, "name": name, "summary": summary,
        "steps_json": json.dumps(steps), "parameters_json": json.dumps(parameters),
        "triggers_json": json.dumps(triggers),
        "plan_hash": runbook_hash(summary, steps, parameters), "created_by": created_by,
        "created_at": t, "updated_at": t,
    }  # fmt: skip
    try:
        async with conn.begin_nested():
            await conn.execute(insert(runbooks).values(**row))
    except IntegrityError:
        raise Conflict(
            f"This project already has a runbook named “{name}”.", code="name_taken"
        ) from None
    return Runbook(
        id=row["id"], project_id=project_id, name=name, summary=summary, steps=steps,
        parameters=parameters, triggers=triggers, plan_hash=row["plan_hash"],
        created_by=created_by, created_at=t, updated_at=t,
    )  # fmt: skip


async def update_runbook(
    conn: AsyncConnection, *, runbook_id: str, fields: Mapping[str, Any]
) -> Runbook:
    """Write the changed fields and the new hash; 409 on a name already taken."""
    old = await get_runbook(conn, runbook_id=runbook_id)
    merged = old.model_dump() | dict(fields)
    values = {
        "name": merged["name"], "summary": merged["summary"],
        "steps_json": json.dumps(merged["steps"]),
        "parameters_json": json.dumps(merged["parameters"]),
        "triggers_json": json.dumps(merged["triggers"]),
        "plan_hash": runbook_hash(merged["summary"], merged["steps"], merged["parameters"]),
        "updated_at": now(),
    }  # fmt: skip
    try:
        async with conn.begin_nested():
            await conn.execute(update(runbooks).where(runbooks.c.id == runbook_id).values(**values))
    except IntegrityError:
        raise Conflict(
            f"This project already has a runbook named “{merged['name']}”.", code="name_taken"
        ) from None
    return await get_runbook(conn, runbook_id=runbook_id)


async def get_runbook(conn: AsyncConnection, *, runbook_id: str) -> Runbook:
    """A runbook, or 404."""
    row = (await conn.execute(select(runbooks).where(runbooks.c.id == runbook_id))).first()
    if row is None:
        raise NotFound("No such runbook.")
    return _runbook(row)


async def find_runbook(conn: AsyncConnection, *, project_id: str, name: str) -> Runbook | None:
    """A project's runbook by name."""
    row = (
        await conn.execute(
            select(runbooks).where(runbooks.c.project_id == project_id, runbooks.c.name == name)
        )
    ).first()
    return _runbook(row) if row else None


async def list_runbooks(conn: AsyncConnection, *, project_id: str) -> list[Runbook]:
    """A project's runbooks by name."""
    rows = await conn.execute(
        select(runbooks).where(runbooks.c.project_id == project_id).order_by(runbooks.c.name)
    )
    return [_runbook(r) for r in rows]


async def delete_runbook(conn: AsyncConnection, *, runbook_id: str) -> None:
    """Delete a runbook and its schedules (cascade, done here too for SQLite without FKs)."""
    await conn.execute(delete(schedules).where(schedules.c.runbook_id == runbook_id))
    await conn.execute(delete(runbooks).where(runbooks.c.id == runbook_id))


# -- schedules -------------------------------------------------------------------------------


async def _approvers(conn: AsyncConnection, schedule_id: str, runbook_hash_: str) -> list[str]:
    rows = await conn.execute(
        select(schedule_approvals.c.name)
        .where(
            schedule_approvals.c.schedule_id == schedule_id,
            schedule_approvals.c.runbook_hash == runbook_hash_,
        )
        .order_by(schedule_approvals.c.at)
    )
    return [r.name for r in rows]


async def get_schedule(conn: AsyncConnection, *, schedule_id: str) -> Schedule:
    """A schedule with the names of those who approved its current runbook hash, or 404."""
    row = (await conn.execute(select(schedules).where(schedules.c.id == schedule_id))).first()
    if row is None:
        raise NotFound("No such schedule.")
    data = {c.name: getattr(row, c.name) for c in schedules.c}
    data["arguments"] = json.loads(data.pop("arguments_json"))
    data["approved_by"] = await _approvers(conn, schedule_id, row.runbook_hash)
    return Schedule(**data)


async def insert_schedule(conn: AsyncConnection, **values: Any) -> str:
    """Store a schedule; returns its id."""
    schedule_id = new_id()
    t = now()
    values["arguments_json"] = json.dumps(values.pop("arguments"), sort_keys=True)
    await conn.execute(
        insert(schedules).values(id=schedule_id, created_at=t, updated_at=t, **values)
    )
    return schedule_id


async def set_schedule(
    conn: AsyncConnection, *, schedule_id: str, where: Any = None, **values: Any
) -> bool:
    """Update a schedule (only where ``where`` holds, when given); whether a row matched."""
    q = update(schedules).where(schedules.c.id == schedule_id)
    if where is not None:
        q = q.where(where)
    result = await conn.execute(q.values(updated_at=now(), **values))
    return bool(result.rowcount)


async def add_schedule_approval(
    conn: AsyncConnection, *, schedule_id: str, principal: str, name: str, runbook_hash_: str
) -> bool:
    """Record one person's approval of this runbook hash; False when they already approved."""
    try:
        async with conn.begin_nested():
            await conn.execute(
                insert(schedule_approvals).values(
                    schedule_id=schedule_id,
                    principal=principal,
                    name=name,
                    runbook_hash=runbook_hash_,
                    at=now(),
                )
            )
    except IntegrityError:
        return False
    return True


async def delete_schedule_approval(
    conn: AsyncConnection, *, schedule_id: str, principal: str
) -> None:
    """Forget one person's approval (before they approve a new content)."""
    await conn.execute(
        delete(schedule_approvals).where(
            schedule_approvals.c.schedule_id == schedule_id,
            schedule_approvals.c.principal == principal,
        )
    )


async def approvers(conn: AsyncConnection, *, schedule_id: str, runbook_hash_: str) -> list[Any]:
    """(principal, name) of those who approved this runbook hash for the schedule."""
    rows = await conn.execute(
        select(schedule_approvals.c.principal, schedule_approvals.c.name).where(
            schedule_approvals.c.schedule_id == schedule_id,
            schedule_approvals.c.runbook_hash == runbook_hash_,
        )
    )
    return list(rows)


async def list_schedules(
    conn: AsyncConnection, *, project_id: str | None = None, runbook_id: str | None = None
) -> list[Schedule]:
    """Schedules of a project or a runbook, oldest first."""
    q = select(schedules.c.id).order_by(schedules.c.created_at)
    if project_id:
        q = q.where(schedules.c.project_id == project_id)
    if runbook_id:
        q = q.where(schedules.c.runbook_id == runbook_id)
    ids = [r.id for r in await conn.execute(q)]
    return [await get_schedule(conn, schedule_id=i) for i in ids]


async def due_schedules(conn: AsyncConnection, *, at: float) -> list[tuple[str, float]]:
    """Active schedules whose next firing is at or before ``at``: (id, next_run_at)."""
    rows = await conn.execute(
        select(schedules.c.id, schedules.c.next_run_at).where(
            schedules.c.status == "active", schedules.c.next_run_at <= at
        )
    )
    return [(r.id, r.next_run_at) for r in rows]


async def delete_schedule(conn: AsyncConnection, *, schedule_id: str) -> None:
    """Delete a schedule and its approvals."""
    await conn.execute(
        delete(schedule_approvals).where(schedule_approvals.c.schedule_id == schedule_id)
    )
    await conn.execute(delete(schedules).where(schedules.c.id == schedule_id))
