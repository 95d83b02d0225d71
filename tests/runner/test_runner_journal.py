"""The runner journal: one delta event per step change, and the event log's pruning."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from runner_support import (
    CountingState,
    confirm,
    messages,
    new_chat,
    ok,
    open_app,
    propose_steps,
    register,
    wait_run,
)
from sqlalchemy import insert
from tests.support.waits import eventually

from piloto.audit.log import verify_chain
from piloto.chat.stream import event_stream
from piloto.runner.prune import prune_events
from piloto.runner.recovery import recover_stale_runs
from piloto.settings import Settings
from piloto.store.eventlog import last_event_id, read_events
from piloto.store.ids import new_id, now
from piloto.store.schema import runs, steps


def gets(n: int) -> list[dict[str, Any]]:
    return [
        {"service": "shop", "operation": "getItem", "arguments": {"item_id": str(i)}}
        for i in range(n)
    ]


async def first_sse_event(client: httpx.AsyncClient, chat_id: str, after: int) -> dict[str, str]:
    """The first event the chat's SSE stream (the route's own generator) sends after ``after``."""
    db = client.app.state.db  # type: ignore[attr-defined]
    stream = event_stream(db, chat_id, after)
    try:
        async with asyncio.timeout(20):
            sent = await anext(stream)
    finally:
        await stream.aclose()
    return {"event": str(sent.event), "id": str(sent.id), "data": str(sent.data)}


async def test_each_step_change_is_one_delta_never_the_whole_run(
    client: httpx.AsyncClient, counting: tuple[str, CountingState]
) -> None:
    url, _ = counting
    _, chat_id = await new_chat(client)
    await register(client, "shop", url)
    run = await propose_steps(client, chat_id, gets(4))
    db = client.app.state.db  # type: ignore[attr-defined]
    async with db.read() as conn:
        before = await last_event_id(conn, chat_id=chat_id)
    await confirm(client, run)
    final = await wait_run(client, run["id"])
    assert final["status"] == "done", final
    async with db.read() as conn:
        evs = await read_events(conn, chat_id=chat_id, after=before)
    deltas = [e.data for e in evs if e.type == "run_delta"]
    # started + ended per step, then the run's end: written once each.
    assert len(deltas) == 4 * 2 + 1
    assert all("steps" not in d for d in deltas)
    ends = [d for d in deltas if d.get("step", {}).get("status") == "done"]
    assert [d["done"] for d in ends] == [1, 2, 3, 4]
    assert all(d["total"] == 4 for d in deltas)
    last = deltas[-1]
    assert last["status"] == "done" and last["finished_at"] == final["finished_at"]
    # Applying the deltas in order to the run as confirmed gives the run the API returns.
    steps = {s["id"]: s for s in run["steps"]}
    for d in deltas:
        if "step" in d:
            steps[d["step"]["id"]] = d["step"]
    assert [steps[s["id"]] for s in final["steps"]] == final["steps"]
    assert max(d["updated_at"] for d in deltas) == final["updated_at"]
    # The step's audit records were written by the journal on the same chain: it verifies.
    async with db.read() as conn:
        assert (await verify_chain(conn)).ok


async def test_pruned_events_leave_a_reset_marker_and_every_message(
    client: httpx.AsyncClient, counting: tuple[str, CountingState]
) -> None:
    url, _ = counting
    _, chat_id = await new_chat(client)
    await register(client, "shop", url)
    run = await propose_steps(client, chat_id, gets(3))
    await confirm(client, run)
    assert (await wait_run(client, run["id"]))["status"] == "done"
    kept = await messages(client, chat_id)
    db = client.app.state.db  # type: ignore[attr-defined]
    async with db.read() as conn:
        top = await last_event_id(conn, chat_id=chat_id)
        assert top > 5
    assert await prune_events(db, older_than_s=3600) == 0  # nothing that old
    assert await prune_events(db, older_than_s=-1) == top - 1
    # A reader resuming from before the horizon is told to reload, at the pruned seq...
    event = await first_sse_event(client, chat_id, after=2)
    assert event["event"] == "reset" and event["id"] == str(top)
    assert json.loads(event["data"]) == {"reason": "pruned"}
    # ...and the chat itself is intact: its messages and the run, by the API.
    assert await messages(client, chat_id) == kept
    assert ok(await client.get(f"/api/runs/{run['id']}"))["status"] == "done"
    # The stream goes on after the horizon: seqs never repeat, and no second reset.
    run2 = await propose_steps(client, chat_id, gets(2))
    async with db.read() as conn:
        fresh = await read_events(conn, chat_id=chat_id, after=top)
    assert fresh and all(e.id > top and e.type != "reset" for e in fresh)
    assert (await first_sse_event(client, chat_id, after=top))["id"] == str(fresh[0].id)
    # Pruning again moves the marker forward; the old one goes.
    await confirm(client, run2)
    assert (await wait_run(client, run2["id"]))["status"] == "done"
    await prune_events(db, older_than_s=-1)
    async with db.read() as conn:
        left = await read_events(conn, chat_id=chat_id, after=0)
    assert [e.type for e in left] == ["reset"] and left[0].id > top


async def test_an_operation_disabled_mid_run_is_not_sent_again(
    client: httpx.AsyncClient, counting: tuple[str, CountingState]
) -> None:
    """The run resolves an operation once; every later step's start re-checks the allowlist."""
    url, state = counting
    _, chat_id = await new_chat(client)
    service = await register(client, "shop", url)
    steps = [
        {"service": "shop", "operation": "getItem", "arguments": {"item_id": "a", "delay": 2}},
        {"service": "shop", "operation": "getItem", "arguments": {"item_id": "b"}},
    ]
    run = await propose_steps(client, chat_id, steps)
    await confirm(client, run)

    async def first_in_flight() -> bool:
        return bool(state.snapshot()["by_path"].get("GET /items/a"))

    await eventually(first_in_flight, "the first step to be in flight")
    ok(
        await client.patch(
            f"/api/services/{service['id']}/operations/getItem", json={"enabled": False}
        )
    )
    final = await wait_run(client, run["id"])
    assert final["status"] == "error", final
    assert [s["status"] for s in final["steps"]] == ["done", "error"]
    assert "disabled" in final["steps"][1]["error"], final["steps"][1]
    assert final["steps"][1]["attempts"] == 0  # never marked running, never sent
    assert "GET /items/b" not in state.snapshot()["by_path"]


async def test_a_takeover_tells_clients_the_step_it_interrupted(
    settings: Settings, counting: tuple[str, CountingState]
) -> None:
    """Recovery's end of a run is a delta too: it carries the step as recovery left it."""
    url, _ = counting
    async with open_app(settings.model_copy(update={"runner": False})) as client:
        project_id, chat_id = await new_chat(client)
        await register(client, "shop", url)
        db, registry = client.app.state.db, client.app.state.registry  # type: ignore[attr-defined]
        t, run_id, step_id = now(), new_id(), new_id()
        async with db.write() as conn:
            await conn.execute(insert(runs).values(
                id=run_id, chat_id=chat_id, project_id=project_id, status="running",
                summary="stale", plan_json="{}", plan_hash="0" * 64, proposed_by="test",
                approved_by_policy=False, lease_owner="dead:1:00", lease_expires_at=t - 60,
                created_at=t, updated_at=t, started_at=t,
            ))  # fmt: skip
            await conn.execute(insert(steps).values(
                id=step_id, run_id=run_id, idx=0, service="shop", operation="createOrder",
                arguments_json='{"item": "pen"}', risk="write", status="running", attempts=1,
                idempotency_key=f"{run_id}:{step_id}",
            ))  # fmt: skip
            before = await last_event_id(conn, chat_id=chat_id)
        assert await recover_stale_runs(db, registry, owner="test:2:00", lease_s=30) == []
        async with db.read() as conn:
            evs = await read_events(conn, chat_id=chat_id, after=before)
        delta = next(e.data for e in evs if e.type == "run_delta")
        assert delta["status"] == "interrupted"
        assert delta["step"]["id"] == step_id and delta["step"]["status"] == "interrupted"
        final = ok(await client.get(f"/api/runs/{run_id}"))
        assert final["steps"][0] == delta["step"]
