"""Two `piloto serve` processes on one PostgreSQL: share the runs, survive a kill -9, run nothing twice."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from tests.conftest import ADMIN_TOKEN, PG_URL, _pg_schema_url
from tests.support.procs import free_port, start, wait_http

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not PG_URL, reason="needs PILOTO_TEST_DATABASE_URL (PostgreSQL)"),
    # 1,000 steps on two instances take minutes on a busy CI machine; the waits inside bound it.
    pytest.mark.timeout(600),
]
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# Enough runs that both instances hold several when B dies; throughput is measured by
# bench/bench_instances.py, not here (200 runs took 4 minutes on a busy CI machine).
RUNS = 60
STEPS = 5


@pytest.fixture
def pg_url() -> Iterator[str]:
    assert PG_URL
    schema = "scale_" + secrets.token_hex(5)
    engine = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield _pg_schema_url(PG_URL, schema)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


def test_two_instances_share_work_and_survive_a_kill(pg_url: str, tmp_path: Path) -> None:
    svc_port, a_port, b_port = free_port(), free_port(), free_port()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        svc = start(
            [sys.executable, "-m", "tests.support.counting_service", str(svc_port)],
            dict(os.environ),
            tmp_path / "svc.log",
        )
        procs.append(svc)
        wait_http(f"http://127.0.0.1:{svc_port}/stats", svc)
        env = {
            **os.environ, "PILOTO_DATABASE_URL": pg_url, "PILOTO_ADMIN_TOKEN": ADMIN_TOKEN, "PILOTO_DEMO": "0",
            # Instances sharing a database share the secret key (credentials, the audit chain).
            "PILOTO_SECRET_KEY": "two-instances-shared-secret",
            # A lease of ten heartbeats: a busy CI machine never lets a live instance's run
            # be taken over, and the killed one's runs are still taken over within seconds.
            "PILOTO_LEASE_S": "10", "PILOTO_HEARTBEAT_S": "1", "PILOTO_RUNNER_CONCURRENCY": "8",
        }  # fmt: skip
        a = start(
            [sys.executable, "-m", "piloto.cli", "serve", "--port", str(a_port)],
            {**env, "PILOTO_DATA_DIR": str(tmp_path / "a")},
            tmp_path / "a.log",
        )
        procs.append(a)
        wait_http(f"http://127.0.0.1:{a_port}/api/health", a)
        b = start(
            [sys.executable, "-m", "piloto.cli", "serve", "--port", str(b_port)],
            {**env, "PILOTO_DATA_DIR": str(tmp_path / "b")},
            tmp_path / "b.log",
        )
        procs.append(b)
        wait_http(f"http://127.0.0.1:{b_port}/api/health", b)
        asyncio.run(_scenario(a_port, b_port, svc_port, b, tmp_path))
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


async def _scenario(
    a_port: int, b_port: int, svc_port: int, b: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    a_url, b_url = f"http://127.0.0.1:{a_port}", f"http://127.0.0.1:{b_port}"
    limits = httpx.Limits(max_connections=20)
    async with (
        httpx.AsyncClient(base_url=a_url, headers=AUTH, timeout=60, limits=limits) as ca,
        httpx.AsyncClient(base_url=b_url, headers=AUTH, timeout=60, limits=limits) as cb,
    ):
        svc = (
            await ca.post(
                "/api/services",
                json={
                    "name": "count",
                    "kind": "openapi",
                    "base_url": f"http://127.0.0.1:{svc_port}",
                    "honours_idempotency": True,
                },
            )
        ).json()
        assert svc["status"] == "online", svc
        pid = (await ca.post("/api/projects", json={"name": "scale"})).json()["id"]
        sem = asyncio.Semaphore(16)

        async def make_run(i: int) -> tuple[str, str]:
            async with sem:
                client = ca if i % 2 else cb
                chat = (
                    await client.post("/api/chats", json={"project_id": pid, "title": f"c{i}"})
                ).json()["id"]
                draft = (
                    await client.post(
                        "/api/send", json={"chat_id": chat, "text": '/call count do_work {"n": 0}'}
                    )
                ).json()["run"]
                steps = [
                    {
                        "service": "count",
                        "operation": "do_work",
                        "arguments": {"n": k, "delay_s": 0.02},
                    }
                    for k in range(STEPS)
                ]
                run = (
                    await client.post(f"/api/runs/{draft['id']}/edit", json={"steps": steps})
                ).json()
                return chat, run["id"] + "|" + run["plan_hash"]

        made = await asyncio.gather(*(make_run(i) for i in range(RUNS)))
        # Watch one chat live on A while B may execute it: events cross instances.
        watch_chat, watch_run = made[0][0], made[0][1].split("|")[0]
        seen_done = asyncio.Event()

        async def watch() -> None:
            async with ca.stream("GET", f"/api/chats/{watch_chat}/events") as resp:
                async for line in resp.aiter_lines():
                    if (
                        line.startswith("data:")
                        and '"status":"done"' in line.replace(" ", "")
                        and watch_run in line
                    ):
                        seen_done.set()
                        return

        watcher = asyncio.create_task(watch())

        async def confirm(i: int, ident: str) -> None:
            run_id, plan_hash = ident.split("|")
            async with sem:
                resp = await (cb if i % 2 else ca).post(
                    f"/api/runs/{run_id}/confirm", json={"plan_hash": plan_hash}
                )
                assert resp.status_code == 200, resp.text

        await asyncio.gather(*(confirm(i, ident) for i, (_, ident) in enumerate(made)))
        # Kill B in the middle of the work.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            stats = (await ca.get(f"http://127.0.0.1:{svc_port}/stats")).json()
            if len(stats["executions"]) >= RUNS * STEPS // 3:
                break
            await asyncio.sleep(0.1)
        b.send_signal(signal.SIGKILL)
        b.wait(timeout=10)
        run_ids = [ident.split("|")[0] for _, ident in made]
        deadline = time.monotonic() + 240
        statuses: dict[str, str] = {}
        while time.monotonic() < deadline:
            statuses = {}
            for rid in run_ids:
                statuses[rid] = (await ca.get(f"/api/runs/{rid}")).json()["status"]
            if all(s in ("done", "error", "cancelled", "interrupted") for s in statuses.values()):
                break
            await asyncio.sleep(1)
        counts: dict[str, int] = {}
        for s in statuses.values():
            counts[s] = counts.get(s, 0) + 1
        assert counts == {"done": RUNS}, (counts, (tmp_path / "a.log").read_text()[-3000:])
        stats = (await ca.get(f"http://127.0.0.1:{svc_port}/stats")).json()
        assert len(stats["executions"]) == RUNS * STEPS
        assert set(stats["executions"].values()) == {1}, "a step was executed twice"
        await asyncio.wait_for(seen_done.wait(), timeout=30)
        watcher.cancel()
        metrics = (await ca.get("/metrics")).text
        takeovers = [
            line for line in metrics.splitlines() if line.startswith("piloto_lease_takeovers_total")
        ]
        assert takeovers, metrics[:500]
        audit = (await ca.get("/api/audit/verify")).json()
        assert audit["ok"], audit
        print(
            json.dumps(
                {
                    "deliveries": sum(stats["deliveries"].values()),
                    "executions": len(stats["executions"]),
                    "takeovers": takeovers,
                }
            )
        )
