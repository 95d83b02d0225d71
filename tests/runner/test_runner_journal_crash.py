"""kill -9 at arbitrary points of a long run: every step's journal entry is whole or absent."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from runner_support import ADMIN_TOKEN, FINAL, confirm, free_port, new_chat, ok, register
from sqlalchemy import create_engine, text
from test_runner_crash import _spawn, _stop, _wait_http, tools  # noqa: F401 (fixture)

from piloto.settings import sync_url

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
STEPS = 40


def journal(database_url: str, run_id: str, chat_id: str) -> dict[str, Any]:
    """What the database holds about the run, read directly (no API in between)."""
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as conn:
            steps = conn.execute(
                text("SELECT id, idx, status FROM steps WHERE run_id = :r ORDER BY idx"),
                {"r": run_id},
            ).all()
            msgs = conn.execute(
                text("SELECT seq, meta_json FROM messages WHERE chat_id = :c ORDER BY seq"),
                {"c": chat_id},
            ).all()
            audits = conn.execute(
                text("SELECT step_id FROM audit_log WHERE action = 'step' AND run_id = :r"),
                {"r": run_id},
            ).all()
            deltas = conn.execute(
                text("SELECT data_json FROM events WHERE chat_id = :c AND type = 'run_delta'"),
                {"c": chat_id},
            ).all()
    finally:
        engine.dispose()
    ended = Counter()
    for (data,) in deltas:
        step = json.loads(data).get("step") or {}
        if step.get("status") == "done" and step.get("finished_at"):
            ended[step["id"]] += 1
    step_lines = Counter(
        json.loads(m.meta_json)["step"]
        for m in msgs
        if m.meta_json and json.loads(m.meta_json).get("kind") == "step"
    )
    return {
        "steps": [(s.id, s.idx, s.status) for s in steps],
        "seqs": [m.seq for m in msgs],
        "lines": step_lines,
        "audits": Counter(a.step_id for a in audits),
        "ended": ended,
    }


def assert_whole(j: dict[str, Any]) -> None:
    """A finished step has exactly one chat line, audit record and end event; others none."""
    assert j["seqs"] == list(range(1, len(j["seqs"]) + 1)), "message seqs have a gap or repeat"
    for step_id, idx, status in j["steps"]:
        expected = 1 if status == "done" else 0
        assert j["lines"][idx] == expected, (idx, status, j["lines"][idx])
        assert j["audits"][step_id] == expected, (idx, status, j["audits"][step_id])
        assert j["ended"][step_id] == expected, (idx, status, j["ended"][step_id])


async def test_kill_9_between_journal_writes_leaves_no_half_step(
    tmp_path: Path,
    database_url: str,
    tools: dict[str, str],  # noqa: F811
) -> None:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PILOTO_")},
        "PILOTO_DATA_DIR": str(tmp_path / "data"), "PILOTO_DATABASE_URL": database_url,
        "PILOTO_ADMIN_TOKEN": ADMIN_TOKEN, "PILOTO_DEMO": "0", "PILOTO_LEASE_S": "2",
        "PILOTO_HEARTBEAT_S": "0.5", "PILOTO_RETRY_BASE_S": "0.01",
    }  # fmt: skip
    serve = [str(BIN / "piloto"), "serve", "--port", str(port)]
    log = tmp_path / "server.log"
    server = _spawn(serve, env=env, log=log)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{base}/api/health", server, log)
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
        ) as api:
            _, chat_id = await new_chat(api, settings={"max_steps": STEPS})
            await register(api, "shop", tools["counting"])
            first = ok(
                await api.post(
                    "/api/send",
                    json={"chat_id": chat_id, "text": '/call shop getItem {"item_id": "0"}'},
                )
            )["run"]
            steps = [
                {"service": "shop", "operation": "getItem", "arguments": {"item_id": str(i)}}
                for i in range(STEPS)
            ]
            run = ok(await api.post(f"/api/runs/{first['id']}/edit", json={"steps": steps}), 201)
            await confirm(api, run)
            # Killed three times while steps are being written, wherever the runner is then.
            for progress in (3, 12, 24):
                await until_done_steps(api, run["id"], progress)
                os.killpg(server.pid, signal.SIGKILL)
                await asyncio.to_thread(server.wait, 10)
                assert_whole(await asyncio.to_thread(journal, database_url, run["id"], chat_id))
                server = _spawn(serve, env=env, log=log)
                _wait_http(f"{base}/api/health", server, log)
            final = await until_final(api, run["id"])
            assert final["status"] == "done", final
            j = await asyncio.to_thread(journal, database_url, run["id"], chat_id)
            assert_whole(j)
            assert [s[2] for s in j["steps"]] == ["done"] * STEPS
            assert (await api.get("/api/audit/verify")).json()["ok"] is True
    finally:
        _stop(server)


async def until_done_steps(api: httpx.AsyncClient, run_id: str, n: int) -> None:
    for _ in range(2000):
        run = ok(await api.get(f"/api/runs/{run_id}"))
        if sum(s["status"] == "done" for s in run["steps"]) >= n or run["status"] in FINAL:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"run {run_id} did not reach {n} done steps")


async def until_final(api: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    for _ in range(1200):
        run = ok(await api.get(f"/api/runs/{run_id}"))
        if run["status"] in FINAL:
            return dict(run)
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish")
