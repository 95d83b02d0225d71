"""Appends inside units of work: many in one transaction (recovery writes one per run), a unit
that fails after appending, and other writers between them all leave one intact chain."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection as SyncConnection

from piloto.audit.log import append_audit, append_audit_sync, audit_config
from piloto.store.db import Database


class Boom(Exception):
    pass


async def _verify(client: httpx.AsyncClient) -> dict[str, object]:
    resp = await client.get("/api/audit/verify")
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def test_many_appends_in_one_unit_and_others_around_them_verify(
    app_client: httpx.AsyncClient,
) -> None:
    db: Database = app_client.app.state.db  # type: ignore[attr-defined]
    config = audit_config(db.engine)

    def batch(conn: SyncConnection, tag: str, n: int) -> None:
        for i in range(n):
            append_audit_sync(
                conn, config, actor="runner", action="run.takeover", outcome=f"{tag}{i}"
            )

    def failing(conn: SyncConnection) -> None:
        batch(conn, "lost", 5)
        raise Boom  # rolled back after its appends: the next unit must not continue from them

    await db.write_unit(lambda conn: batch(conn, "a", 50))
    async with db.write() as conn:  # another path between units (PostgreSQL's serial id)
        await append_audit(conn, actor="alice", action="test")
    with pytest.raises(Boom):
        await db.write_unit(failing)
    await asyncio.gather(
        db.write_unit(lambda conn: batch(conn, "b", 30)),
        db.write_unit(lambda conn: batch(conn, "c", 30)),
        _append_routes(db, 5),
    )
    await db.write_unit(lambda conn: batch(conn, "d", 1))

    async with db.read() as conn:
        rows = (await conn.execute(text("SELECT id, outcome FROM audit_log ORDER BY id"))).all()
        head = (await conn.execute(text("SELECT count, last_id FROM audit_head"))).one()
    outcomes = [r[1] for r in rows]
    assert not [o for o in outcomes if o and o.startswith("lost")]
    assert sum(1 for o in outcomes if o and o[0] in "abcd") == 111
    assert head[0] == len(rows) and head[1] == rows[-1][0]
    result = await _verify(app_client)
    assert result["ok"] is True and result["checked"] == len(rows), result


async def _append_routes(db: Database, n: int) -> None:
    for i in range(n):
        async with db.write() as conn:
            await append_audit(conn, actor="bob", action="test", request_summary=f"r{i}")
