"""FastAPI dependencies shared by every router: the database, the settings, and the
``Idempotency-Key`` a POST may carry."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, cast

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse

from piloto.settings import Settings
from piloto.store.db import Database
from piloto.store.idempotency import run_idempotent


def get_db(request: Request) -> Database:
    """The process's database handle."""
    return cast(Database, request.app.state.db)


def get_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    return cast(Settings, request.app.state.settings)


DB = Annotated[Database, Depends(get_db)]
AppSettings = Annotated[Settings, Depends(get_settings)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]


async def idempotent_json(
    db: Database,
    *,
    scope: str,
    key: str | None,
    body: Any,
    handler: Callable[[], Awaitable[Any]],
) -> JSONResponse:
    """Answer with ``handler``'s result (200) once per (scope, key); a repeated key replays it."""

    async def answer() -> tuple[int, Any]:
        return 200, await handler()

    status, result = await run_idempotent(db, scope=scope, key=key, body=body, handler=answer)
    return JSONResponse(result, status_code=status)
