"""Recovery of many stale runs at once (``recovery_batch``): each run decided as if alone,
nothing sent, a broken run or a race with another instance confined to that one run."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from runner_support import CountingState, confirm, new_chat, open_app, propose, propose_steps
from sqlalchemy import func, select, update
from test_runner_recovery import crash_in_step
from tests.support.waits import eventually

from piloto.audit.log import verify_chain
from piloto.runner.recovery import recover_stale_runs, stale_runs
from piloto.runner.recovery_batch import take_over_batch
from piloto.settings import Settings
from piloto.store.db import Database
from piloto.store.ids import now
from piloto.store.schema import (
    audit_log,
    events,
    messages,
    notification_deliveries,
    notifications,
    runs,
    steps,
)

ME = "recoverer:1:00"


@pytest.fixture
async def quiet(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app WITHOUT its runner: recovery is called by the test, once. A webhook nobody
    listens on keeps each notification's row (with no destination it is dropped once fanned
    out); its retry is an hour away, so the notifier is idle once each first try is recorded."""
    update = {
        "runner": False, "notify_urls": ["http://127.0.0.1:9/hook"], "notify_retry_base_s": 3600.0,
    }  # fmt: skip
    async with open_app(settings.model_copy(update=update)) as c:
        yield c
        # Not while the notifier records a try: closing the app would cancel its write.
        await eventually(lambda: _notifier_idle(_app(c).state.db), "the notifier's first tries")


async def _notifier_idle(db: Database) -> bool:
    async with db.read() as conn:
        unexpanded = await conn.scalar(
            select(func.count()).where(notifications.c.expanded.is_(False))
        )
        untried = await conn.scalar(
            select(func.count()).where(notification_deliveries.c.attempts == 0)
        )
    return unexpanded == 0 and untried == 0


def _app(client: httpx.AsyncClient) -> Any:
    return client.app  # type: ignore[attr-defined]


async def _stale_order(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    """A run whose POST (not idempotent) was in flight when its instance died."""
    _, chat_id = await new_chat(client)
    run = await propose(client, chat_id, '/call shop createOrder {"item": "pen"}')
    await confirm(client, run)
    await crash_in_step(_app(client).state.db, run["id"], 0)
    return run


async def _count(db: Database, table: Any, **where: Any) -> int:
    async with db.read() as conn:
        q = select(func.count()).select_from(table)
        for name, value in where.items():
            q = q.where(table.c[name] == value)
        return int((await conn.execute(q)).scalar_one())


async def _run_row(db: Database, run_id: str) -> Any:
    async with db.read() as conn:
        return (await conn.execute(select(runs).where(runs.c.id == run_id))).one()


async def test_a_crowd_of_stale_runs_is_recovered_each_as_if_alone(
    quiet: httpx.AsyncClient, counting: tuple[str, CountingState]
) -> None:
    url, state = counting
    app = _app(quiet)
    db: Database = app.state.db
    await quiet.post("/api/services", json={"name": "shop", "kind": "openapi", "base_url": url})
    orders = [await _stale_order(quiet, url) for _ in range(5)]
    _, get_chat = await new_chat(quiet)
    get = await propose(quiet, get_chat, '/call shop getItem {"item_id": "5"}')
    await confirm(quiet, get)
    await crash_in_step(db, get["id"], 0)
    _, between_chat = await new_chat(quiet)
    between = await propose_steps(
        quiet, between_chat,
        [
            {"service": "shop", "operation": "getItem", "arguments": {"item_id": "1"}},
            {"service": "shop", "operation": "createOrder", "arguments": {"item": "pen"}},
        ],
    )  # fmt: skip
    await confirm(quiet, between)
    await crash_in_step(db, between["id"], 1)  # step 0 done, step 1 in flight
    async with db.write() as conn:  # ... and then its end committed: nothing in flight
        await conn.execute(
            update(steps)
            .where(steps.c.run_id == between["id"], steps.c.idx == 1)
            .values(status="pending", attempts=0, started_at=None)
        )
    _, cancel_chat = await new_chat(quiet)
    cancelling = await propose(quiet, cancel_chat, '/call shop createOrder {"item": "ink"}')
    await confirm(quiet, cancelling)
    await crash_in_step(db, cancelling["id"], 0, status="cancelling")

    resumed = await recover_stale_runs(db, app.state.registry, owner=ME, lease_s=600)

    assert sorted(resumed) == sorted([get["id"], between["id"]])
    assert state.snapshot()["requests"] == []  # recovery decides; it never sends
    for run in orders:
        row = await _run_row(db, run["id"])
        assert (row.status, row.lease_owner) == ("interrupted", None)
        assert await _count(db, steps, run_id=run["id"], status="interrupted") == 1
        # Exactly one of each record, as one take-over writes them.
        assert await _count(db, notifications, run_id=run["id"], event="run.interrupted") == 1
        assert await _count(db, audit_log, run_id=run["id"], action="run.interrupted") == 1
        async with db.read() as conn:
            metas = [
                json.loads(m)
                for m in (
                    await conn.execute(
                        select(messages.c.meta_json).where(messages.c.run_id == run["id"])
                    )
                ).scalars()
                if m
            ]
            deltas = [
                json.loads(d)
                for d in (
                    await conn.execute(
                        select(events.c.data_json).where(
                            events.c.type == "run_delta", events.c.data_json.contains(run["id"])
                        )
                    )
                ).scalars()
            ]
        assert [m["kind"] for m in metas if m.get("kind") == "interrupted"] == ["interrupted"]
        last = deltas[-1]
        assert last["status"] == "interrupted" and last["step"]["status"] == "interrupted"
        assert (last["done"], last["total"]) == (0, 1)
    for run in (get, between):
        row = await _run_row(db, run["id"])
        assert (row.status, row.lease_owner) == ("running", ME)
    assert await _count(db, audit_log, run_id=get["id"], action="run.takeover") == 1
    assert (await _run_row(db, cancelling["id"])).status == "cancelled"
    async with db.read() as conn:
        assert (await verify_chain(conn)).ok
        resumed_lines = (
            await conn.execute(
                select(func.count())
                .select_from(messages)
                .where(messages.c.run_id == get["id"], messages.c.meta_json.contains("resumed"))
            )
        ).scalar_one()
    assert resumed_lines == 1

    # A second pass finds nothing stale: no run is taken over twice.
    audits = await _count(db, audit_log)
    assert await recover_stale_runs(db, app.state.registry, owner="late:2:00", lease_s=600) == []
    assert await _count(db, audit_log) == audits


async def test_a_broken_run_does_not_keep_the_others_from_recovery(
    quiet: httpx.AsyncClient, counting: tuple[str, CountingState]
) -> None:
    url, _ = counting
    db: Database = _app(quiet).state.db
    await quiet.post("/api/services", json={"name": "shop", "kind": "openapi", "base_url": url})
    good, broken = await _stale_order(quiet, url), await _stale_order(quiet, url)
    async with db.write() as conn:  # a row no reader can parse: the batch's read fails
        await conn.execute(
            update(steps).where(steps.c.run_id == broken["id"]).values(arguments_json="{not json")
        )
    await recover_stale_runs(db, _app(quiet).state.registry, owner=ME, lease_s=600)
    assert (await _run_row(db, good["id"])).status == "interrupted"
    row = await _run_row(db, broken["id"])
    assert (row.status, row.lease_owner) == ("running", "dead-host:1:00")  # untouched, logged


async def test_a_run_another_instance_took_meanwhile_is_left_to_it(
    quiet: httpx.AsyncClient, counting: tuple[str, CountingState]
) -> None:
    url, _ = counting
    app = _app(quiet)
    db: Database = app.state.db
    await quiet.post("/api/services", json={"name": "shop", "kind": "openapi", "base_url": url})
    mine, theirs = await _stale_order(quiet, url), await _stale_order(quiet, url)
    rows = await stale_runs(db, take_all=False)
    async with db.write() as conn:  # between our read and our claim, another instance wins
        await conn.execute(
            update(runs)
            .where(runs.c.id == theirs["id"])
            .values(lease_owner="other:2:00", lease_expires_at=now() + 600)
        )
    outcomes, slow = await take_over_batch(
        db, app.state.registry, rows, owner=ME, lease_s=600, language="en"
    )
    assert outcomes == {mine["id"]: "interrupted", theirs["id"]: "lost"} and not slow
    row = await _run_row(db, theirs["id"])
    assert (row.status, row.lease_owner) == ("running", "other:2:00")
    assert await _count(db, audit_log, run_id=theirs["id"], action="run.interrupted") == 0
    assert await _count(db, notifications, run_id=theirs["id"], event="run.interrupted") == 0
