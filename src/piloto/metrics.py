"""Prometheus metrics, in one registry that ``/metrics`` exposes (a leaf: it reads nothing)."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

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


def set_run_gauges(counts: Mapping[str, int]) -> None:
    """Set the runs-by-status and queue-depth gauges from counts read at scrape time."""
    for status, n in counts.items():
        RUNS_BY_STATUS.labels(status=status).set(n)
    QUEUE_DEPTH.set(counts.get("queued", 0))


def render() -> bytes:
    """The registry in Prometheus text format."""
    return generate_latest(REGISTRY)
