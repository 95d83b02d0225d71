"""Append and verify the hash-chained audit log."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from piloto.store.ids import now
from piloto.store.schema import audit_log

GENESIS = "0" * 64
_PG_AUDIT_LOCK = 72_404_232
_FIELDS = (
    "ts", "actor", "action", "project_id", "chat_id", "run_id", "step_id",
    "plan_hash", "request_summary", "response_summary", "outcome",
)  # fmt: skip


def record_hash(prev_hash: str, record: dict[str, Any]) -> str:
    """SHA-256 over the previous hash and the record's canonical JSON."""
    body = json.dumps({k: record.get(k) for k in _FIELDS}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


async def append_audit(
    conn: AsyncConnection,
    *,
    actor: str,
    action: str,
    project_id: str | None = None,
    chat_id: str | None = None,
    run_id: str | None = None,
    step_id: str | None = None,
    plan_hash: str | None = None,
    request_summary: str | None = None,
    response_summary: str | None = None,
    outcome: str | None = None,
) -> None:
    """Append one record inside the caller's transaction (so it commits with the decision)."""
    if conn.dialect.name == "postgresql":
        # Serialise appenders so two transactions cannot both extend the same link.
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_AUDIT_LOCK})
    prev = (
        await conn.execute(select(audit_log.c.hash).order_by(audit_log.c.id.desc()).limit(1))
    ).scalar() or GENESIS
    record = {
        "ts": round(now(), 6),
        "actor": actor,
        "action": action,
        "project_id": project_id,
        "chat_id": chat_id,
        "run_id": run_id,
        "step_id": step_id,
        "plan_hash": plan_hash,
        "request_summary": _clip(request_summary),
        "response_summary": _clip(response_summary),
        "outcome": outcome,
    }
    await conn.execute(
        insert(audit_log).values(**record, prev_hash=prev, hash=record_hash(prev, record))
    )


def _clip(value: str | None, limit: int = 2000) -> str | None:
    if value is None or len(value) <= limit:
        return value
    return value[:limit] + "…"


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    broken_at: int | None = None
    reason: str | None = None


async def iter_audit(
    conn: AsyncConnection, *, since: float | None = None, batch: int = 1000
) -> AsyncIterator[dict[str, Any]]:
    """Every record in order, as dicts."""
    last = 0
    while True:
        q = select(audit_log).where(audit_log.c.id > last).order_by(audit_log.c.id).limit(batch)
        if since is not None:
            q = q.where(audit_log.c.ts >= since)
        rows = (await conn.execute(q)).mappings().all()
        if not rows:
            return
        for row in rows:
            yield dict(row)
        last = rows[-1]["id"]


async def verify_chain(conn: AsyncConnection) -> VerifyResult:
    """Walk the chain from the start; report the first record whose link or hash is wrong."""
    prev = GENESIS
    count = 0
    async for rec in iter_audit(conn):
        count += 1
        if rec["prev_hash"] != prev:
            return VerifyResult(
                False,
                count,
                rec["id"],
                f"record {rec['id']} does not follow the one before it "
                "(a record was deleted or inserted)",
            )
        if record_hash(prev, rec) != rec["hash"]:
            return VerifyResult(
                False, count, rec["id"], f"record {rec['id']} was changed after it was written"
            )
        prev = rec["hash"]
    return VerifyResult(True, count)
