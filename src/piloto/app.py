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
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from psycopg import DataError as DriverDataError
from sqlalchemy import text
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from piloto import __version__
from piloto.alerts.router import router as alerts_router
from piloto.alerts.service import AlertTurns
from piloto.audit.anchor import flush_head_file
from piloto.audit.router import router as audit_router
from piloto.auth.metrics import check_metrics_access
from piloto.auth.router import router as auth_router
from piloto.auth.tokens import ensure_admin
from piloto.boot import open_store
from piloto.chat.followup import FollowUps
from piloto.chat.router import router as chat_router
from piloto.chat.send_router import router as send_router
from piloto.chat.service import ChatDeps
from piloto.chat.stream import router as stream_router
from piloto.demo import start_demo
from piloto.errors import PilotoError
from piloto.events.pg_listener import PgListener
from piloto.llm import OpenAIChatClient
from piloto.logs import install_secret_filter, request_id_var
from piloto.metrics import render, set_run_gauges
from piloto.middleware import BodyLimitMiddleware, RequestIdMiddleware
from piloto.notify.router import router as notify_router
from piloto.notify.worker import Notifier
from piloto.plans.repo import count_runs_by_status
from piloto.plans.router import router as runs_router
from piloto.plans.service import expire_drafts
from piloto.projects.router import router as projects_router
from piloto.runbooks.router import router as runbooks_router
from piloto.runbooks.service import plan_for_chat
from piloto.services.netguard import NetPolicy, guarded_client
from piloto.services.registry import ServiceRegistry
from piloto.services.router import router as services_router
from piloto.settings import Settings, sync_url
from piloto.store.db import Database
from piloto.store.eventlog import NOTIFY_CHANNEL

log = logging.getLogger("piloto.app")
STATIC = Path(__file__).parent / "web" / "static"
# Routes whose body may carry a whole OpenAPI document (PILOTO_MAX_DOCUMENT_BYTES).
DOCUMENT_ROUTES = frozenset({("POST", "/api/services"), ("POST", "/api/services/import")})
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


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
        # No /docs or /redoc: FastAPI's pages load Swagger UI from a CDN, which breaks offline
        # and the CSP; /openapi.json stays for tools that render it locally.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        large_bytes=max(settings.max_document_bytes, settings.max_body_bytes),
        large=DOCUMENT_ROUTES,
        lang=settings.language,
    )
    app.add_middleware(RequestIdMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Idempotency-Key",
                "X-CSRF-Token",
                "X-Request-ID",
                "Last-Event-ID",
            ],
        )
    _install_error_handlers(app)

    @app.get("/api/health", tags=["health"])
    async def health(request: Request) -> dict[str, Any]:
        """Liveness and which database this instance uses; no auth. With the demo, whether
        its toolbox's commands are sandboxed (the UI warns when they are not)."""
        db: Database = request.app.state.db
        async with db.read() as conn:
            await conn.execute(text("SELECT 1"))
        body: dict[str, Any] = {"status": "ok", "version": __version__, "database": db.dialect}
        demo = getattr(request.app.state, "demo_toolbox", None)
        if demo is not None:
            body["demo_toolbox"] = demo.sandbox
        return body

    for router in (
        auth_router,
        projects_router,
        chat_router,
        send_router,
        stream_router,
        services_router,
        runs_router,
        audit_router,
        runbooks_router,
        notify_router,
        alerts_router,
    ):
        app.include_router(router)

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        """Prometheus metrics (counts and durations only); needs a token unless made public."""
        db: Database = request.app.state.db
        if not settings.metrics_public:
            await check_metrics_access(request, db, settings)
        async with db.read() as conn:
            set_run_gauges(await count_runs_by_status(conn))
        return Response(render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(
            STATIC / "index.html",
            headers={
                "Cache-Control": "no-cache",
                "Content-Security-Policy": CSP,
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
            },
        )

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


async def startup(app: FastAPI, settings: Settings, stack: AsyncExitStack) -> None:
    """Open the database, migrate, make sure an admin exists, start the services."""
    url = settings.resolved_database_url
    # Data dir, migrations, the secret key shared through the database, the audit key; a
    # failure is a StartupError that says what and where.
    store = await open_store(settings)
    db, box = store.db, store.box
    stack.push_async_callback(db.dispose)
    # Closed after everything that appends (pushed first, so it runs last but for dispose):
    # the audit head file, written at most once per interval, gets the newest head.
    stack.push_async_callback(flush_head_file, db.engine)
    app.state.db = db
    if db.dialect == "postgresql":
        listener = PgListener(
            sync_url(url).replace("postgresql+psycopg://", "postgresql://", 1),
            NOTIFY_CHANNEL,
            db.bus,
        )
        await listener.start()
        stack.push_async_callback(listener.stop)
    async with db.write() as conn:
        generated = await ensure_admin(
            conn,
            env_token=settings.admin_token.get_secret_value() if settings.admin_token else None,
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
    registry = ServiceRegistry(
        db=db,
        box=box,
        net=NetPolicy(
            allow_loopback=settings.net_allow_loopback, allow_private=settings.net_allow_private
        ),
        max_bytes=settings.invoke_max_bytes,
        secrets=process_secrets(settings),
    )
    stack.push_async_callback(registry.aclose)
    stack.callback(install_secret_filter(process_secrets(settings)))
    app.state.registry = registry
    model = build_model(settings)
    if model is not None:
        stack.push_async_callback(model.aclose)
    app.state.chat = ChatDeps(
        db=db, registry=registry, settings=settings, model=model, plan_runbook=plan_for_chat
    )
    # Alerts' investigations run beside the webhook's answer (alerts/service.py).
    alert_turns = AlertTurns(app.state.chat)
    app.state.alert_turns = alert_turns
    stack.push_async_callback(alert_turns.aclose)
    # The copilot loop: a run's end goes back to the model (registered before the runner, so
    # it is closed after it and no follow-up is scheduled on a closed scheduler).
    followups = FollowUps(app.state.chat)
    app.state.followups = followups
    stack.push_async_callback(followups.aclose)
    # Runs that ended while no instance was up to answer them (a crash, a restart).
    await followups.sweep()
    if settings.demo:
        demo = await start_demo(settings, registry)
        stack.push_async_callback(demo.aclose)
        app.state.demo_toolbox = demo
    if settings.runner:
        from piloto.runner.runner import Runner  # the runner pulls in the reasoner; only when used

        runner = Runner(
            db=db, registry=registry, settings=settings, model=model,
            on_run_end=followups.schedule,
        )  # fmt: skip
        await runner.start()
        stack.push_async_callback(runner.stop)
        app.state.runner = runner
    # Notifications out: the same network policy as services (metadata addresses refused).
    notifier = Notifier(
        db=db, client=guarded_client(registry.net, timeout=settings.notify_timeout_s),
        urls=settings.notify_urls,
        base_url=settings.public_url or f"http://{settings.host}:{settings.port}",
        secrets=process_secrets(settings), timeout_s=settings.notify_timeout_s,
        max_attempts=settings.notify_max_attempts, retry_base_s=settings.notify_retry_base_s,
        poll_s=settings.notify_poll_s,
    )  # fmt: skip
    stack.push_async_callback(notifier.client.aclose)
    await notifier.start()
    stack.push_async_callback(notifier.stop)
    app.state.notifier = notifier
    if settings.scheduler_poll_s > 0:
        # Schedules fire runs under consent given once (runbooks/scheduler.py).
        from piloto.runbooks.scheduler import Scheduler

        scheduler = Scheduler(db, registry, settings)
        await scheduler.start()
        stack.push_async_callback(scheduler.stop)
        app.state.scheduler = scheduler
    maintenance = asyncio.create_task(_maintenance(db, registry, settings))
    stack.callback(maintenance.cancel)


def process_secrets(settings: Settings) -> list[str]:
    """The instance's own secret values, redacted from results and logs."""
    held = (
        settings.llm_api_key, settings.admin_token, settings.toolbox_token,
        settings.metrics_token, settings.secret_key,
    )  # fmt: skip
    return [s.get_secret_value() for s in held if s is not None and s.get_secret_value()]


def build_model(settings: Settings) -> OpenAIChatClient | None:
    """The configured model, or None for direct mode."""
    if not settings.llm_base_url:
        return None
    return OpenAIChatClient(
        base_url=settings.llm_base_url,
        api_key=settings.llm_api_key.get_secret_value() if settings.llm_api_key else None,
        model=settings.llm_model,
        timeout_s=settings.llm_timeout_s,
        max_retries=settings.llm_max_retries,
        stream=settings.llm_stream,
    )


async def _maintenance(
    db: Database, registry: ServiceRegistry, settings: Settings, every_s: float = 30.0
) -> None:
    """Expire old drafts and retry offline services, forever."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await expire_drafts(db, lang=settings.language)
            await registry.retry_offline()
        except Exception:
            log.exception("maintenance pass failed")


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
        return JSONResponse(
            _error_body(exc.code, exc.message, **exc.extra), status_code=exc.status_code
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
        return JSONResponse(
            _error_body("invalid", _describe_validation(list(exc.errors())), errors=errors),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "Request failed."
        if exc.status_code == 404 and detail == "Not Found":
            detail = "There is nothing at this address."
        return JSONResponse(
            _error_body(f"http_{exc.status_code}", detail),
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(DataError)
    @app.exception_handler(DriverDataError)  # from units of work, which talk to psycopg directly
    async def _data(_: Request, exc: Exception) -> JSONResponse:
        # e.g. a NUL character, which PostgreSQL text columns cannot hold.
        return JSONResponse(
            _error_body(
                "invalid",
                "The request contains a value that cannot be stored "
                "(for example a NUL character). Remove it and try again.",
            ),
            status_code=422,
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(
            _error_body(
                "internal",
                "Something went wrong on Piloto's side; it was logged. Try again, and report the request id if it persists.",
            ),
            status_code=500,
        )
