"""Steps per second with one and with two `piloto serve` instances sharing PostgreSQL, same run.

    PILOTO_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test \
        .venv/bin/python bench/bench_instances.py [--runs 100] [--steps 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).parents[1]))
from tests.support.procs import free_port, start, wait_http

TOKEN = "bench-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def workload(urls: list[str], svc_url: str, runs: int, steps: int) -> float:
    clients = [httpx.AsyncClient(base_url=u, headers=AUTH, timeout=60) for u in urls]
    try:
        c0 = clients[0]
        await c0.post(
            "/api/services",
            json={
                "name": "count",
                "kind": "openapi",
                "base_url": svc_url,
                "honours_idempotency": True,
            },
        )
        pid = (
            await c0.post("/api/projects", json={"name": f"bench-{secrets.token_hex(3)}"})
        ).json()["id"]
        sem = asyncio.Semaphore(16)

        async def draft(i: int) -> tuple[str, str]:
            async with sem:
                c = clients[i % len(clients)]
                chat = (
                    await c.post("/api/chats", json={"project_id": pid, "title": str(i)})
                ).json()["id"]
                first = (
                    await c.post(
                        "/api/send", json={"chat_id": chat, "text": '/call count do_work {"n": 0}'}
                    )
                ).json()["run"]
                body = {
                    "steps": [
                        {"service": "count", "operation": "do_work", "arguments": {"n": k}}
                        for k in range(steps)
                    ]
                }
                run = (await c.post(f"/api/runs/{first['id']}/edit", json=body)).json()
                return run["id"], run["plan_hash"]

        drafts = await asyncio.gather(*(draft(i) for i in range(runs)))
        start_t = time.perf_counter()
        await asyncio.gather(
            *(
                clients[i % len(clients)].post(f"/api/runs/{rid}/confirm", json={"plan_hash": h})
                for i, (rid, h) in enumerate(drafts)
            )
        )
        pending = {rid for rid, _ in drafts}
        while pending:
            for rid in list(pending):
                if (await c0.get(f"/api/runs/{rid}")).json()["status"] in (
                    "done",
                    "error",
                    "interrupted",
                    "cancelled",
                ):
                    pending.discard(rid)
            await asyncio.sleep(0.05)
        return time.perf_counter() - start_t
    finally:
        for c in clients:
            await c.aclose()


def measure(pg: str, instances: int, runs: int, steps: int, tmp: Path) -> float:
    schema = "bench_" + secrets.token_hex(4)
    engine = create_engine(pg.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = f"{pg}{'&' if '?' in pg else '?'}options=-csearch_path%3D{schema}"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        svc_port = free_port()
        svc = start(
            [sys.executable, "-m", "tests.support.counting_service", str(svc_port)],
            dict(os.environ),
            tmp / "svc.log",
        )
        procs.append(svc)
        wait_http(f"http://127.0.0.1:{svc_port}/stats", svc)
        urls = []
        for i in range(instances):
            port = free_port()
            env = {
                **os.environ,
                "PILOTO_DATABASE_URL": url,
                "PILOTO_ADMIN_TOKEN": TOKEN,
                "PILOTO_DEMO": "0",
                "PILOTO_DATA_DIR": str(tmp / f"i{i}"),
                "PILOTO_SECRET_KEY": "bench-instances-shared-secret",  # one audit chain key
                "PILOTO_LOG_LEVEL": "WARNING",
                "PILOTO_RUNNER_CONCURRENCY": "8",
            }
            proc = start(
                [sys.executable, "-m", "piloto.cli", "serve", "--port", str(port)],
                env,
                tmp / f"i{i}.log",
            )
            procs.append(proc)
            wait_http(f"http://127.0.0.1:{port}/api/health", proc)
            urls.append(f"http://127.0.0.1:{port}")
        return asyncio.run(workload(urls, f"http://127.0.0.1:{svc_port}", runs, steps))
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=30)
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    pg = os.environ.get("PILOTO_TEST_DATABASE_URL")
    if not pg:
        print("bench_instances: skipped (set PILOTO_TEST_DATABASE_URL to a PostgreSQL URL)")
        return
    total = args.runs * args.steps
    with tempfile.TemporaryDirectory() as tmp:
        one = measure(pg, 1, args.runs, args.steps, Path(tmp))
        two = measure(pg, 2, args.runs, args.steps, Path(tmp))
    print(f"instances benchmark: {args.runs} runs x {args.steps} steps on PostgreSQL")
    print(f"  one instance  {one:6.2f} s  {total / one:7.1f} steps/s")
    print(f"  two instances {two:6.2f} s  {total / two:7.1f} steps/s   ratio {one / two:4.2f}x")


if __name__ == "__main__":
    main()
