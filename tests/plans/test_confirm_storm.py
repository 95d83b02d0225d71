"""The confirm storm across two instances: each refuses its losers from a snapshot, and the
conditional UPDATE still lets exactly one of 200 confirms win when two processes race."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
from tests.support.instances import app_client as open_app
from tests.support.world import World, make_world

from piloto.settings import Settings


@pytest.fixture
async def second_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """Another instance of the app on the same database (its own engine, writer and gates)."""
    async with open_app(settings) as client:
        yield client


async def test_200_confirms_on_two_instances_queue_the_run_exactly_once(
    app_client: httpx.AsyncClient, second_client: httpx.AsyncClient, shared_toolbox: str
) -> None:
    world: World = await make_world(app_client, shared_toolbox)
    resp = await world.send("/cmd box uname -a")
    run = resp.json()["run"]
    assert run["status"] == "draft", resp.text
    url = f"/api/runs/{run['id']}/confirm"
    right, stale = {"plan_hash": run["plan_hash"]}, {"plan_hash": "0" * 64}

    async def attempt(i: int) -> tuple[int, str]:
        client = app_client if i % 2 else second_client
        r = await client.post(url, json=stale if i % 10 == 0 else right)
        body = r.json()
        return r.status_code, str(body.get("code") or body.get("status"))

    results = await asyncio.gather(*(attempt(i) for i in range(200)))
    counts = Counter(code for code, _ in results)
    assert counts == {200: 1, 409: 199}, counts
    assert {why for code, why in results if code == 409} <= {
        "not_draft", "plan_hash_mismatch", "transition_rejected", "already_approved",
    }  # fmt: skip
    # Every stale hash was refused, whether it arrived before or after the winner.
    assert all(code == 409 for i, (code, _) in enumerate(results) if i % 10 == 0)
    winner = next(r for r in results if r[0] == 200)
    assert winner[1] == "queued"
    assert (await second_client.get(f"/api/runs/{run['id']}")).json()["status"] == "queued"
    confirmed = [m for m in await world.messages() if "Confirmed by" in str(m["content"])]
    assert len(confirmed) == 1
    state = await world.state()
    assert state["active_run_id"] == run["id"] and state["pending_run_id"] is None


async def test_proposals_racing_a_confirm_and_a_cancel_leave_one_draft(
    app_client: httpx.AsyncClient, second_client: httpx.AsyncClient, shared_toolbox: str
) -> None:
    """Twelve proposals from two instances race a confirm of one draft and a cancel of another
    in the same chat: nothing fails (no deadlock between a proposal and a confirm), and the chat
    ends with at most one draft, which is the one its state points at."""
    world: World = await make_world(app_client, shared_toolbox)
    first = (await world.send("/cmd box uname -a")).json()["run"]
    second = (await world.send("/cmd box uname -r")).json()["run"]  # supersedes the first
    world_b = World(second_client, world.project_id, world.chat_id, world.service_id)

    async def propose(i: int) -> int:
        return (await (world if i % 2 else world_b).send(f"/cmd box echo {i}")).status_code

    async def confirm() -> int:
        url = f"/api/runs/{second['id']}/confirm"
        return (await second_client.post(url, json={"plan_hash": second["plan_hash"]})).status_code

    async def cancel() -> int:
        return (await app_client.post(f"/api/runs/{first['id']}/cancel")).status_code

    codes = await asyncio.gather(*(propose(i) for i in range(12)), confirm(), cancel())
    assert all(code in (200, 409) for code in codes), codes
    assert all(code == 200 for code in codes[:12]), codes
    runs = (await app_client.get(f"/api/chats/{world.chat_id}/runs")).json()
    drafts = [r["id"] for r in runs if r["status"] == "draft"]
    assert len(drafts) <= 1, drafts
    assert (await world.state())["pending_run_id"] in (drafts[0] if drafts else None, None)
