"""The outbox: notifications written in the caller's transaction, deliveries claimed by CAS."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from piloto.store import unit
from piloto.store.ids import new_id, now
from piloto.store.schema import notification_deliveries, notifications

EVENTS: frozenset[str] = frozenset(
    {"plan.awaiting_approval", "run.failed", "run.interrupted", "run.done", "schedule.paused"}
)
TEXT_MAX = 4000
# The bus key the worker of this process waits on: Database.write publishes it after the
# enqueuing transaction commits (other instances find the row on their next poll).
WAKE_KEY = "notify:outbox"


@dataclass(frozen=True)
class Pending:
    """A notification not yet fanned out to its destinations."""

    id: str
    event: str
    project_id: str | None
    chat_id: str | None
    run_id: str | None
    text: str


@dataclass(frozen=True)
class Delivery:
    """One notification on its way to one URL, with what it needs to be sent."""

    id: str
    url: str
    attempts: int
    next_at: float
    event: str
    project_id: str | None
    chat_id: str | None
    run_id: str | None
    text: str


def _row(
    *, event: str, project_id: str | None, chat_id: str | None, run_id: str | None, text: str
) -> dict[str, Any]:
    """A new notification's row (``ValueError`` for an event nobody subscribes to)."""
    if event not in EVENTS:
        raise ValueError(f"unknown notification event {event!r}")
    return {
        "id": new_id(), "event": event, "project_id": project_id, "chat_id": chat_id,
        "run_id": run_id, "text": text[:TEXT_MAX], "expanded": False, "created_at": now(),
    }  # fmt: skip


async def enqueue(
    conn: AsyncConnection,
    *,
    event: str,
    project_id: str | None,
    chat_id: str | None,
    run_id: str | None,
    text: str,
) -> str:
    """Record a notification in the caller's transaction; delivered after it commits."""
    row = _row(event=event, project_id=project_id, chat_id=chat_id, run_id=run_id, text=text)
    await conn.execute(insert(notifications).values(**row))
    conn.info.setdefault("piloto_notify", set()).add(WAKE_KEY)
    return str(row["id"])


def enqueue_sync(
    conn: Connection,
    *,
    event: str,
    project_id: str | None,
    chat_id: str | None,
    run_id: str | None,
    text: str,
) -> str:
    """``enqueue`` inside a unit of work (``Database.write_unit``)."""
    row = _row(event=event, project_id=project_id, chat_id=chat_id, run_id=run_id, text=text)
    unit.run(conn, _INSERT_SYNC, row)
    conn.info.setdefault("piloto_notify", set()).add(WAKE_KEY)
    return str(row["id"])


_INSERT_SYNC = (
    "INSERT INTO notifications (id, event, project_id, chat_id, run_id, text, expanded, "
    "created_at) VALUES (:id, :event, :project_id, :chat_id, :run_id, :text, :expanded, "
    ":created_at)"
)


async def unexpanded(conn: AsyncConnection, *, limit: int = 100) -> list[Pending]:
    """Notifications still waiting to be fanned out, oldest first."""
    rows = await conn.execute(
        select(notifications)
        .where(notifications.c.expanded.is_(False))
        .order_by(notifications.c.created_at)
        .limit(limit)
    )
    return [Pending(r.id, r.event, r.project_id, r.chat_id, r.run_id, r.text) for r in rows.all()]


async def expand(conn: AsyncConnection, *, notification_id: str, urls: Sequence[str]) -> bool:
    """Fan one notification out to ``urls`` once (False: another instance did it)."""
    res = await conn.execute(
        update(notifications)
        .where(notifications.c.id == notification_id, notifications.c.expanded.is_(False))
        .values(expanded=True)
    )
    if res.rowcount != 1:
        return False
    if not urls:
        # Nobody to tell: keep no row that would only grow the table.
        await conn.execute(delete(notifications).where(notifications.c.id == notification_id))
        return True
    t = now()
    await conn.execute(
        insert(notification_deliveries),
        [
            {
                "id": new_id(),
                "notification_id": notification_id,
                "url": url,
                "status": "pending",
                "attempts": 0,
                "next_at": t,
                "created_at": t,
            }
            for url in dict.fromkeys(urls)
        ],
    )
    return True


async def due(conn: AsyncConnection, *, at: float, limit: int = 50) -> list[Delivery]:
    """Pending deliveries whose time has come."""
    d, n = notification_deliveries, notifications
    rows = await conn.execute(
        select(
            d.c.id,
            d.c.url,
            d.c.attempts,
            d.c.next_at,
            n.c.event,
            n.c.project_id,
            n.c.chat_id,
            n.c.run_id,
            n.c.text,
        )
        .join(n, n.c.id == d.c.notification_id)
        .where(d.c.status == "pending", d.c.next_at <= at)
        .order_by(d.c.next_at)
        .limit(limit)
    )
    return [Delivery(*r) for r in rows.all()]


async def claim(conn: AsyncConnection, *, delivery: Delivery, until: float) -> bool:
    """Take a delivery for one attempt (its next_at moves past the attempt's timeout)."""
    d = notification_deliveries
    res = await conn.execute(
        update(d)
        .where(d.c.id == delivery.id, d.c.status == "pending", d.c.next_at == delivery.next_at)
        .values(next_at=until, attempts=d.c.attempts + 1)
    )
    return bool(res.rowcount == 1)


async def finish(
    conn: AsyncConnection,
    *,
    delivery_id: str,
    status: str,
    error: str | None,
    next_at: float | None = None,
) -> None:
    """Record an attempt's outcome: sent, failed for good, or pending again at ``next_at``."""
    values: dict[str, Any] = {"status": status, "last_error": error}
    if status == "sent":
        values["sent_at"] = now()
    if next_at is not None:
        values["next_at"] = next_at
    await conn.execute(
        update(notification_deliveries)
        .where(notification_deliveries.c.id == delivery_id)
        .values(**values)
    )


async def list_deliveries(
    conn: AsyncConnection, *, status: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """The latest deliveries, newest first (failed ones are what an admin looks for)."""
    d, n = notification_deliveries, notifications
    q = (
        select(
            d.c.id,
            d.c.url,
            d.c.status,
            d.c.attempts,
            d.c.next_at,
            d.c.last_error,
            d.c.sent_at,
            d.c.created_at,
            n.c.event,
            n.c.project_id,
            n.c.chat_id,
            n.c.run_id,
        )
        .join(n, n.c.id == d.c.notification_id)
        .order_by(d.c.created_at.desc(), d.c.id)
        .limit(limit)
    )
    if status is not None:
        q = q.where(d.c.status == status)
    return [dict(r._mapping) for r in (await conn.execute(q)).all()]


async def prune(conn: AsyncConnection, *, before: float) -> int:
    """Forget deliveries sent before ``before``, and notifications left with none."""
    d, n = notification_deliveries, notifications
    res = await conn.execute(delete(d).where(d.c.status == "sent", d.c.sent_at < before))
    remaining = select(d.c.id).where(d.c.notification_id == n.c.id).exists()
    await conn.execute(delete(n).where(n.c.expanded.is_(True), n.c.created_at < before, ~remaining))
    return int(res.rowcount or 0)


async def count_by_status(conn: AsyncConnection) -> dict[str, int]:
    """How many deliveries are pending, sent and failed."""
    d = notification_deliveries
    rows = await conn.execute(select(d.c.status, func.count()).group_by(d.c.status))
    return {r[0]: int(r[1]) for r in rows.all()}
