"""Prometheus metrics, in one registry that ``/metrics`` exposes."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from piloto.auth.tokens import principal_for_token
from piloto.errors import Forbidden, Unauthorized
from piloto.store.schema import runs

if TYPE_CHECKING:
    from starlette.requests import Request

    from piloto.settings import Settings
    from piloto.store.db import Database

REGISTRY = CollectorRegistry(auto_describe=True)

RUNS_FINISHED = Counter(
    "piloto_runs_finished_total", "Runs that reached a final state", ["status"], registry=REGISTRY
)
RUNS_BY_STATUS = Gauge("piloto_runs", "Runs by current status", ["status"], registry=REGISTRY)
STEP_DURATION = Histogram(
    "piloto_step_duration_seconds", "Duration of one step's invocation", ["service"], registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)  # fmt: skip
MODEL_LATENCY = Histogram(
    "piloto_model_latency_seconds", "Latency of one model call", registry=REGISTRY,
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120),
)  # fmt: skip
INVOCATION_ERRORS = Counter(
    "piloto_invocation_errors_total", "Failed invocations", ["service"], registry=REGISTRY
)
QUEUE_DEPTH = Gauge("piloto_queue_depth", "Runs waiting to be claimed", registry=REGISTRY)
LEASE_TAKEOVERS = Counter(
    "piloto_lease_takeovers_total", "Runs taken over after their lease expired", registry=REGISTRY
)


async def refresh_gauges(conn: AsyncConnection) -> None:
    """Read run counts by status from the database (at scrape time)."""
    rows = (await conn.execute(select(runs.c.status, func.count()).group_by(runs.c.status))).all()
    counts = {status: n for status, n in rows}
    for status in (
        "draft",
        "queued",
        "running",
        "cancelling",
        "done",
        "error",
        "cancelled",
        "superseded",
        "expired",
        "interrupted",
    ):
        RUNS_BY_STATUS.labels(status=status).set(counts.get(status, 0))
    QUEUE_DEPTH.set(counts.get("queued", 0))


def render() -> bytes:
    """The registry in Prometheus text format."""
    return generate_latest(REGISTRY)


async def check_metrics_access(request: Request, db: Database, settings: Settings) -> None:
    """Admit an admin's token or PILOTO_METRICS_TOKEN; 401/403 saying what to send otherwise."""
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise Unauthorized(
            "/metrics needs `Authorization: Bearer <token>` with an admin token or "
            "PILOTO_METRICS_TOKEN (or set PILOTO_METRICS_PUBLIC=1 to expose it)."
        )
    wanted = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
    if wanted and hmac.compare_digest(secret.encode(), wanted.encode()):
        return
    async with db.read() as conn:
        principal = await principal_for_token(conn, secret=secret)
    if principal is None:
        raise Unauthorized("This token is not valid for /metrics (unknown or revoked).")
    if not principal.can("admin"):
        raise Forbidden(
            f"/metrics needs an admin token or PILOTO_METRICS_TOKEN; yours is a {principal.role}."
        )
