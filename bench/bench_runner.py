"""The runner's costs: per-step overhead, throughput of concurrent runs, recovery time.

    python bench/bench_runner.py [--postgres] [--steps 10,50,100] [--repeat 3] [--runs 100]
        [--stale 1000] [--only overhead|throughput|recovery]

(1) plans of N GETs through the real app and runner vs the same N calls with a bare
httpx.AsyncClient (the floor) and LangGraph's durable functional API (one task per call,
AsyncSqliteSaver / AsyncPostgresSaver, ``durability="sync"``), per step; (2) M concurrent runs of 3 steps each: steps per second; (3) recovering
K stale runs (a dead instance's, each with a non-idempotent step in flight). SQLite by
default; ``--postgres`` uses a fresh schema in PILOTO_TEST_DATABASE_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

TOKEN = "bench-admin-token-0123456789"


def serve_service(port: int) -> None:
    """The loopback tool service: GET /items/{id}, POST /orders."""
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI(title="bench", version="1")

    @app.get("/items/{item_id}", operation_id="getItem")
    async def get_item(item_id: str) -> dict[str, Any]:
        return {"id": item_id, "name": f"item {item_id}"}

    @app.post("/orders", operation_id="createOrder")
    async def create_order(body: dict[str, Any]) -> dict[str, Any]:
        return {"id": secrets.token_hex(4), **body}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def database(postgres: bool, tmp: Path) -> AsyncIterator[str]:
    """A fresh database URL: an SQLite file, or a private PostgreSQL schema."""
    if not postgres:
        yield f"sqlite:///{tmp / 'bench.db'}"
        return
    from sqlalchemy import create_engine, text

    base = os.environ.get("PILOTO_TEST_DATABASE_URL")
    if not base:
        sys.exit(
            "--postgres needs PILOTO_TEST_DATABASE_URL (e.g. postgresql://postgres@127.0.0.1:5432/test)"
        )
    schema = "bench_" + secrets.token_hex(4)
    engine = create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        sep = "&" if "?" in base else "?"
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


@asynccontextmanager
async def app_client(
    url: str, data: Path, *, runner: bool, concurrency: int = 4
) -> AsyncIterator[httpx.AsyncClient]:
    from piloto.app import create_app
    from piloto.settings import Settings

    settings = Settings(
        data_dir=data, database_url=url, admin_token=TOKEN, demo=False, llm_base_url=None, runner=runner,  # type: ignore[arg-type]
        runner_concurrency=concurrency, log_level="WARNING", _env_file=None,  # type: ignore[call-arg]
    )  # fmt: skip
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://piloto",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=60,
        ) as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


def ok(resp: httpx.Response) -> Any:
    if resp.status_code >= 300:
        raise SystemExit(
            f"{resp.request.method} {resp.request.url}: {resp.status_code} {resp.text}"
        )
    return resp.json()


async def setup(client: httpx.AsyncClient, service_url: str, max_steps: int) -> str:
    project = ok(
        await client.post(
            "/api/projects",
            json={"name": f"bench-{secrets.token_hex(3)}", "settings": {"max_steps": max_steps}},
        )
    )
    ok(
        await client.post(
            "/api/services",
            json={
                "name": "svc",
                "kind": "openapi",
                "base_url": service_url,
                "project_id": project["id"],
            },
        )
    )
    return str(project["id"])


async def plan(
    client: httpx.AsyncClient, project_id: str, steps: list[dict[str, Any]]
) -> dict[str, Any]:
    chat = ok(await client.post("/api/chats", json={"project_id": project_id, "title": "bench"}))
    first = ok(
        await client.post(
            "/api/send",
            json={
                "chat_id": chat["id"],
                "text": f"/call svc getItem {json.dumps(steps[0]['arguments'])}",
            },
        )
    )["run"]
    return dict(ok(await client.post(f"/api/runs/{first['id']}/edit", json={"steps": steps})))


async def wait_done(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    # Polled slowly: the figures come from the run's own timestamps, and a fast poll of the
    # whole run would compete with the runner for the same event loop.
    while True:
        run = ok(await client.get(f"/api/runs/{run_id}"))
        if run["status"] in ("done", "error", "cancelled", "interrupted"):
            if run["status"] != "done":
                raise SystemExit(f"run {run_id} ended {run['status']}: {run.get('error')}")
            return dict(run)
        await asyncio.sleep(0.2)


async def piloto_per_step(client: httpx.AsyncClient, project_id: str, n: int) -> float:
    """ms per step of an n-step plan of GETs, from the run's start to its end (committed)."""
    steps = [
        {"service": "svc", "operation": "getItem", "arguments": {"item_id": str(i)}}
        for i in range(n)
    ]
    run = await plan(client, project_id, steps)
    ok(await client.post(f"/api/runs/{run['id']}/confirm", json={"plan_hash": run["plan_hash"]}))
    done = await wait_done(client, run["id"])
    return float((done["finished_at"] - done["started_at"]) / n * 1000)


async def bare_per_step(service_url: str, n: int) -> float:
    """ms per call of the same n GETs with a bare httpx.AsyncClient: the floor."""
    async with httpx.AsyncClient(base_url=service_url) as bare:
        await bare.get("/items/warm")
        t0 = time.perf_counter()
        for i in range(n):
            (await bare.get(f"/items/{i}", headers={"Idempotency-Key": str(i)})).raise_for_status()
        return (time.perf_counter() - t0) / n * 1000


async def langgraph_per_step(url: str, tmp: Path, service_url: str, n: int) -> float | None:
    """ms per step of LangGraph's durable functional API: one task per GET, checkpointed
    before the next (``durability="sync"``), on SQLite or PostgreSQL as Piloto is."""
    try:
        from langgraph.func import entrypoint, task
    except ImportError:
        return None
    async with httpx.AsyncClient(base_url=service_url) as http:

        @task
        async def get_item(i: int) -> dict[str, Any]:
            resp = await http.get(f"/items/{i}", headers={"Idempotency-Key": str(i)})
            resp.raise_for_status()
            return dict(resp.json())

        async def measure(saver: Any) -> float:
            @entrypoint(checkpointer=saver)
            async def plan_of_gets(count: int) -> list[dict[str, Any]]:
                return [await get_item(i) for i in range(count)]

            config = {"configurable": {"thread_id": secrets.token_hex(4)}}
            t0 = time.perf_counter()
            await plan_of_gets.ainvoke(n, config, durability="sync")
            return (time.perf_counter() - t0) / n * 1000

        if url.startswith("sqlite"):
            try:
                from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
            except ImportError:
                return None
            path = tmp / f"langgraph-{secrets.token_hex(3)}.db"
            async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
                return await measure(saver)
        try:
            from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        except ImportError:
            return None
        async with AsyncPostgresSaver.from_conn_string(url) as pg_saver:
            await pg_saver.setup()
            return await measure(pg_saver)


async def bench_overhead(
    url: str, tmp: Path, service_url: str, lengths: list[int], repeat: int = 1
) -> None:
    """Each figure is the best of ``repeat`` tries, the three contenders taking turns, so that
    a busy machine's pauses (a 2-core CI box running the suite) hit all of them alike."""
    rows = []
    async with app_client(url, tmp / "d1", runner=True) as client:
        project_id = await setup(client, service_url, max_steps=max([*lengths, 20]))
        await piloto_per_step(client, project_id, 3)  # warm: first-call imports and caches
        for n in lengths:
            tries: list[tuple[float, float | None, float]] = []
            for _ in range(repeat):
                piloto = await piloto_per_step(client, project_id, n)
                bare = await bare_per_step(service_url, n)
                graph = await langgraph_per_step(url, tmp, service_url, n)
                tries.append((bare, graph, piloto))
            graphs = [g for _, g, _ in tries if g is not None]
            rows.append(
                (
                    n,
                    min(b for b, _, _ in tries),
                    min(graphs) if graphs else None,
                    min(p for _, _, p in tries),
                )
            )
    best = f", best of {repeat}" if repeat > 1 else ""
    print(
        f"(1) per-step cost of an n-step plan of GETs (ms/step{best}; ratios to the bare httpx floor)"
    )
    print(f"    {'steps':>5} {'bare httpx':>11} {'LangGraph':>10} {'Piloto':>8} "
          f"{'Piloto/floor':>13} {'LangGraph/floor':>16} {'Piloto/LangGraph':>17}")  # fmt: skip
    for n, bare, graph, piloto in rows:
        g = f"{graph:10.2f}" if graph is not None else f"{'n/a':>10}"
        g_ratio = f"{graph / bare:15.1f}x" if graph is not None else f"{'n/a':>16}"
        pg_ratio = f"{piloto / graph:16.2f}x" if graph is not None else f"{'n/a':>17}"
        print(
            f"    {n:>5} {bare:11.2f} {g} {piloto:8.2f} {piloto / bare:12.1f}x {g_ratio} {pg_ratio}"
        )


async def bench_throughput(url: str, tmp: Path, service_url: str, m: int, concurrency: int) -> None:
    async with app_client(url, tmp / "d2", runner=True, concurrency=concurrency) as client:
        project_id = await setup(client, service_url, max_steps=20)
        runs = []
        for i in range(m):
            steps = [
                {"service": "svc", "operation": "getItem", "arguments": {"item_id": f"{i}-{k}"}}
                for k in range(3)
            ]
            runs.append(await plan(client, project_id, steps))
        t0 = time.perf_counter()
        for run in runs:
            ok(
                await client.post(
                    f"/api/runs/{run['id']}/confirm", json={"plan_hash": run["plan_hash"]}
                )
            )
        finals = [await wait_done(client, r["id"]) for r in runs]
        wall = time.perf_counter() - t0
    first = min(f["confirmed_at"] for f in finals)
    last = max(f["finished_at"] for f in finals)
    span = last - first
    print(f"(2) {m} runs × 3 steps, runner_concurrency={concurrency}: {3 * m / span:.0f} steps/s "
          f"({m / span:.1f} runs/s; first confirmation → last finish {span:.2f} s, wall {wall:.2f} s)")  # fmt: skip


async def bench_recovery(url: str, tmp: Path, service_url: str, k: int) -> None:
    from sqlalchemy import insert

    from piloto.runner.recovery import recover_stale_runs
    from piloto.store.ids import new_id, now
    from piloto.store.schema import runs, steps

    async with app_client(url, tmp / "d3", runner=False) as client:
        project_id = await setup(client, service_url, max_steps=20)
        chat = ok(
            await client.post("/api/chats", json={"project_id": project_id, "title": "stale"})
        )
        app: Any = client.app  # type: ignore[attr-defined]
        db, registry = app.state.db, app.state.registry
        t = now()
        run_rows, step_rows = [], []
        for i in range(k):
            rid, sid = new_id(), new_id()
            run_rows.append({
                "id": rid, "chat_id": chat["id"], "project_id": project_id, "status": "running", "summary": "stale",
                "plan_json": "{}", "plan_hash": "0" * 64, "proposed_by": "bench", "approved_by_policy": False,
                "lease_owner": "dead:1:00", "lease_expires_at": t - 60, "created_at": t, "updated_at": t + i * 1e-6, "started_at": t,
            })  # fmt: skip
            step_rows.append({
                "id": sid, "run_id": rid, "idx": 0, "service": "svc", "operation": "createOrder",
                "arguments_json": '{"body": {"n": 1}}', "risk": "write", "status": "running", "attempts": 1,
                "idempotency_key": f"{rid}:{sid}",
            })  # fmt: skip
        async with db.write() as conn:
            await conn.execute(insert(runs), run_rows)
            await conn.execute(insert(steps), step_rows)
        t0 = time.perf_counter()
        resumed = await recover_stale_runs(db, registry, owner="bench:2:00", lease_s=30)
        took = time.perf_counter() - t0
        async with db.read() as conn:
            from sqlalchemy import func, select

            interrupted = (
                await conn.execute(
                    select(func.count()).select_from(runs).where(runs.c.status == "interrupted")
                )
            ).scalar()
    print(f"(3) recovery of {k} stale runs: {took:.2f} s ({k / took:.0f} runs/s); "
          f"{interrupted} interrupted, {len(resumed)} resumed")  # fmt: skip


async def main(args: argparse.Namespace, service_url: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        print(f"database: {'postgresql' if args.postgres else 'sqlite'}")
        if args.only in (None, "overhead"):
            async with database(args.postgres, tmp) as url:
                await bench_overhead(url, tmp, service_url, args.steps, args.repeat)
        if args.only in (None, "throughput"):
            async with database(args.postgres, tmp) as url:
                await bench_throughput(url, tmp, service_url, args.runs, args.concurrency)
        if args.only in (None, "recovery"):
            async with database(args.postgres, tmp) as url:
                await bench_recovery(url, tmp, service_url, args.stale)


def run(args: argparse.Namespace) -> None:
    """Start the tool service in its own process, then measure."""
    logging.getLogger("piloto").setLevel(
        logging.ERROR
    )  # one line per takeover would drown the figures
    port = free_port()
    service = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    service_url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(f"{service_url}/openapi.json", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        asyncio.run(main(args, service_url))
    finally:
        service.terminate()
        service.wait(10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--postgres", action="store_true", help="use PILOTO_TEST_DATABASE_URL")
    parser.add_argument(
        "--steps", type=lambda v: [int(x) for x in v.split(",")], default=[10, 50, 100],
        help="plan lengths, comma-separated (default 10,50,100)",
    )  # fmt: skip
    parser.add_argument("--only", choices=["overhead", "throughput", "recovery"])
    parser.add_argument(
        "--repeat", type=int, default=3, help="per-step figures: the best of this many tries"
    )
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--stale", type=int, default=1000)
    ns = parser.parse_args()
    if ns.serve:
        serve_service(ns.serve)
    else:
        run(ns)
