"""The FastAPI application, built by ``create_app(settings)``; everything starts in the lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException

from piloto import __version__
from piloto.auth.router import router as auth_router
from piloto.auth.tokens import ensure_admin
from piloto.chat.router import router as chat_router
from piloto.chat.stream import router as stream_router
from piloto.errors import PilotoError
from piloto.logs import request_id_var
from piloto.middleware import RequestIdMiddleware
from piloto.projects.router import router as projects_router
from piloto.settings import Settings
from piloto.store import migrate
from piloto.store.db import Database

log = logging.getLogger("piloto.app")
STATIC = Path(__file__).parent / "web" / "static"


def create_app(settings: Settings) -> FastAPI:
    """Build the app; nothing touches the disk or the network until the lifespan runs."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            await startup(app, settings, stack)
            yield

    app = FastAPI(
        title="Piloto",
        version=__version__,
        description="A self-hosted operations copilot: chat, plans a person confirms, a runner.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.add_middleware(RequestIdMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-CSRF-Token", "X-Request-ID", "Last-Event-ID"],
        )
    _install_error_handlers(app)

    @app.get("/api/health", tags=["health"])
    async def health(request: Request) -> dict[str, str]:
        """Liveness and which database this instance uses; no auth."""
        db: Database = request.app.state.db
        async with db.read() as conn:
            await conn.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__, "database": db.dialect}

    for router in (auth_router, projects_router, chat_router, stream_router):
        app.include_router(router)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


async def startup(app: FastAPI, settings: Settings, stack: AsyncExitStack) -> None:
    """Open the database, migrate, make sure an admin exists."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url
    await asyncio.to_thread(migrate.upgrade, url)
    db = Database(url)
    stack.push_async_callback(db.dispose)
    app.state.db = db
    async with db.write() as conn:
        generated = await ensure_admin(
            conn, env_token=settings.admin_token.get_secret_value() if settings.admin_token else None
        )
    app.state.generated_admin_token = generated
    if generated:
        base = settings.public_url or f"http://{settings.host}:{settings.port}"
        # Printed once, to the console only: the token is never written to the log stream.
        print(
            "\n  Piloto created an admin token (shown only this once):\n\n"
            f"    {generated}\n\n  Log in at {base}/#token={generated}\n",
            flush=True,
        )


def _error_body(code: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"detail": detail, "code": code, "request_id": request_id_var.get(), **extra}


def _describe_validation(errors: list[Any]) -> str:
    parts = []
    for err in errors[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        if err.get("type") == "json_invalid":
            return "The request body is not valid JSON. Check quotes, commas and brackets."
        msg = err.get("msg", "is invalid")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "Invalid request: " + "; ".join(parts) + "."


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PilotoError)
    async def _piloto(_: Request, exc: PilotoError) -> JSONResponse:
        return JSONResponse(_error_body(exc.code, exc.message, **exc.extra), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
        return JSONResponse(
            _error_body("invalid", _describe_validation(list(exc.errors())), errors=errors), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "Request failed."
        if exc.status_code == 404 and detail == "Not Found":
            detail = "There is nothing at this address."
        return JSONResponse(_error_body(f"http_{exc.status_code}", detail), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(
            _error_body("internal", "Something went wrong on Piloto's side; it was logged. Try again, and report the request id if it persists."),
            status_code=500,
        )
