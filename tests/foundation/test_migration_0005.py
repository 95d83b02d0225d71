"""Upgrading to 0005 keeps a live chat's event stream continuous: old ids become seqs."""

from __future__ import annotations

import asyncio

from alembic import command
from sqlalchemy import create_engine, text

from piloto.settings import sync_url
from piloto.store import migrate
from piloto.store.db import Database
from piloto.store.eventlog import append_event, read_events


def _at_0004_with_events(url: str) -> None:
    command.upgrade(migrate.alembic_config(url), "0004_copilot_loop")
    engine = create_engine(sync_url(url))
    with engine.begin() as conn:
        for chat in ("c1", "c2", "c1", "c1"):
            conn.execute(
                text(
                    "INSERT INTO events (chat_id, type, data_json, created_at) "
                    "VALUES (:c, 't', '{}', 0)"
                ),
                {"c": chat},
            )
    engine.dispose()


async def test_old_event_ids_stay_valid_after_the_upgrade(database_url: str) -> None:
    await asyncio.to_thread(_at_0004_with_events, database_url)
    await asyncio.to_thread(migrate.upgrade, database_url)
    db = await asyncio.to_thread(Database, database_url)
    try:
        async with db.read() as conn:
            before = [e.id for e in await read_events(conn, chat_id="c1", after=0)]
        async with db.write() as conn:
            await append_event(conn, chat_id="c1", type="t", data={"new": True})
        async with db.read() as conn:
            # A browser that saw the old id 3 resumes with exactly the new event.
            resumed = await read_events(conn, chat_id="c1", after=before[-1])
    finally:
        await db.dispose()
    assert before == [1, 3, 4]
    assert [e.data for e in resumed] == [{"new": True}] and resumed[0].id == 5
