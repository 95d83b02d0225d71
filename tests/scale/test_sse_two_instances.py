"""A browser following a chat on instance A while A and B both write to it: every event arrives
once, in order (on PostgreSQL, where transactions commit out of order)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.live import live_server
from tests.support.settings import ADMIN_TOKEN, make_settings
from tests.support.waits import WAIT_S

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SENDS = 120  # concurrent messages, half through each instance


async def _follow(client: httpx.AsyncClient, chat_id: str, want: int) -> list[dict[str, Any]]:
    """The SSE stream's events until ``want`` have arrived (or the bound runs out)."""
    seen: list[dict[str, Any]] = []
    current: dict[str, str] = {}
    async with client.stream("GET", f"/api/chats/{chat_id}/events", headers=AUTH) as resp:
        assert resp.status_code == 200
        async for line in resp.aiter_lines():
            if line:
                key, _, value = line.partition(":")
                current[key] = value.strip()
                continue
            if "data" in current:
                seen.append({"id": int(current["id"]), **json.loads(current["data"])})
                if len(seen) >= want:
                    return seen
            current = {}
    return seen


async def test_every_event_once_in_order(database_url: str, tmp_path: Path) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("several instances share a database only on PostgreSQL")
    common: dict[str, Any] = {"database_url": database_url, "secret_key": "sse-two-instances"}
    a_settings = make_settings(data_dir=tmp_path / "a", **common)
    b_settings = make_settings(data_dir=tmp_path / "b", **common)
    async with (
        live_server(a_settings) as a_url,
        live_server(b_settings) as b_url,
        httpx.AsyncClient(base_url=a_url, headers=AUTH, timeout=WAIT_S) as a,
        httpx.AsyncClient(base_url=b_url, headers=AUTH, timeout=WAIT_S) as b,
    ):
        pid = (await a.post("/api/projects", json={"name": "sse"})).json()["id"]
        chat = (await a.post("/api/chats", json={"project_id": pid, "title": "c"})).json()["id"]
        # Each /help is two messages (the person's and the answer): two events.
        reader = asyncio.create_task(_follow(a, chat, 2 * SENDS))
        sem = asyncio.Semaphore(24)

        async def send(i: int) -> None:
            async with sem:
                resp = await (a if i % 2 else b).post(
                    "/api/send", json={"chat_id": chat, "text": f"/help {i}"}
                )
                assert resp.status_code == 200, resp.text

        await asyncio.gather(*(send(i) for i in range(SENDS)))
        async with asyncio.timeout(WAIT_S):
            seen = await reader
    ids = [e["id"] for e in seen]
    assert len(seen) == 2 * SENDS, f"{len(seen)} of {2 * SENDS} events arrived"
    assert ids == sorted(set(ids)), "an event arrived twice or out of order"
    seqs = [e["seq"] for e in seen]
    assert sorted(seqs) == list(range(1, 2 * SENDS + 1)), "a message's event is missing"
    texts = {e["content"] for e in seen if e["role"] == "user"}
    assert texts == {f"/help {i}" for i in range(SENDS)}
