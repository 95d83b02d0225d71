"""A reader following a chat with ``after`` sees every event exactly once, in order, while two
engines (as two instances would) write to the chat at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from tests.support.waits import eventually

from piloto.projects import repo as projects
from piloto.store import migrate
from piloto.store.db import Database
from piloto.store.eventlog import Event, append_event, last_event_id, read_events
from piloto.threads import repo as chats

WRITES = 150  # per writer: 300 events, the size of the run that lost 15 of 311


@pytest.fixture
async def two_engines(database_url: str) -> AsyncIterator[tuple[Database, Database]]:
    await asyncio.to_thread(migrate.upgrade, database_url)
    # Building an engine touches the disk (the SQLite path): off the loop, as startup does.
    a = await asyncio.to_thread(Database, database_url)
    b = await asyncio.to_thread(Database, database_url)
    try:
        yield a, b
    finally:
        await a.dispose()
        await b.dispose()


async def _chat(db: Database) -> str:
    async with db.write() as conn:
        project = await projects.create_project(conn, name="events")
        return (await chats.create_chat(conn, project_id=project.id, title="followed")).id


async def _follow(db: Database, chat_id: str, seen: list[Event], stop: asyncio.Event) -> None:
    """What the SSE route does: read after the last seq seen, again and again."""
    after = 0
    while True:
        done = stop.is_set()
        async with db.read() as conn:
            batch = await read_events(conn, chat_id=chat_id, after=after)
        seen.extend(batch)
        after = batch[-1].id if batch else after
        if done and not batch:
            return
        await asyncio.sleep(0)


async def test_a_slow_commit_is_not_skipped(two_engines: tuple[Database, Database]) -> None:
    """Writer A appends first and commits last; the reader read B's event in between."""
    a, b = two_engines
    chat_id = await _chat(a)
    appended, release = asyncio.Event(), asyncio.Event()

    async def slow() -> None:
        async with a.write() as conn:
            await append_event(conn, chat_id=chat_id, type="t", data={"w": "slow"})
            appended.set()
            await release.wait()

    task = asyncio.create_task(slow())
    await appended.wait()
    if a.dialect == "postgresql":
        # On SQLite the slow writer holds the only write lock: B could not commit meanwhile.
        async with b.write() as conn:
            await append_event(conn, chat_id=chat_id, type="t", data={"w": "fast"})
        async with b.read() as conn:
            first = await read_events(conn, chat_id=chat_id, after=0)
        assert [e.data["w"] for e in first] == ["fast"]
        after = first[-1].id
    else:
        after = 0
    release.set()
    await task
    async with b.read() as conn:
        rest = await read_events(conn, chat_id=chat_id, after=after)
        last = await last_event_id(conn, chat_id=chat_id)
    assert [e.data["w"] for e in rest] == ["slow"], "the slower transaction's event was skipped"
    assert last == rest[-1].id


async def test_two_writers_and_a_follower(two_engines: tuple[Database, Database]) -> None:
    a, b = two_engines
    chat_id = await _chat(a)
    seen: list[Event] = []
    stop = asyncio.Event()
    follower = asyncio.create_task(_follow(b, chat_id, seen, stop))

    async def writer(db: Database, name: str) -> None:
        for i in range(WRITES):
            async with db.write() as conn:
                if i % 3 == 0:
                    # A message: its event and the chat_state row in one transaction.
                    await chats.append_message(
                        conn, chat_id=chat_id, role="user", content=f"{name}{i}"
                    )
                else:
                    await append_event(conn, chat_id=chat_id, type="t", data={"w": name, "i": i})
                    await append_event(conn, chat_id=chat_id, type="t", data={"w": name, "i": -i})
                if db.dialect == "postgresql":
                    # Widen the window between taking an id and committing, as a busy
                    # instance does; the reader must still never move past a late commit.
                    await conn.execute(text("SELECT pg_sleep(0.001)"))

    await asyncio.gather(writer(a, "a"), writer(b, "b"))
    async with a.read() as conn:
        total = len(await read_events(conn, chat_id=chat_id, after=0, limit=10_000))
    await eventually(lambda: len(seen) >= total, f"the follower to see {total} events")
    stop.set()
    await follower
    seqs = [e.id for e in seen]
    assert seqs == sorted(set(seqs)), "an event arrived twice or out of order"
    expected = sum(1 if i % 3 == 0 else 2 for i in range(WRITES)) * 2
    assert len(seen) == total == expected
    for name in ("a", "b"):
        # Each writer's transactions are sequential: the follower sees them in that order.
        mine = [
            e.data["i"] if e.type == "t" else int(e.data["content"][1:])
            for e in seen
            if e.data.get("w") == name or str(e.data.get("content", "")).startswith(name)
        ]
        assert [abs(i) for i in mine] == sorted(abs(i) for i in mine)
