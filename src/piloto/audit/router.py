"""``GET /api/audit``: the trail, for admins, filtered by project, chat, run and actor."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from piloto.audit.log import verify_chain
from piloto.auth.deps import Admin
from piloto.deps import DB
from piloto.store.schema import audit_log

router = APIRouter(prefix="/api/audit", tags=["audit"])


@router.get("")
async def list_audit(
    db: DB,
    _: Admin,
    project_id: str | None = Query(default=None, max_length=64),
    chat_id: str | None = Query(default=None, max_length=64),
    run_id: str | None = Query(default=None, max_length=64),
    actor: str | None = Query(default=None, max_length=100),
    before: int | None = Query(
        default=None, ge=1, le=2**62, description="Only records with a smaller id"
    ),
    limit: int = Query(default=100, ge=1, le=500),
) -> list[dict[str, Any]]:
    """Newest records first."""
    q = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    for column, value in (
        (audit_log.c.project_id, project_id),
        (audit_log.c.chat_id, chat_id),
        (audit_log.c.run_id, run_id),
        (audit_log.c.actor, actor),
    ):
        if value is not None:
            q = q.where(column == value)
    if before is not None:
        q = q.where(audit_log.c.id < before)
    async with db.read() as conn:
        return [dict(r) for r in (await conn.execute(q)).mappings()]


@router.get("/verify")
async def verify(db: DB, _: Admin) -> dict[str, Any]:
    """Walk the hash chain and report the first broken link."""
    async with db.read() as conn:
        result = await verify_chain(conn)
    return {
        "ok": result.ok,
        "checked": result.checked,
        "broken_at": result.broken_at,
        "reason": result.reason,
    }
