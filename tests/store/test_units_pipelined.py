"""Units of work whose statements do not wait for each other (PostgreSQL's pipeline mode): an
error in any statement, even one nobody reads, rolls the whole unit back; the same on SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Connection
from tests.support.store import counts, migrated_db, new_chat

from piloto.store import unit
from piloto.store.db import Database, after_commit
from piloto.store.schema import chats, messages
from piloto.threads import repo as threads


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    async with migrated_db(database_url) as database:
        yield database


async def _chat(db: Database) -> str:
    return await new_chat(db, "pipelined")


_DUPLICATE_CHAT = (
    "INSERT INTO chats (id, project_id, title, created_at, updated_at) "
    "SELECT id, project_id, title, created_at, updated_at FROM chats WHERE id = :id"
)


async def test_a_failing_statement_nobody_reads_rolls_the_whole_unit_back(db: Database) -> None:
    chat_id = await _chat(db)
    woken = db.bus.subscribe(chat_id)
    hooks: list[str] = []

    def unit_of_work(conn: Connection) -> str:
        for i in range(10):
            threads.append_message_sync(conn, chat_id=chat_id, role="user", content=f"m{i}")
        # A primary-key violation sent without waiting for its answer, then more writes.
        unit.run(conn, _DUPLICATE_CHAT, {"id": chat_id})
        threads.append_message_sync(conn, chat_id=chat_id, role="user", content="after")
        after_commit(conn, lambda: hooks.append("committed"))
        return "returned"

    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        await db.write_unit(unit_of_work)
    assert await counts(db, chat_id) == (0, 0)
    assert hooks == [] and not woken.is_set()
    # The connection goes back to the pool usable, and numbering has no hole.
    msg = await db.write_unit(
        lambda c: threads.append_message_sync(c, chat_id=chat_id, role="user", content="ok")
    )
    assert msg.seq == 1 and await counts(db, chat_id) == (1, 1) and woken.is_set()


async def test_statements_keep_their_order_and_parameters_survive_the_driver(
    db: Database,
) -> None:
    """Reads after pipelined writes see them; a ``%`` or ``::`` in SQL is not a parameter."""
    chat_id = await _chat(db)
    title = "100% 'quoted' :not_a_param ; DROP TABLE chats;--"

    def unit_of_work(conn: Connection) -> tuple[object, ...] | None:
        unit.run(conn, "UPDATE chats SET title = :t WHERE id = :id", {"t": title, "id": chat_id})
        return unit.one(
            conn,
            "SELECT title, CAST(:n AS INTEGER) + 1, '50%' FROM chats WHERE id = :id",
            {"n": 41, "id": chat_id},
        )

    assert await db.write_unit(unit_of_work) == (title, 42, "50%")
    async with db.read() as conn:
        assert await conn.scalar(select(chats.c.title).where(chats.c.id == chat_id)) == title


async def test_many_units_at_once_each_commit_whole(db: Database) -> None:
    """More concurrent units than unit threads: each lands whole, the chat's seqs unbroken."""
    chat_id = await _chat(db)

    def five(k: int) -> object:
        return lambda conn: [
            threads.append_message_sync(conn, chat_id=chat_id, role="user", content=f"{k}.{i}")
            for i in range(5)
        ]

    await asyncio.gather(*(db.write_unit(five(k)) for k in range(24)))  # type: ignore[arg-type]
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(messages.c.seq, messages.c.content)
                .where(messages.c.chat_id == chat_id)
                .order_by(messages.c.seq)
            )
        ).all()
    assert [r.seq for r in rows] == list(range(1, 121))
    for lo in range(0, 120, 5):
        prefix = rows[lo].content.split(".")[0]
        assert [r.content for r in rows[lo : lo + 5]] == [f"{prefix}.{i}" for i in range(5)]
