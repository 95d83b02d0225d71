"""Recovery: runs left ``running`` by a dead instance are taken over, resent only when safe."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from runner_support import (
    CountingState,
    chat_state,
    confirm,
    messages,
    new_chat,
    ok,
    open_app,
    propose,
    propose_steps,
    register,
    wait_run,
)
from sqlalchemy import select, update

from piloto.audit.log import verify_chain
from piloto.metrics import LEASE_TAKEOVERS
from piloto.runner.lock import RunnerLockError
from piloto.runner.runner import Runner
from piloto.settings import Settings
from piloto.store.db import Database
from piloto.store.ids import now
from piloto.store.schema import audit_log, runs, steps


@pytest.fixture
async def quiet(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app WITHOUT its runner: runs stay where the test puts them."""
    async with open_app(settings.model_copy(update={"runner": False})) as c:
        yield c


def _db(client: httpx.AsyncClient) -> Database:
    return client.app.state.db  # type: ignore[attr-defined, no-any-return]


async def crash_in_step(db: Database, run_id: str, idx: int, *, status: str = "running") -> None:
    """What a dead instance leaves behind: the run working under its expired lease, step ``idx`` in flight."""
    async with db.write() as conn:
        await conn.execute(
            update(runs)
            .where(runs.c.id == run_id)
            .values(
                status=status,
                lease_owner="dead-host:1:00",
                lease_expires_at=now() - 60,
                started_at=now() - 61,
            )
        )
        rows = (
            await conn.execute(select(steps.c.id, steps.c.idx).where(steps.c.run_id == run_id))
        ).all()
        for row in rows:
            if row.idx < idx:
                await conn.execute(
                    update(steps)
                    .where(steps.c.id == row.id)
                    .values(
                        status="done",
                        attempts=1,
                        response_json='{"status_code": 200, "body": {"id": "earlier"}}',
                    )
                )
            elif row.idx == idx:
                await conn.execute(
                    update(steps)
                    .where(steps.c.id == row.id)
                    .values(status="running", attempts=1, started_at=now() - 61)
                )


async def start_runner(client: httpx.AsyncClient, settings: Settings) -> Runner:
    app = client.app  # type: ignore[attr-defined]
    runner = Runner(db=app.state.db, registry=app.state.registry, settings=settings, model=None)
    await runner.start()
    return runner


async def test_non_idempotent_step_in_flight_becomes_interrupted(
    quiet: httpx.AsyncClient, settings: Settings, counting: tuple[str, CountingState]
) -> None:
    url, state = counting
    _, chat_id = await new_chat(quiet)
    await register(quiet, "shop", url)
    run = await propose(quiet, chat_id, '/call shop createOrder {"item": "pen"}')
    await confirm(quiet, run)
    await crash_in_step(_db(quiet), run["id"], 0)
    before = LEASE_TAKEOVERS._value.get()
    runner = await start_runner(quiet, settings)
    try:
        final = await wait_run(quiet, run["id"])
        assert final["status"] == "interrupted"
        assert final["steps"][0]["status"] == "interrupted"
        assert "unknown" in final["steps"][0]["error"]
        assert state.snapshot()["requests"] == []  # nothing was re-sent
        assert LEASE_TAKEOVERS._value.get() == before + 1
        msgs = await messages(quiet, chat_id)
        note = next(m for m in msgs if (m.get("meta") or {}).get("kind") == "interrupted")
        assert "retry the step, skip it, or abort" in note["content"]
        # The run stays the chat's active run until a person decides.
        assert (await chat_state(quiet, chat_id))["active_run_id"] == run["id"]
        async with _db(quiet).read() as conn:
            actions = list(
                (
                    await conn.execute(
                        select(audit_log.c.action).where(audit_log.c.run_id == run["id"])
                    )
                ).scalars()
            )
            assert "run.interrupted" in actions
            assert (await verify_chain(conn)).ok
    finally:
        await runner.stop()


async def test_idempotent_get_in_flight_is_resent_and_finishes(
    quiet: httpx.AsyncClient, settings: Settings, counting: tuple[str, CountingState]
) -> None:
    url, state = counting
    _, chat_id = await new_chat(quiet)
    await register(quiet, "shop", url)
    run = await propose_steps(
        quiet, chat_id,
        [
            {"service": "shop", "operation": "createOrder", "arguments": {"item": "pen"}},
            {"service": "shop", "operation": "getItem", "arguments": {"item_id": "5"}},
            {"service": "shop", "operation": "getItem", "arguments": {"item_id": "{{steps.0.body.id}}"}},
        ],
    )  # fmt: skip
    await confirm(quiet, run)
    await crash_in_step(_db(quiet), run["id"], 1)
    runner = await start_runner(quiet, settings)
    try:
        final = await wait_run(quiet, run["id"])
        assert final["status"] == "done", final
        assert [s["status"] for s in final["steps"]] == ["done", "done", "done"]
        assert final["steps"][1]["attempts"] == 2
        # The finished POST was not sent again; the GET went out once, under its stable key.
        assert state.snapshot()["by_path"] == {"GET /items/5": 1, "GET /items/earlier": 1}
        assert state.snapshot()["by_key"][final["steps"][1]["idempotency_key"]] == 1
        msgs = await messages(quiet, chat_id)
        assert any((m.get("meta") or {}).get("kind") == "resumed" for m in msgs)
        assert (await chat_state(quiet, chat_id))["last_run_status"] == "done"
    finally:
        await runner.stop()


async def test_service_that_honours_idempotency_is_resent(
    quiet: httpx.AsyncClient, settings: Settings, counting: tuple[str, CountingState]
) -> None:
    url, state = counting
    _, chat_id = await new_chat(quiet)
    await register(quiet, "shop", url, honours_idempotency=True)
    run = await propose(quiet, chat_id, '/call shop createOrder {"item": "pen"}')
    await confirm(quiet, run)
    await crash_in_step(_db(quiet), run["id"], 0)
    runner = await start_runner(quiet, settings)
    try:
        final = await wait_run(quiet, run["id"])
        assert final["status"] == "done"
        assert state.snapshot()["by_key"] == {final["steps"][0]["idempotency_key"]: 1}
    finally:
        await runner.stop()


async def test_stale_cancelling_run_ends_cancelled(
    quiet: httpx.AsyncClient, settings: Settings, counting: tuple[str, CountingState]
) -> None:
    url, state = counting
    _, chat_id = await new_chat(quiet)
    await register(quiet, "shop", url)
    run = await propose(quiet, chat_id, '/call shop createOrder {"item": "pen"}')
    await confirm(quiet, run)
    await crash_in_step(_db(quiet), run["id"], 0, status="cancelling")
    runner = await start_runner(quiet, settings)
    try:
        final = await wait_run(quiet, run["id"])
        assert final["status"] == "cancelled"
        assert final["steps"][0]["status"] == "error"
        assert state.snapshot()["requests"] == []
        assert (await chat_state(quiet, chat_id))["active_run_id"] is None
    finally:
        await runner.stop()


@pytest.mark.parametrize("decision", ["retry", "skip", "abort"])
async def test_decision_on_an_interrupted_run(
    decision: str, quiet: httpx.AsyncClient, settings: Settings, counting: tuple[str, CountingState]
) -> None:
    url, state = counting
    _, chat_id = await new_chat(quiet)
    await register(quiet, "shop", url)
    run = await propose_steps(
        quiet, chat_id,
        [
            {"service": "shop", "operation": "createOrder", "arguments": {"item": "pen"}},
            {"service": "shop", "operation": "getItem", "arguments": {"item_id": "9"}},
        ],
    )  # fmt: skip
    await confirm(quiet, run)
    await crash_in_step(_db(quiet), run["id"], 0)
    runner = await start_runner(quiet, settings)
    try:
        assert (await wait_run(quiet, run["id"]))["status"] == "interrupted"
        ok(await quiet.post(f"/api/runs/{run['id']}/decision", json={"decision": decision}))
        final = await wait_run(quiet, run["id"], frozenset({"done", "error", "cancelled"}))
        seen = state.snapshot()["by_path"]
        if decision == "retry":
            assert final["status"] == "done"
            assert [s["status"] for s in final["steps"]] == ["done", "done"]
            assert final["steps"][0]["attempts"] == 2
            assert seen == {"POST /orders": 1, "GET /items/9": 1}
        elif decision == "skip":
            assert final["status"] == "done"
            assert [s["status"] for s in final["steps"]] == ["skipped", "done"]
            assert seen == {"GET /items/9": 1}
        else:
            assert final["status"] == "cancelled"
            assert seen == {}
        assert (await chat_state(quiet, chat_id))["active_run_id"] is None
    finally:
        await runner.stop()


async def test_a_second_runner_on_the_same_sqlite_file_refuses_to_start(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    if not settings.resolved_database_url.startswith("sqlite"):
        pytest.skip("the runner lock is for SQLite")
    app: Any = client.app  # type: ignore[attr-defined]
    second = Runner(db=app.state.db, registry=app.state.registry, settings=settings, model=None)
    with pytest.raises(RunnerLockError, match="SQLite supports one instance — use PostgreSQL"):
        await second.start()
