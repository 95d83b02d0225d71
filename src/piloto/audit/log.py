"""Append and verify the audit log: an HMAC-keyed hash chain with a signed head.

Records written before the chain was keyed (``alg`` NULL, plain SHA-256) still verify, but
only at the start of the chain: an unkeyed record after a keyed one is a rewrite.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.engine import Connection as SyncConnection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from piloto.audit.anchor import (
    HMAC_ALG,
    AuditConfig,
    Head,
    config_for,
    head_mac,
    keyed_hash,
    read_head_file,
    remember_head,
)
from piloto.store import unit
from piloto.store.db import after_commit
from piloto.store.ids import now
from piloto.store.schema import audit_head, audit_log

GENESIS = "0" * 64
_PG_AUDIT_LOCK = 72_404_232
_FIELDS = (
    "ts", "actor", "action", "project_id", "chat_id", "run_id", "step_id",
    "plan_hash", "request_summary", "response_summary", "outcome",
)  # fmt: skip


def _body(record: dict[str, Any]) -> str:
    return json.dumps({k: record.get(k) for k in _FIELDS}, sort_keys=True, separators=(",", ":"))


def record_hash(prev_hash: str, record: dict[str, Any]) -> str:
    """SHA-256 over the previous hash and the record's canonical JSON (unkeyed records)."""
    return hashlib.sha256((prev_hash + _body(record)).encode()).hexdigest()


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
    key = config_for(conn).key
    if key is None:  # an engine nobody configured (tools, old scripts): the unkeyed chain
        await conn.execute(
            insert(audit_log).values(**record, prev_hash=prev, hash=record_hash(prev, record))
        )
        return
    digest = keyed_hash(key, prev, _body(record))
    new_id = (
        await conn.execute(
            insert(audit_log)
            .values(**record, prev_hash=prev, hash=digest, alg=HMAC_ALG)
            .returning(audit_log.c.id)
        )
    ).scalar_one()
    await _advance_head(conn, key, new_id, digest)


async def _advance_head(conn: AsyncConnection, key: bytes, last_id: int, last_hash: str) -> None:
    """Move the signed head to the record just written, in the same transaction."""
    count = (await conn.execute(select(audit_head.c.count).where(audit_head.c.id == 1))).scalar()
    exists = count is not None
    if count is None:  # the first keyed record: count what came before it once
        count = (await conn.execute(select(func.count()).select_from(audit_log))).scalar_one()
    else:
        count += 1
    head = Head(count, last_id, last_hash, head_mac(key, count, last_id, last_hash))
    values = {
        "count": head.count, "last_id": head.last_id, "last_hash": head.last_hash,
        "mac": head.mac, "updated_at": now(),
    }  # fmt: skip
    if exists:
        await conn.execute(update(audit_head).where(audit_head.c.id == 1).values(**values))
    else:
        await conn.execute(insert(audit_head).values(id=1, **values))
    remember_head(conn, head)


# Where the chain stands, in one statement: the last hash and the head's count (NULL before
# the first keyed record); on PostgreSQL also the new record's id, so the INSERT and the head's
# UPDATE need no answer and are pipelined: one round trip waited for per append, not three.
_TIP = (
    "SELECT (SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1), "
    "(SELECT count FROM audit_head WHERE id = 1)"
)
_PG_TIP = _TIP + ", nextval(pg_get_serial_sequence('audit_log', 'id'))"
# A later append in the same transaction still holds the chain (PostgreSQL's lock, SQLite's
# one writer), so it continues from where the previous one left it and reads nothing: on
# PostgreSQL it takes the next id itself and moves the sequence past it (recovery appends a
# record per run, hundreds in one unit, then without any round trip waited for).
_PG_TAKE_ID = "SELECT setval(pg_get_serial_sequence('audit_log', 'id'), :id)"
_TIP_KEY = "piloto_audit_tip"  # conn.info: (transaction, last hash, head count, last id)
_COLUMNS = (
    "ts, actor, action, project_id, chat_id, run_id, step_id, plan_hash, request_summary, "
    "response_summary, outcome, prev_hash, hash, alg"
)
_VALUES = ", ".join(":" + c.strip() for c in _COLUMNS.split(","))
_INSERT_AUDIT = f"INSERT INTO audit_log ({_COLUMNS}) VALUES ({_VALUES}) RETURNING id"
_PG_INSERT_AUDIT = f"INSERT INTO audit_log (id, {_COLUMNS}) VALUES (:id, {_VALUES})"
_HEAD_INSERT = (
    "INSERT INTO audit_head (id, count, last_id, last_hash, mac, updated_at) "
    "VALUES (1, :count, :last_id, :last_hash, :mac, :updated_at)"
)
_HEAD_UPDATE = (
    "UPDATE audit_head SET count = :count, last_id = :last_id, last_hash = :last_hash, "
    "mac = :mac, updated_at = :updated_at WHERE id = 1"
)


def audit_config(engine: AsyncEngine) -> AuditConfig:
    """The audit configuration of an engine, for ``append_audit_sync`` (a unit of work runs
    on a connection of its own, which ``config_for`` does not know)."""
    # config_for reads only ``.sync_engine``, which an engine has as its connections do.
    return config_for(cast(Any, engine))


def append_audit_sync(conn: SyncConnection, config: AuditConfig, **fields: Any) -> None:
    """``append_audit`` inside a unit of work (``Database.write_unit``): the same chain, head
    and mirror. Written last in the unit, so PostgreSQL's chain lock is held only to commit."""
    pg = conn.dialect.name == "postgresql"
    tx = conn.get_transaction()
    held = conn.info.get(_TIP_KEY)
    if held is not None and held[0] is tx and config.key is not None:
        _, prev, count, last_id = held
        count, next_id = count + 1, last_id + 1
    else:
        if pg:
            unit.run(conn, "SELECT pg_advisory_xact_lock(:k)", {"k": _PG_AUDIT_LOCK})
        tip = unit.one(conn, _PG_TIP if pg else _TIP, {})
        assert tip is not None  # a SELECT without FROM has one row
        prev = str(tip[0]) if tip[0] is not None else GENESIS
        count = int(tip[1]) + 1 if tip[1] is not None else None
        next_id = int(tip[2]) if pg else None
    record = {k: fields.get(k) for k in _FIELDS}
    record["ts"] = round(now(), 6)
    record["request_summary"] = _clip(record["request_summary"])
    record["response_summary"] = _clip(record["response_summary"])
    if config.key is None:
        digest, alg = record_hash(prev, record), None
    else:
        digest, alg = keyed_hash(config.key, prev, _body(record)), HMAC_ALG
    values = {**record, "prev_hash": prev, "hash": digest, "alg": alg}
    if pg:
        assert next_id is not None
        last_id = next_id
        unit.run(conn, _PG_INSERT_AUDIT, {**values, "id": last_id})
        if held is not None and held[0] is tx:
            unit.run(conn, _PG_TAKE_ID, {"id": last_id})
    else:
        inserted = unit.one(conn, _INSERT_AUDIT, values)
        assert inserted is not None  # INSERT … RETURNING of one row
        last_id = int(inserted[0])
    if config.key is None:
        return
    first = count is None
    if count is None:  # the first keyed record: count what came before it once
        counted = unit.one(conn, "SELECT COUNT(*) FROM audit_log", {})
        count = int(counted[0]) if counted is not None else 1
    conn.info[_TIP_KEY] = (tx, digest, count, last_id)
    head = Head(count, last_id, digest, head_mac(config.key, count, last_id, digest))
    row = {
        "count": head.count, "last_id": head.last_id, "last_hash": head.last_hash,
        "mac": head.mac, "updated_at": now(),
    }  # fmt: skip
    unit.run(conn, _HEAD_INSERT if first else _HEAD_UPDATE, row)
    mirror = config.mirror
    if mirror is not None:
        # Mirrored after the commit, by the mirror's thread, as remember_head does.
        after_commit(conn, lambda: mirror.offer(head))


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


def _fail(checked: int, at: int | None, reason: str) -> VerifyResult:
    return VerifyResult(False, checked, at, reason)


async def verify_chain(conn: AsyncConnection) -> VerifyResult:
    """Walk the chain, then check it against its signed head and the head file."""
    config = config_for(conn)
    key = config.key
    prev = GENESIS
    count = 0
    keyed = False
    last: dict[str, Any] | None = None
    async for rec in iter_audit(conn):
        count += 1
        rid = rec["id"]
        if rec["prev_hash"] != prev:
            return _fail(count, rid, f"record {rid} does not follow the one before it "
                         "(a record was deleted or inserted)")  # fmt: skip
        alg = rec.get("alg")
        if alg == HMAC_ALG:
            if key is None:
                return _fail(count, rid, "keyed records cannot be checked without the secret "
                             "key: set PILOTO_SECRET_KEY or PILOTO_DATA_DIR as the server has it")  # fmt: skip
            expected, keyed = keyed_hash(key, prev, _body(rec)), True
        elif alg is None:
            if keyed:
                return _fail(count, rid, f"record {rid} is not keyed but follows keyed records "
                             "(the chain was rewritten)")  # fmt: skip
            expected = record_hash(prev, rec)
        else:
            return _fail(count, rid, f"record {rid} names an unknown algorithm {alg!r}")
        if expected != rec["hash"]:
            return _fail(count, rid, f"record {rid} was changed after it was written")
        prev, last = rec["hash"], rec
    row = (await conn.execute(select(audit_head).where(audit_head.c.id == 1))).first()
    if row is None:
        if keyed:
            return _fail(count, None, "the trail's head is missing (audit_head was deleted)")
        return VerifyResult(True, count)
    m = row._mapping
    head = Head(int(m["count"]), int(m["last_id"]), str(m["last_hash"]), str(m["mac"]))
    problem = _check_head(head, key, count, last, "its head")
    if problem:
        return _fail(count, None, problem)
    if config.head_file is not None:
        try:
            mirrored = await asyncio.to_thread(read_head_file, config.head_file)
        except (ValueError, KeyError, OSError) as exc:
            return _fail(count, None, f"the head file {config.head_file} is unreadable ({exc})")
        if mirrored is not None:
            problem = await _check_mirror(conn, mirrored, key, count, config.head_file.name)
            if problem:
                return _fail(count, None, problem)
    return VerifyResult(True, count)


def _check_head(
    head: Head, key: bytes | None, count: int, last: dict[str, Any] | None, name: str
) -> str | None:
    if key is None:
        return "the trail's head cannot be checked without the secret key"
    if not hmac.compare_digest(head.mac, head_mac(key, head.count, head.last_id, head.last_hash)):
        return f"{name} does not match its HMAC (the head was altered)"
    if count < head.count:
        return (
            f"the trail ends at {count} but {name} says {head.count}: "
            f"the newest {head.count - count} record(s) were deleted"
        )
    if count > head.count:
        return (
            f"the trail has {count} records but {name} says {head.count}: "
            "records were added outside Piloto"
        )
    if last is None or last["id"] != head.last_id or last["hash"] != head.last_hash:
        return f"the newest record does not match {name} (it was replaced)"
    return None


async def _check_mirror(
    conn: AsyncConnection, head: Head, key: bytes | None, count: int, name: str
) -> str | None:
    """The mirror may lag behind the table (it is written after commit), never lead it."""
    if key is None:
        return None
    if not hmac.compare_digest(head.mac, head_mac(key, head.count, head.last_id, head.last_hash)):
        return f"{name} does not match its HMAC (the head file was altered)"
    if count < head.count:
        return (
            f"the trail ends at {count} but {name} says {head.count}: "
            f"the newest {head.count - count} record(s) were deleted"
        )
    found = (
        await conn.execute(select(audit_log.c.hash).where(audit_log.c.id == head.last_id))
    ).scalar()
    if found != head.last_hash:
        return f"record {head.last_id}, which {name} names, was changed or deleted"
    return None
