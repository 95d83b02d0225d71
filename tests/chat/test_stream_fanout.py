"""Many SSE streams on one chat share reads of its event log, and none of them may lose, repeat
or reorder an event for it: not when they start together, not at different cursors (one far
behind, across the 500-event batches), not when a neighbour leaves in the middle of a read,
and on PostgreSQL not when a second instance writes to the chat."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.live import live_server
from tests.support.settings import ADMIN_TOKEN, make_settings
from tests.support.waits import WAIT_S, eventually

from piloto.chat.stream import SharedEvent, event_stream
from piloto.events.bus import EventBus
from piloto.events.flight import SingleFlight
from piloto.projects import repo as projects
from piloto.settings import Settings
from piloto.store.db import Database
from piloto.threads import repo as threads

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
STREAMS = 50


async def follow(
    client: httpx.AsyncClient,
    chat_id: str,
    *,
    after: int | None,
    until: int,
    header: bool = False,
    opened: asyncio.Semaphore | None = None,
) -> list[int]:
    """The ids of the events one SSE client receives, until the one with id ``until``."""
    ids: list[int] = []
    headers = dict(AUTH)
    params: dict[str, int] = {}
    if after is not None and header:
        headers["Last-Event-ID"] = str(after)
    elif after is not None:
        params["after"] = after
    current: dict[str, str] = {}
    url = f"/api/chats/{chat_id}/events"
    async with client.stream("GET", url, headers=headers, params=params) as resp:
        assert resp.status_code == 200
        if opened is not None:
            opened.release()
        async for line in resp.aiter_lines():
            if line:
                key, _, value = line.partition(":")
                current[key] = value.strip()
                continue
            if "id" in current:
                json.loads(current["data"])  # whole JSON, whatever its size
                ids.append(int(current["id"]))
                if ids[-1] >= until:
                    return ids
            current = {}
    return ids


@asynccontextmanager
async def servers(settings: Settings, tmp_path: Path) -> AsyncIterator[list[httpx.AsyncClient]]:
    """One instance, and on PostgreSQL a second on the same database (events cross by NOTIFY)."""
    postgresql = settings.resolved_database_url.startswith("postgresql")
    async with AsyncExitStack() as stack:
        clients = []
        for name in ("a", "b") if postgresql else ("a",):
            url = await stack.enter_async_context(
                live_server(settings.model_copy(update={"data_dir": tmp_path / name}))
            )
            client = httpx.AsyncClient(
                base_url=url,
                headers=AUTH,
                timeout=WAIT_S,
                limits=httpx.Limits(max_connections=STREAMS + 10),
            )
            clients.append(await stack.enter_async_context(client))
        yield clients


@pytest.fixture
def shared_settings(database_url: str, tmp_path: Path) -> Settings:
    # Both instances must hold the same key (credentials); none is stored by these tests.
    return make_settings(
        data_dir=tmp_path / "a", database_url=database_url, secret_key="fanout-test-key"
    )


async def new_chat(client: httpx.AsyncClient) -> str:
    pid = (await client.post("/api/projects", json={"name": "fanout"})).json()["id"]
    resp = await client.post("/api/chats", json={"project_id": pid, "title": "followed"})
    return str(resp.json()["id"])


async def send(client: httpx.AsyncClient, chat_id: str, text: str) -> None:
    """One turn of direct mode: the person's message and the help answer, two events."""
    resp = await client.post("/api/send", json={"chat_id": chat_id, "text": text})
    assert resp.status_code == 200, resp.text


async def test_fifty_streams_each_get_every_event_once_in_order(
    shared_settings: Settings, tmp_path: Path
) -> None:
    sends = 40
    async with servers(shared_settings, tmp_path) as clients:
        reader = clients[0]
        chat_id = await new_chat(reader)
        opened = asyncio.Semaphore(0)
        streams = [
            asyncio.create_task(follow(reader, chat_id, after=None, until=2 * sends, opened=opened))
            for _ in range(STREAMS)
        ]
        for _ in range(STREAMS):
            async with asyncio.timeout(WAIT_S):
                await opened.acquire()

        async def writer(client: httpx.AsyncClient, turns: range) -> None:
            for i in turns:
                await send(client, chat_id, f"/help {i}")

        # Two writers at once (through each instance on PostgreSQL): commits race each other.
        await asyncio.gather(
            writer(clients[0], range(0, sends, 2)), writer(clients[-1], range(1, sends, 2))
        )
        async with asyncio.timeout(WAIT_S):
            seen = await asyncio.gather(*streams)
    for ids in seen:
        assert ids == list(range(1, 2 * sends + 1)), "an event was lost, repeated or reordered"


async def test_streams_at_different_cursors_each_get_their_own_rest(
    shared_settings: Settings, tmp_path: Path
) -> None:
    backlog = 650  # more than one 500-event batch behind for the earliest streams
    sends = 10
    async with servers(shared_settings, tmp_path) as clients:
        reader = clients[0]
        chat_id = await new_chat(reader)
        # The backlog in one transaction of another engine (no stream waits for it).
        db = await asyncio.to_thread(Database, shared_settings.resolved_database_url)
        try:
            async with db.write() as conn:
                for i in range(backlog):
                    await threads.append_message(
                        conn, chat_id=chat_id, role="system", content=f"old {i}"
                    )
        finally:
            await db.dispose()
        total = backlog + 2 * sends
        cursors = [0, 0, 1, 499, 500, 501, 649, 650, 650, 650] + [
            (i * 37) % (backlog + 1) for i in range(STREAMS - 10)
        ]
        opened = asyncio.Semaphore(0)
        streams = [
            asyncio.create_task(
                follow(reader, chat_id, after=c, until=total, header=i % 2 == 1, opened=opened)
            )
            for i, c in enumerate(cursors)
        ]
        for _ in cursors:
            async with asyncio.timeout(WAIT_S):
                await opened.acquire()
        for i in range(sends):
            await send(clients[i % len(clients)], chat_id, f"/help {i}")
        async with asyncio.timeout(WAIT_S):
            seen = await asyncio.gather(*streams)
    for cursor, ids in zip(cursors, seen, strict=True):
        assert ids == list(range(cursor + 1, total + 1)), f"the stream from {cursor} went wrong"


# -- the shared read itself, on the route's own generator -------------------------------------


async def _chat(db: Database) -> str:
    async with db.write() as conn:
        project = await projects.create_project(conn, name="fanout")
        return (await threads.create_chat(conn, project_id=project.id, title="c")).id


async def _append(db: Database, chat_id: str, n: int) -> None:
    for i in range(n):
        async with db.write() as conn:
            await threads.append_message(conn, chat_id=chat_id, role="system", content=f"m{i}")


async def _take(stream: AsyncIterator[SharedEvent], n: int) -> list[int]:
    return [int((await anext(stream)).id or 0) for _ in range(n)]


async def test_a_stream_that_leaves_mid_read_does_not_break_the_read_for_the_others(
    app_client: httpx.AsyncClient,
) -> None:
    db: Database = app_client.app.state.db  # type: ignore[attr-defined]
    chat_id = await _chat(db)
    await _append(db, chat_id, 3)
    others = db.bus.subscriber_count  # the app's own (the notifier's wake-up)
    streams = [event_stream(db, chat_id, 0) for _ in range(6)]
    # Every stream asks for its first event: the first starts the read, the others join it.
    firsts = [asyncio.ensure_future(anext(s)) for s in streams]
    await asyncio.sleep(0)  # each has run up to its wait on the read, which is still pending
    assert not any(f.done() for f in firsts), "the read finished before it could be shared"
    leaving = firsts[:3]
    for f in leaving:
        f.cancel()
    async with asyncio.timeout(WAIT_S):
        got = await asyncio.gather(*firsts[3:])
    assert [int(ev.id or 0) for ev in got] == [1, 1, 1]
    assert all(f.cancelled() for f in leaving)
    # The streams that stayed go on from there, through new events; the others are gone.
    await _append(db, chat_id, 2)
    async with asyncio.timeout(WAIT_S):
        rest = await asyncio.gather(*(_take(s, 4) for s in streams[3:]))
    assert rest == [[2, 3, 4, 5]] * 3
    for s in streams:
        await s.aclose()
    assert db.bus.subscriber_count == others


async def test_one_read_serves_every_stream_at_the_same_cursor(
    app_client: httpx.AsyncClient,
) -> None:
    """The events the streams send are the very same objects: one read, one encoding."""
    db: Database = app_client.app.state.db  # type: ignore[attr-defined]
    chat_id = await _chat(db)
    streams = [event_stream(db, chat_id, 0) for _ in range(10)]
    waiting = [asyncio.ensure_future(anext(s)) for s in streams]
    await asyncio.sleep(0)
    await _append(db, chat_id, 1)
    async with asyncio.timeout(WAIT_S):
        got = await asyncio.gather(*waiting)
    assert {int(ev.id or 0) for ev in got} == {1}
    assert len({id(ev) for ev in got}) == 1, "the streams each read the log themselves"
    assert got[0].encode() == got[-1].encode()
    for s in streams:
        await s.aclose()


# -- the single-flight rule: never share a read begun before the news a caller woke for --------


async def test_a_caller_never_joins_a_call_older_than_its_news() -> None:
    flights: SingleFlight[str, int] = SingleFlight()
    calls: list[asyncio.Future[int]] = []

    async def read() -> int:
        gate: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        calls.append(gate)
        return await gate

    first = asyncio.ensure_future(flights.call("k", fresh_since=5, now=5, fn=read))
    same = asyncio.ensure_future(flights.call("k", fresh_since=5, now=6, fn=read))
    await eventually(lambda: len(calls) == 1, "the first read to start")
    # News at tick 6: a caller woken by it must not be served what the read at 5 finds.
    newer = asyncio.ensure_future(flights.call("k", fresh_since=6, now=6, fn=read))
    await eventually(lambda: len(calls) == 2, "a second read for the newer caller")
    calls[0].set_result(10)
    assert await first == await same == 10
    assert not newer.done() and flights.in_flight == 1  # the old read's end kept the new one
    calls[1].set_result(11)
    assert await newer == 11
    assert flights.in_flight == 0


async def test_an_error_reaches_every_caller_and_leaves_nothing_behind() -> None:
    flights: SingleFlight[str, int] = SingleFlight()
    gate: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def read() -> int:
        return await gate

    callers = [
        asyncio.ensure_future(flights.call("k", fresh_since=0, now=0, fn=read)) for _ in range(3)
    ]
    await asyncio.sleep(0)
    gate.set_exception(OSError("disk gone"))
    results: list[Any] = await asyncio.gather(*callers, return_exceptions=True)
    assert all(isinstance(r, OSError) for r in results)
    assert flights.in_flight == 0
    gate2: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    gate2.set_result(7)

    async def again() -> int:
        return await gate2

    assert await flights.call("k", fresh_since=0, now=0, fn=again) == 7


def test_news_before_anyone_follows_a_chat_is_not_forgotten() -> None:
    bus = EventBus()
    bus.publish(["x"])  # nobody follows x yet
    assert bus.news("x") == bus.tick == 1  # a chat nobody follows: its news is "now"
    wake = bus.subscribe("x")
    assert bus.news("x") == 1
    bus.publish(["y"])
    assert bus.news("x") == 1 and bus.tick == 2 and not wake.is_set()
    bus.publish(["x"])
    assert bus.news("x") == 3 and wake.is_set()
    bus.unsubscribe("x", wake)
    bus.publish(["y"])
    assert bus.news("x") == bus.tick == 4
