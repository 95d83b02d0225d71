"""The database handle: an async engine, one writer on SQLite, migrations at start."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Connection as SyncConnection
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from piloto.events.bus import EventBus
from piloto.settings import async_url
from piloto.store.eventlog import assign_seqs, assign_seqs_sync, defer_seqs, forget_seqs
from piloto.store.unit import PgUnits, Readers, SqliteWriter, pipelined

log = logging.getLogger("piloto.store")

Dialect = Literal["sqlite", "postgresql"]

_AFTER_COMMIT = "piloto_after_commit"
T = TypeVar("T")


def after_commit(conn: AsyncConnection | SyncConnection, fn: Callable[[], None]) -> None:
    """Call ``fn`` once this ``Database.write()`` transaction has committed (never if it fails)."""
    callbacks: list[Callable[[], None]] = conn.info.setdefault(_AFTER_COMMIT, [])
    callbacks.append(fn)


class Database:
    """One engine per process; ``write()`` serialises writers on SQLite (one writer, WAL)."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        aurl = async_url(url)
        self.dialect: Dialect = "sqlite" if aurl.startswith("sqlite") else "postgresql"
        kwargs: dict[str, Any] = {"echo": echo}
        if self.dialect == "postgresql":
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        else:
            # aiosqlite runs each connection in a thread; a handful is plenty for WAL readers.
            kwargs.update(pool_size=8, max_overflow=8)
        self.engine: AsyncEngine = create_async_engine(aurl, **kwargs)
        self._write_lock = asyncio.Lock()
        self.bus = EventBus()
        self._writer: SqliteWriter | None = None
        self._readers: Readers | None = None
        self._pg_units: PgUnits | None = None
        self._gates: dict[str, tuple[asyncio.Lock, int]] = {}
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine.sync_engine)
            self._writer = SqliteWriter(_sync_url(aurl), _configure_sqlite)
            # A connection is used by one thread at a time, not always the one that opened it.
            self._readers = Readers(
                _sync_url(aurl), _configure_sqlite, connect_args={"check_same_thread": False}
            )
        else:
            # The same driver, its sync side: psycopg serves both.
            self._pg_units = PgUnits(aurl)
            # Two: snapshot reads are short (SSE fan-out shares one per chat and cursor).
            self._readers = Readers(aurl, size=2, pool_pre_ping=True)

    async def read_unit(self, fn: Callable[[SyncConnection], T]) -> T:
        """Run sync ``fn`` in a read-only snapshot: one hop to a reader thread."""
        assert self._readers is not None
        return await self._readers.call(fn)

    async def write_unit(self, fn: Callable[[SyncConnection], T]) -> T:
        """Run ``fn`` as one write transaction, committed if it returns; its result.

        ``fn`` is sync code on a sync connection: the whole transaction is one hop to the
        writer thread (SQLite) or a unit thread (PostgreSQL, pipelined) instead of one per
        statement. Events, ``after_commit`` hooks and SSE wake-ups behave as in ``write()``.
        """
        if self._pg_units is not None:
            result, chats, callbacks = await self._pg_units.call(lambda c: _unit(c, fn))
        else:
            assert self._writer is not None
            async with self._write_lock:  # shared with write(): one writer at a time, FIFO
                result, chats, callbacks = await self._writer.call(lambda c: _unit(c, fn))
        self.bus.publish(chats)
        for hook in callbacks:
            hook()
        return result

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A read-write transaction, committed when the block exits without error."""
        if self.dialect == "sqlite":
            async with self._write_lock, self.engine.connect() as conn:
                conn = await conn.execution_options(piloto_begin="IMMEDIATE")
                async with self._transaction(conn) as tx:
                    yield tx
        else:
            async with self.engine.connect() as conn, self._transaction(conn) as tx:
                yield tx

    @asynccontextmanager
    async def _transaction(self, conn: AsyncConnection) -> AsyncIterator[AsyncConnection]:
        conn.info.pop("piloto_notify", None)
        conn.info.pop(_AFTER_COMMIT, None)  # info outlives a checkout: never inherit stale ones
        defer_seqs(conn)
        try:
            async with conn.begin():
                yield conn
                # Last, so the chats' event counters are held only for the commit.
                await assign_seqs(conn)
        finally:
            forget_seqs(conn)
            chats: set[str] = conn.info.pop("piloto_notify", set())
            callbacks: list[Callable[[], None]] = conn.info.pop(_AFTER_COMMIT, [])
        # Reached only after a successful commit: announce what is now durable.
        self.bus.publish(chats)
        for fn in callbacks:
            fn()

    @asynccontextmanager
    async def gate(self, key: str) -> AsyncIterator[None]:
        """In this process, one holder of ``key`` at a time (a queue per key, not per writer).

        Decisions on one record (200 confirms of one draft) wait here, not in the writer's
        queue: each then reads a snapshot, and only one that can still win asks to write.
        """
        lock, users = self._gates.get(key) or (asyncio.Lock(), 0)
        self._gates[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._gates[key]
            if users == 1:
                del self._gates[key]
            else:
                self._gates[key] = (lock, users - 1)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only snapshot (a transaction that is rolled back)."""
        async with self.engine.connect() as conn, conn.begin():
            yield conn

    async def dispose(self) -> None:
        """Close every pooled connection and the writer thread's."""
        if self._writer is not None:
            await self._writer.close()
        if self._readers is not None:
            await self._readers.close()
        if self._pg_units is not None:
            await self._pg_units.close()
        await self.engine.dispose()


def _unit(
    conn: SyncConnection, fn: Callable[[SyncConnection], T]
) -> tuple[T, set[str], list[Callable[[], None]]]:
    """On the writer thread: one transaction around ``fn``; what to announce after commit."""
    conn.info.pop("piloto_notify", None)
    conn.info.pop(_AFTER_COMMIT, None)
    defer_seqs(conn)
    try:
        # Pipelined on PostgreSQL: a statement's error surfaces by the pipeline's end, before
        # the commit, and rolls the whole unit back.
        with conn.begin(), pipelined(conn):
            result = fn(conn)
            assign_seqs_sync(conn)
    finally:
        forget_seqs(conn)
        chats: set[str] = conn.info.pop("piloto_notify", set())
        callbacks: list[Callable[[], None]] = conn.info.pop(_AFTER_COMMIT, [])
    return result, chats, callbacks


def _sync_url(aurl: str) -> str:
    return "sqlite:///" + aurl[len("sqlite+aiosqlite:///") :]


def _configure_sqlite(sync_engine: Engine) -> None:

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite so BEGIN is ours (see "begin" below).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: SyncConnection) -> None:
        mode = conn.get_execution_options().get("piloto_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def null_pool_engine(url: str) -> AsyncEngine:
    """An engine without pooling, for one-shot CLI commands."""
    return create_async_engine(async_url(url), poolclass=NullPool)
