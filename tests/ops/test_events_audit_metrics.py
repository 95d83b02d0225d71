"""Live events (SSE with resume), the audit trail (API, tamper detection, CLI) and /metrics."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from tests.conftest import ADMIN_TOKEN, make_token
from tests.support.live import live_server
from tests.support.waits import WAIT_S

from piloto.settings import Settings

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def read_events(
    client: httpx.AsyncClient,
    url: str,
    count: int,
    headers: dict[str, str] | None = None,
    first: asyncio.Event | None = None,
) -> list[dict[str, str]]:
    """Read ``count`` SSE events from ``url`` (bounded by a deadline); ``first`` is set when
    the first arrives (the stream is then open and caught up)."""
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}
    async with (
        asyncio.timeout(20),
        client.stream("GET", url, headers={**AUTH, **(headers or {})}) as resp,
    ):
        assert resp.status_code == 200
        async for line in resp.aiter_lines():
            if not line:
                if "data" in current:
                    events.append(current)
                    if first is not None:
                        first.set()
                    if len(events) >= count:
                        return events
                current = {}
                continue
            if line.startswith(":"):
                continue
            key, _, value = line.partition(":")
            current[key] = value.strip()
    return events


async def test_sse_delivers_and_resumes(settings: Settings) -> None:
    async with (
        live_server(settings) as base,
        httpx.AsyncClient(base_url=base, headers=AUTH) as client,
    ):
        pid = (await client.post("/api/projects", json={"name": "P"})).json()["id"]
        cid = (await client.post("/api/chats", json={"project_id": pid, "title": "c"})).json()["id"]
        await client.post("/api/send", json={"chat_id": cid, "text": "/help 0"})
        first = asyncio.Event()
        reader = asyncio.create_task(
            read_events(client, f"/api/chats/{cid}/events", 3, first=first)
        )
        # Once the stored event is replayed, the stream is live: the next ones must arrive live.
        async with asyncio.timeout(WAIT_S):
            await first.wait()
        for i in (1, 2):
            await client.post("/api/send", json={"chat_id": cid, "text": f"/help {i}"})
        events = await reader
        assert [e["event"] for e in events] == ["message"] * 3
        first = json.loads(events[0]["data"])
        assert first["role"] == "user" and first["seq"] == 1
        # Resume after the first event: the next ones arrive, nothing is repeated.
        resumed = await read_events(
            client, f"/api/chats/{cid}/events", 2, {"Last-Event-ID": events[0]["id"]}
        )
        assert [e["id"] for e in resumed] == [events[1]["id"], events[2]["id"]]
        unknown = await client.get("/api/chats/nope/events")
        assert unknown.status_code == 404


async def test_audit_api_and_tamper_detection(
    app_client: httpx.AsyncClient, settings: Settings
) -> None:
    pid = (await app_client.post("/api/projects", json={"name": "P"})).json()["id"]
    for name in ("a", "b", "c"):
        await app_client.post("/api/tokens", json={"name": name, "role": "viewer"})
    db = app_client.app.state.db  # type: ignore[attr-defined]
    from piloto.audit.log import append_audit

    async with db.write() as conn:
        for i in range(5):
            await append_audit(
                conn, actor=f"user{i % 2}", action="test", project_id=pid, request_summary=f"r{i}"
            )
    records = (await app_client.get("/api/audit", params={"actor": "user1"})).json()
    assert [r["request_summary"] for r in records] == ["r3", "r1"]
    ok = (await app_client.get("/api/audit/verify")).json()
    assert ok["ok"] is True and ok["checked"] == 5
    async with db.write() as conn:
        target = (
            await conn.execute(text("SELECT id FROM audit_log ORDER BY id LIMIT 1 OFFSET 2"))
        ).scalar()
        await conn.execute(
            text("UPDATE audit_log SET outcome = 'forged' WHERE id = :id"), {"id": target}
        )
    broken = (await app_client.get("/api/audit/verify")).json()
    assert broken["ok"] is False and broken["broken_at"] == target and "changed" in broken["reason"]
    async with db.write() as conn:
        await conn.execute(
            text("UPDATE audit_log SET outcome = NULL WHERE id = :id"), {"id": target}
        )
        await conn.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": target + 1})
    deleted = (await app_client.get("/api/audit/verify")).json()
    assert deleted["ok"] is False and "deleted" in deleted["reason"]
    env = {
        **os.environ,
        "PILOTO_DATABASE_URL": settings.resolved_database_url,
        "PILOTO_DATA_DIR": str(settings.data_dir),
    }
    cli = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "piloto.cli", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 1 and "broken" in cli.stdout
    export = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "piloto.cli", "audit", "export"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = [json.loads(line) for line in export.stdout.splitlines()]
    assert len(lines) == 4 and all("hash" in rec for rec in lines)
    viewer = (await app_client.post("/api/tokens", json={"name": "v", "role": "viewer"})).json()[
        "token"
    ]
    forbidden = await app_client.get("/api/audit", headers={"Authorization": f"Bearer {viewer}"})
    assert forbidden.status_code == 403


async def test_metrics_scrape(
    app_client: httpx.AsyncClient, anon_client: httpx.AsyncClient
) -> None:
    refused = await anon_client.get("/metrics")
    assert refused.status_code == 401 and "PILOTO_METRICS_TOKEN" in refused.json()["detail"]
    viewer = await make_token(app_client, "viewer")
    as_viewer = await anon_client.get("/metrics", headers={"Authorization": f"Bearer {viewer}"})
    assert as_viewer.status_code == 403
    resp = await app_client.get("/metrics")  # the admin's token
    assert resp.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(resp.text)}
    for name in (
        "piloto_runs",
        "piloto_queue_depth",
        "piloto_step_duration_seconds",
        "piloto_model_latency_seconds",
        "piloto_lease_takeovers",
        "piloto_invocation_errors",
    ):
        assert name in families, sorted(families)
    statuses = {s.labels["status"] for s in families["piloto_runs"].samples}
    assert {"draft", "queued", "running", "done"} <= statuses


@pytest.mark.slow
def test_piloto_serve_subprocess_answers_health(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "PILOTO_DATA_DIR": str(tmp_path),
        "PILOTO_DEMO": "0",
        "PILOTO_ADMIN_TOKEN": ADMIN_TOKEN,
    }
    env.pop("PILOTO_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "piloto.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        body = None
        for _ in range(200):
            try:
                resp = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1)
                body = resp.json()
                break
            except httpx.TransportError:
                if proc.poll() is not None:
                    break
                import time

                time.sleep(0.1)
        assert body == {"status": "ok", "version": "0.1.0", "database": "sqlite"}, (
            proc.stdout.read() if proc.stdout else ""
        )
        assert httpx.get(f"http://127.0.0.1:{port}/api/projects", timeout=5).status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=20)
