"""``Idempotency-Key`` as the IETF draft describes: replay, 422 on a changed body, 409 while busy."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from piloto.errors import Conflict, Invalid, PilotoError
from piloto.store.db import Database
from piloto.store.ids import now
from piloto.store.schema import idempotency_keys

KEEP_S = 24 * 3600
KEY_MAX = 200

Handler = Callable[[], Awaitable[tuple[int, Any]]]


def _fingerprint(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


async def run_idempotent(
    db: Database, *, scope: str, key: str | None, body: Any, handler: Handler
) -> tuple[int, Any]:
    """Run ``handler`` once per (scope, key); later calls with the same key get its response."""
    if key is None:
        return await handler()
    key = key.strip()
    if not key or len(key) > KEY_MAX:
        raise Invalid(f"Idempotency-Key must be 1 to {KEY_MAX} characters.")
    fingerprint = _fingerprint(body)
    async with db.write() as conn:
        await conn.execute(
            delete(idempotency_keys).where(idempotency_keys.c.created_at < now() - KEEP_S)
        )
        row = (
            await conn.execute(
                select(idempotency_keys).where(
                    idempotency_keys.c.scope == scope, idempotency_keys.c.key == key
                )
            )
        ).first()
        if row is None:
            try:
                await conn.execute(
                    insert(idempotency_keys).values(
                        scope=scope,
                        key=key,
                        request_hash=fingerprint,
                        state="running",
                        created_at=now(),
                    )
                )
            except (
                IntegrityError
            ) as exc:  # another instance took the key between our read and insert
                raise Conflict(
                    "A request with this Idempotency-Key is still being processed.",
                    code="idempotency_in_progress",
                ) from exc
    if row is not None:
        if row.request_hash != fingerprint:
            raise Invalid(
                "This Idempotency-Key was already used with a different request body.",
                code="idempotency_mismatch",
            )
        if row.state == "running":
            raise Conflict(
                "A request with this Idempotency-Key is still being processed.",
                code="idempotency_in_progress",
            )
        return int(row.status_code), json.loads(row.response_json)
    try:
        status, result = await handler()
    except PilotoError as exc:
        status, result = exc.status_code, {"detail": exc.message, "code": exc.code, **exc.extra}
        await _store(db, scope, key, status, result)
        raise
    except BaseException:
        async with db.write() as conn:
            await conn.execute(
                delete(idempotency_keys).where(
                    idempotency_keys.c.scope == scope, idempotency_keys.c.key == key
                )
            )
        raise
    await _store(db, scope, key, status, result)
    return status, result


async def _store(db: Database, scope: str, key: str, status: int, result: Any) -> None:
    async with db.write() as conn:
        await conn.execute(
            update(idempotency_keys)
            .where(idempotency_keys.c.scope == scope, idempotency_keys.c.key == key)
            .values(state="done", status_code=status, response_json=json.dumps(result, default=str))
        )
