"""The audit trail is anchored: truncation, rewrites and a forged head are found by verify.

Tried as an attacker with write access to the database (but not to the secret key) would.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from piloto.audit.anchor import HEAD_FILE
from piloto.audit.log import GENESIS, _body, append_audit
from piloto.settings import Settings
from piloto.store.db import Database


def _db(client: httpx.AsyncClient) -> Database:
    db: Database = client.app.state.db  # type: ignore[attr-defined]
    return db


async def _append(client: httpx.AsyncClient, n: int) -> None:
    for i in range(n):
        async with _db(client).write() as conn:
            await append_audit(conn, actor="alice", action="test", request_summary=f"r{i}")


async def _verify(client: httpx.AsyncClient) -> dict[str, object]:
    resp = await client.get("/api/audit/verify")
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def _head_file_count(path: Path, count: int) -> None:
    """Wait (bounded) until the mirror written after commit shows ``count`` records."""
    async with asyncio.timeout(10):
        while True:
            if await asyncio.to_thread(path.exists):
                data = json.loads(await asyncio.to_thread(path.read_text))
                if data["count"] >= count:
                    return
            await asyncio.sleep(0.02)


async def _rows(client: httpx.AsyncClient) -> int:
    async with _db(client).read() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM audit_log"))).scalar_one())


async def test_intact_trail_verifies_and_is_keyed(
    app_client: httpx.AsyncClient, settings: Settings
) -> None:
    await _append(app_client, 5)
    total = await _rows(app_client)
    result = await _verify(app_client)
    assert result["ok"] is True and result["checked"] == total
    async with _db(app_client).read() as conn:
        algs = {r[0] for r in await conn.execute(text("SELECT alg FROM audit_log"))}
        head = (await conn.execute(text("SELECT count, last_id FROM audit_head"))).one()
    assert algs == {"hmac-sha256"}
    assert head[0] == total
    await _head_file_count(settings.data_dir / HEAD_FILE, total)
    assert (await _verify(app_client))["ok"] is True


async def test_deleting_the_newest_records_is_found(app_client: httpx.AsyncClient) -> None:
    await _append(app_client, 6)
    total = await _rows(app_client)
    async with _db(app_client).write() as conn:
        await conn.execute(
            text(
                "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log ORDER BY id DESC LIMIT 2)"
            )
        )
    result = await _verify(app_client)
    assert result["ok"] is False
    assert f"the trail ends at {total - 2} but its head says {total}" in str(result["reason"])


async def test_truncation_with_the_head_row_rolled_back_is_found_by_the_file(
    app_client: httpx.AsyncClient, settings: Settings
) -> None:
    """The attacker also deletes the head row: the keyed chain has no head, and the mirror
    in the data directory still says how long the trail was."""
    await _append(app_client, 4)
    total = await _rows(app_client)
    await _head_file_count(settings.data_dir / HEAD_FILE, total)
    async with _db(app_client).write() as conn:
        await conn.execute(
            text(
                "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log ORDER BY id DESC LIMIT 1)"
            )
        )
        await conn.execute(text("DELETE FROM audit_head"))
    result = await _verify(app_client)
    assert result["ok"] is False and "head is missing" in str(result["reason"])


async def test_replayed_old_head_is_found_by_the_head_file(
    app_client: httpx.AsyncClient, settings: Settings
) -> None:
    """The attacker keeps an old, validly signed head, truncates, and puts the old head back:
    the database alone agrees, the mirror in the data directory does not."""
    await _append(app_client, 3)
    async with _db(app_client).read() as conn:
        old = (await conn.execute(text("SELECT * FROM audit_head"))).mappings().one()
    await _append(app_client, 2)
    total = await _rows(app_client)
    await _head_file_count(settings.data_dir / HEAD_FILE, total)
    async with _db(app_client).write() as conn:
        await conn.execute(text("DELETE FROM audit_log WHERE id > :i"), {"i": old["last_id"]})
        await conn.execute(
            text("UPDATE audit_head SET count = :c, last_id = :i, last_hash = :h, mac = :m"),
            {"c": old["count"], "i": old["last_id"], "h": old["last_hash"], "m": old["mac"]},
        )
    result = await _verify(app_client)
    assert result["ok"] is False
    assert f"the trail ends at {old['count']} but {HEAD_FILE} says {total}" in str(result["reason"])


async def test_rewritten_row_with_recomputed_sha256_is_found(app_client: httpx.AsyncClient) -> None:
    """Edit a record and recompute the whole chain from it with plain SHA-256 (as the old,
    unkeyed chain would accept), marking rows unkeyed: without the key the forgery shows."""
    await _append(app_client, 4)
    async with _db(app_client).write() as conn:
        rows = (await conn.execute(text("SELECT * FROM audit_log ORDER BY id"))).mappings().all()
        prev = GENESIS
        for i, row in enumerate(rows):
            rec = dict(row)
            if i == 1:
                rec["outcome"] = "forged"
            digest = hashlib.sha256((prev + _body(rec)).encode()).hexdigest()
            await conn.execute(
                text(
                    "UPDATE audit_log SET outcome = :o, prev_hash = :p, hash = :h, alg = NULL "
                    "WHERE id = :id"
                ),
                {"o": rec["outcome"], "p": prev, "h": digest, "id": rec["id"]},
            )
            prev = digest
    result = await _verify(app_client)
    assert result["ok"] is False
    assert "does not match its head" in str(result["reason"]) or "replaced" in str(result["reason"])


async def test_rewritten_row_keeping_alg_is_found(app_client: httpx.AsyncClient) -> None:
    await _append(app_client, 3)
    async with _db(app_client).write() as conn:
        rid, prev = (
            await conn.execute(text("SELECT id, prev_hash FROM audit_log ORDER BY id DESC LIMIT 1"))
        ).one()
        rec = dict(
            (await conn.execute(text("SELECT * FROM audit_log WHERE id = :i"), {"i": rid}))
            .mappings()
            .one()
        )
        rec["actor"] = "mallory"
        forged = hashlib.sha256((prev + _body(rec)).encode()).hexdigest()
        await conn.execute(
            text("UPDATE audit_log SET actor = 'mallory', hash = :h WHERE id = :i"),
            {"h": forged, "i": rid},
        )
    result = await _verify(app_client)
    assert result["ok"] is False and result["broken_at"] == rid
    assert "changed after it was written" in str(result["reason"])


async def test_forged_head_is_found(app_client: httpx.AsyncClient) -> None:
    """Truncate, then move the head back to match (without the key its MAC cannot follow)."""
    await _append(app_client, 4)
    async with _db(app_client).write() as conn:
        last_id, last_hash = (
            await conn.execute(
                text("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1 OFFSET 1")
            )
        ).one()
        await conn.execute(text("DELETE FROM audit_log WHERE id > :i"), {"i": last_id})
        await conn.execute(
            text("UPDATE audit_head SET count = count - 1, last_id = :i, last_hash = :h"),
            {"i": last_id, "h": last_hash},
        )
    result = await _verify(app_client)
    assert result["ok"] is False and "HMAC" in str(result["reason"])


async def test_cli_verify_finds_truncation(
    app_client: httpx.AsyncClient, settings: Settings
) -> None:
    await _append(app_client, 3)
    total = await _rows(app_client)
    env = {
        **os.environ,
        "PILOTO_DATABASE_URL": settings.resolved_database_url,
        "PILOTO_DATA_DIR": str(settings.data_dir),
    }
    ok = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "piloto.cli", "audit", "verify"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stdout + ok.stderr
    async with _db(app_client).write() as conn:
        await conn.execute(
            text(
                "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log ORDER BY id DESC LIMIT 1)"
            )
        )
    broken = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "piloto.cli", "audit", "verify"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert broken.returncode == 1
    assert f"the trail ends at {total - 1} but its head says {total}" in broken.stdout


async def test_unkeyed_records_from_before_still_verify(database_url: str, tmp_path: Path) -> None:
    """Records written before the chain was keyed verify as they are; keyed ones follow."""
    from piloto.audit.anchor import configure_audit
    from piloto.audit.log import verify_chain
    from piloto.store import migrate

    await asyncio.to_thread(migrate.upgrade, database_url)
    db = await asyncio.to_thread(Database, database_url)  # the engine checks the path on disk
    try:
        for i in range(2):
            async with db.write() as conn:
                await append_audit(conn, actor="old", action="test", request_summary=f"o{i}")
        configure_audit(db.engine, key=b"k" * 32, data_dir=tmp_path / "data")
        for i in range(2):
            async with db.write() as conn:
                await append_audit(conn, actor="new", action="test", request_summary=f"n{i}")
        async with db.read() as conn:
            result = await verify_chain(conn)
            algs = [r[0] for r in await conn.execute(text("SELECT alg FROM audit_log ORDER BY id"))]
            count = (await conn.execute(text("SELECT count FROM audit_head"))).scalar_one()
        assert result.ok and result.checked == 4, result.reason
        assert algs == [None, None, "hmac-sha256", "hmac-sha256"] and count == 4
    finally:
        await db.dispose()


async def test_a_commit_that_fails_after_an_append_leaves_the_head_file_alone(
    app_client: httpx.AsyncClient, settings: Settings
) -> None:
    """The head file is written after the commit, never before: a commit that fails must not
    leave the file ahead of the trail (verify would then report a truncation that never was).

    PostgreSQL checks a deferred constraint at COMMIT, so the commit itself fails there.
    """
    db = _db(app_client)
    if db.dialect != "postgresql":
        pytest.skip("only PostgreSQL can make the COMMIT itself fail (a deferred constraint)")
    await _append(app_client, 3)
    total = await _rows(app_client)
    head_file = settings.data_dir / HEAD_FILE
    await _head_file_count(head_file, total)

    with pytest.raises(IntegrityError):
        async with db.write() as conn:
            await append_audit(conn, actor="mallory", action="test", request_summary="lost")
            await conn.execute(
                text(
                    "CREATE TEMP TABLE fails_at_commit (id int,"
                    " UNIQUE (id) DEFERRABLE INITIALLY DEFERRED) ON COMMIT DROP"
                )
            )
            await conn.execute(text("INSERT INTO fails_at_commit VALUES (1), (1)"))
    assert await _rows(app_client) == total
    await _append(app_client, 1)  # a later commit, whose mirror comes after the failed one's
    await _head_file_count(head_file, total + 1)
    data = json.loads(await asyncio.to_thread(head_file.read_text))
    assert data["count"] == total + 1 == await _rows(app_client)
    result = await _verify(app_client)
    assert result["ok"] is True, result
