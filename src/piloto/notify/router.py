"""Notification deliveries for admins: what was sent, what is retrying, what failed."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Query

from piloto.auth.deps import Admin
from piloto.deps import DB
from piloto.notify import repo

router = APIRouter(prefix="/api/notifications", tags=["notifications"])


def destination(url: str) -> str:
    """Where a delivery goes, without the path and query (a webhook's secret lives there)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


@router.get("")
async def list_notifications(
    db: DB,
    _: Admin,
    status: Literal["pending", "sent", "failed"] | None = Query(default=None),
    limit: int = Query(default=100, ge=1, le=500),
) -> dict[str, Any]:
    """The latest deliveries (newest first) and how many are in each state."""
    async with db.read() as conn:
        rows = await repo.list_deliveries(conn, status=status, limit=limit)
        counts = await repo.count_by_status(conn)
    for row in rows:
        row["destination"] = destination(row.pop("url"))
    return {"counts": counts, "deliveries": rows}
