"""Leases on runs: claim queued runs, keep them alive, prove ownership, let them go.

A run this instance works on has ``lease_owner`` = the instance id and a ``lease_expires_at``
in the future. Every write the runner makes about a run first renews the lease with a
conditional UPDATE on the owner, so an instance that lost its lease can never record a step
that another instance now owns (invariant 2).
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from piloto.plans import repo
from piloto.store import unit
from piloto.store.db import Database
from piloto.store.ids import now
from piloto.store.schema import instances, runs

WORKING = ("running", "cancelling")


class LeaseLost(Exception):
    """Another instance took this run over; stop touching it."""


class RunCancelled(Exception):
    """A person asked the run to stop (it is ``cancelling``)."""


class RunnerStopping(Exception):
    """This instance is shutting down: leave the run as it is for the next owner to decide."""


async def claim_queued(db: Database, *, owner: str, lease_s: float, limit: int) -> list[str]:
    """Move up to ``limit`` queued runs to ``running`` under this owner's lease."""
    if limit <= 0:
        return []
    claimed: list[str] = []
    async with db.write() as conn:
        q = (
            select(runs.c.id)
            .where(runs.c.status == "queued")
            .order_by(runs.c.updated_at)
            .limit(limit)
        )
        if db.dialect == "postgresql":
            # Several instances claim at once: each skips the rows another is claiming.
            q = q.with_for_update(skip_locked=True)
        ids = list((await conn.execute(q)).scalars())
        t = now()
        for run_id in ids:
            try:
                await repo.transition(
                    conn, run_id=run_id, frm="queued", to="running", lease_owner=owner,
                    lease_expires_at=t + lease_s, started_at=func.coalesce(runs.c.started_at, t),
                )  # fmt: skip
            except repo.TransitionRejected:
                continue
            claimed.append(run_id)
    return claimed


async def queue_depth(db: Database) -> int:
    """How many runs wait to be claimed."""
    async with db.read() as conn:
        return int(
            (
                await conn.execute(
                    select(func.count()).select_from(runs).where(runs.c.status == "queued")
                )
            ).scalar()
            or 0
        )


async def hold(
    conn: AsyncConnection,
    *,
    run_id: str,
    owner: str,
    lease_s: float,
    allow_cancelling: bool = False,
    touch: float | None = None,
) -> None:
    """Renew the lease inside the caller's transaction; LeaseLost or RunCancelled when it cannot.

    ``touch``: the run's new ``updated_at`` (the journal's event names it, so a client can tell
    a newer state from an older snapshot).
    """
    statuses = WORKING if allow_cancelling else ("running",)
    values: dict[str, float] = {"lease_expires_at": now() + lease_s}
    if touch is not None:
        values["updated_at"] = touch
    res = await conn.execute(
        update(runs)
        .where(runs.c.id == run_id, runs.c.lease_owner == owner, runs.c.status.in_(statuses))
        .values(**values)
    )
    if res.rowcount == 1:
        return
    row = (
        await conn.execute(select(runs.c.status, runs.c.lease_owner).where(runs.c.id == run_id))
    ).first()
    if row is not None and row.lease_owner == owner and row.status == "cancelling":
        raise RunCancelled(run_id)
    raise LeaseLost(
        f"run {run_id} is {row.status if row else 'gone'}, owned by {row.lease_owner if row else None}"
    )


_HOLD = (
    "UPDATE runs SET lease_expires_at = :expires, updated_at = :t "
    "WHERE id = :id AND lease_owner = :owner AND status {} RETURNING status"
)
_HOLD_SQL = {
    False: _HOLD.format("= 'running'"),
    True: _HOLD.format("IN ('running', 'cancelling')"),
}
_LEASE_OF = "SELECT status, lease_owner FROM runs WHERE id = :id"


def hold_sync(
    conn: Connection,
    *,
    run_id: str,
    owner: str,
    lease_s: float,
    touch: float,
    allow_cancelling: bool = False,
) -> str:
    """``hold`` inside a unit of work (``Database.write_unit``); ``touch`` is the new ``updated_at``.

    Returns the run's status (``cancelling`` only with ``allow_cancelling``): the renewed row
    stays locked by this transaction, so the status holds until it commits.
    """
    params = {"expires": now() + lease_s, "t": touch, "id": run_id, "owner": owner}
    held = unit.one(conn, _HOLD_SQL[allow_cancelling], params)
    if held is not None:
        return str(held[0])
    row = unit.one(conn, _LEASE_OF, {"id": run_id})
    if row is not None and row[1] == owner and row[0] == "cancelling":
        raise RunCancelled(run_id)
    raise LeaseLost(
        f"run {run_id} is {row[0] if row else 'gone'}, owned by {row[1] if row else None}"
    )


async def heartbeat(
    db: Database, *, owner: str, run_ids: Collection[str], lease_s: float
) -> set[str]:
    """Extend the leases of the runs this instance works on; returns those another now holds."""
    t = now()
    async with db.write() as conn:
        await conn.execute(update(instances).where(instances.c.id == owner).values(heartbeat_at=t))
        if not run_ids:
            return set()
        ids = list(run_ids)
        await conn.execute(
            update(runs)
            .where(runs.c.id.in_(ids), runs.c.lease_owner == owner, runs.c.status.in_(WORKING))
            .values(lease_expires_at=t + lease_s)
        )
        # Taken: another instance holds it now. A run this instance has just ended (no owner,
        # a final status) is not taken: its task may still be proposing a correction or
        # handing its results back, and must not be cancelled for it.
        mine = set(
            (
                await conn.execute(
                    select(runs.c.id).where(
                        runs.c.id.in_(ids),
                        or_(
                            runs.c.lease_owner.is_(None),
                            runs.c.lease_owner == owner,
                        ),
                    )
                )
            ).scalars()
        )
    return set(ids) - mine


async def register_instance(db: Database, *, owner: str) -> None:
    """Record this instance (for operators: who is alive, since when)."""
    t = now()
    async with db.write() as conn:
        await conn.execute(delete(instances).where(instances.c.id == owner))
        await conn.execute(insert(instances).values(id=owner, started_at=t, heartbeat_at=t))


async def release_all(db: Database, *, owner: str) -> int:
    """On shutdown: expire this instance's leases now so another instance takes over at once."""
    async with db.write() as conn:
        res = await conn.execute(
            update(runs)
            .where(runs.c.lease_owner == owner, runs.c.status.in_(WORKING))
            .values(lease_expires_at=0.0)
        )
        await conn.execute(delete(instances).where(instances.c.id == owner))
        return int(res.rowcount or 0)
