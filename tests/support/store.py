"""A migrated ``Database`` on the test's backend, a chat in it, and what it holds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import func, select

from piloto.projects import repo as projects
from piloto.store import migrate
from piloto.store.db import Database
from piloto.store.schema import events, messages
from piloto.threads import repo as threads


@asynccontextmanager
async def migrated_db(database_url: str) -> AsyncIterator[Database]:
    """The store alone (no app): migrated, disposed at the end."""
    await asyncio.to_thread(migrate.upgrade, database_url)
    database = await asyncio.to_thread(Database, database_url)
    try:
        yield database
    finally:
        await database.dispose()


async def new_chat(db: Database, project: str = "units") -> str:
    """A chat in a new project; its id."""
    async with db.write() as conn:
        p = await projects.create_project(conn, name=project)
        return (await threads.create_chat(conn, project_id=p.id, title="c")).id


async def counts(db: Database, chat_id: str) -> tuple[int, int]:
    """How many messages and events the chat holds."""
    async with db.read() as conn:
        m = await conn.scalar(select(func.count()).where(messages.c.chat_id == chat_id))
        e = await conn.scalar(select(func.count()).where(events.c.chat_id == chat_id))
    return int(m or 0), int(e or 0)
