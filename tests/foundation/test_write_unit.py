"""Units of work (``Database.write_unit``): one transaction, all or nothing, in order with
``write()``, events numbered and announced only after commit, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.engine import Connection
from tests.support.store import counts, migrated_db, new_chat

from piloto.errors import NotFound
from piloto.store.db import Database, after_commit
from piloto.store.eventlog import last_event_id, read_events
from piloto.threads import repo as threads


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    async with migrated_db(database_url) as database:
        yield database


async def _chat(db: Database) -> str:
    return await new_chat(db, "units")


async def test_a_unit_that_fails_leaves_nothing_and_announces_nothing(db: Database) -> None:
    chat_id = await _chat(db)
    hooks: list[str] = []
    woken = db.bus.subscribe(chat_id)

    def unit(conn: Connection) -> None:
        for i in range(10):
            threads.append_message_sync(conn, chat_id=chat_id, role="user", content=f"m{i}")
        after_commit(conn, lambda: hooks.append("committed"))
        raise RuntimeError("crash after ten writes")

    with pytest.raises(RuntimeError):
        await db.write_unit(unit)
    assert await counts(db, chat_id) == (0, 0)
    assert hooks == [] and not woken.is_set()
    # The writer is still usable, and numbering continues without a hole or a repeat.
    msg = await db.write_unit(
        lambda c: threads.append_message_sync(c, chat_id=chat_id, role="user", content="ok")
    )
    assert msg.seq == 1 and woken.is_set()
    async with db.read() as conn:
        assert [e.id for e in await read_events(conn, chat_id=chat_id, after=0)] == [1]


async def test_a_missing_chat_is_refused_inside_a_unit(db: Database) -> None:
    with pytest.raises(NotFound):
        await db.write_unit(
            lambda c: threads.append_message_sync(c, chat_id="nope", role="user", content="x")
        )


async def test_units_and_writes_interleave_without_gaps_or_repeats(db: Database) -> None:
    """Units on the writer thread and ``write()`` on the async engine, all at once."""
    chat_id = await _chat(db)
    hooks: list[int] = []

    async def by_unit(k: int) -> None:
        def unit(conn: Connection) -> None:
            for i in range(5):
                threads.append_message_sync(conn, chat_id=chat_id, role="user", content=f"u{k}.{i}")
            after_commit(conn, lambda: hooks.append(k))

        await db.write_unit(unit)

    async def by_write(k: int) -> None:
        async with db.write() as conn:
            for i in range(5):
                await threads.append_message(
                    conn, chat_id=chat_id, role="user", content=f"w{k}.{i}"
                )

    await asyncio.gather(*(by_unit(k) for k in range(20)), *(by_write(k) for k in range(20)))
    async with db.read() as conn:
        msgs = await threads.all_messages(conn, chat_id=chat_id)
        evs = await read_events(conn, chat_id=chat_id, after=0, limit=1000)
        last = await last_event_id(conn, chat_id=chat_id)
    assert [m.seq for m in msgs] == list(range(1, 201))
    assert [e.id for e in evs] == list(range(1, 201)) and last == 200
    # Each event carries its own message, in the same order: seqs follow commit order.
    assert [e.data["id"] for e in evs] == [m.id for m in msgs]
    # Within a transaction the five messages stay together and in order.
    for lo in range(0, 200, 5):
        group = [m.content for m in msgs[lo : lo + 5]]
        prefix = group[0].split(".")[0]
        assert group == [f"{prefix}.{i}" for i in range(5)]
    assert sorted(hooks) == list(range(20))


async def test_the_unit_returns_what_it_wrote_as_a_reader_sees_it(db: Database) -> None:
    chat_id = await _chat(db)
    msg = await db.write_unit(
        lambda c: threads.append_message_sync(
            c, chat_id=chat_id, role="assistant", content="héllo 🦜 '; DROP TABLE messages;--",
            meta={"k": [1, "two"]},
        )
    )  # fmt: skip
    async with db.read() as conn:
        (stored,) = await threads.all_messages(conn, chat_id=chat_id)
        (event,) = await read_events(conn, chat_id=chat_id, after=0)
    assert stored == msg
    assert event.type == "message" and event.data == msg.model_dump()


_CHILD = """
import asyncio, sys
from piloto.store.db import Database
from piloto.threads import repo

async def main(url, chat_id):
    db = Database(url)
    await db.write_unit(lambda c: [repo.append_message_sync(
        c, chat_id=chat_id, role="user", content=f"kept {i}") for i in range(3)])

    def doomed(conn):
        for i in range(50):
            repo.append_message_sync(conn, chat_id=chat_id, role="user", content=f"lost {i}")
        print("written", flush=True)
        sys.stdin.readline()  # killed here, with the transaction open

    await db.write_unit(doomed)

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_kill_9_mid_unit_leaves_nothing_half_written(db: Database, database_url: str) -> None:
    chat_id = await _chat(db)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _CHILD, database_url, chat_id,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert child.stdout is not None
    try:
        line = await asyncio.wait_for(child.stdout.readline(), 60)
        assert line == b"written\n", line
    finally:
        child.kill()
        await child.wait()
    assert await counts(db, chat_id) == (3, 3)
    # The next writer takes over at once: the dead transaction's lock is gone with it.
    msg = await db.write_unit(
        lambda c: threads.append_message_sync(c, chat_id=chat_id, role="user", content="after")
    )
    assert msg.seq == 4
    async with db.read() as conn:
        assert [e.id for e in await read_events(conn, chat_id=chat_id, after=0)] == [1, 2, 3, 4]


async def test_a_read_unit_pages_exactly_what_the_async_path_reads(db: Database) -> None:
    chat_id = await _chat(db)
    await db.write_unit(
        lambda c: [
            threads.append_message_sync(
                c, chat_id=chat_id, role="user", content=f"m{i}", meta={"i": i}
            )
            for i in range(250)
        ]
    )
    async with db.read() as conn:
        slow = await threads.list_messages(conn, chat_id=chat_id, after=3, limit=10_000)
    fast = await db.read_unit(
        lambda c: threads.list_messages_sync(c, chat_id=chat_id, after=3, limit=10_000)
    )
    assert fast == slow and len(fast) == 200 and fast[0].seq == 4 and fast[0].meta == {"i": 3}
    with pytest.raises(NotFound):
        await db.read_unit(lambda c: threads.list_messages_sync(c, chat_id="nope"))


async def test_a_read_unit_never_sees_an_open_write(db: Database) -> None:
    """A reader snapshot during a unit that is still writing sees none of it."""
    if db.dialect == "postgresql":
        pytest.skip("on PostgreSQL a unit runs on the event loop (run_sync): nothing to block")
    chat_id = await _chat(db)
    seen: list[int] = []

    def unit(conn: Connection) -> None:
        threads.append_message_sync(conn, chat_id=chat_id, role="user", content="pending")
        # Run a reader from the writer thread while this transaction is open.
        future = asyncio.run_coroutine_threadsafe(
            db.read_unit(lambda c: len(threads.list_messages_sync(c, chat_id=chat_id))), loop
        )
        seen.append(future.result(60))

    loop = asyncio.get_running_loop()
    await db.write_unit(unit)
    assert seen == [0]
    assert len(await db.read_unit(lambda c: threads.list_messages_sync(c, chat_id=chat_id))) == 1
