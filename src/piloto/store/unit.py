"""Units of work: a whole write transaction run as sync code in one hop.

On SQLite each ``await`` of aiosqlite is a hop to its thread and back (~100 µs); a unit of
work instead runs on one dedicated writer thread with its own connection, so a transaction of
many statements costs one hop (datasette's write thread does the same). On PostgreSQL the
same sync function runs through ``AsyncConnection.run_sync`` on a pooled connection.

Hot statements are plain SQL strings written once with ``:name`` parameters: on SQLite they go
straight to the driver, whose statement cache compiles each once; elsewhere through ``text()``.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import TextClause, create_engine, text
from sqlalchemy.engine import Connection, Engine

T = TypeVar("T")
Params = dict[str, Any]
_RAW = "piloto_raw_sqlite"  # conn.info: the sqlite3 connection under this one


@lru_cache(maxsize=256)
def _text(sql: str) -> TextClause:
    return text(sql)


def _sqlite(conn: Connection) -> sqlite3.Connection | None:
    """The driver's connection when it is sqlite3 (cached: SQLAlchemy's lookup is slow)."""
    raw = conn.info.get(_RAW, False)
    if raw is False:
        raw = conn.connection.driver_connection if conn.dialect.name == "sqlite" else None
        conn.info[_RAW] = raw
    return raw  # type: ignore[no-any-return]


def run(conn: Connection, sql: str, params: Params) -> None:
    """Execute one statement in the unit's transaction."""
    raw = _sqlite(conn)
    if raw is not None:
        raw.execute(sql, params)
    else:
        conn.execute(_text(sql), params)


def one(conn: Connection, sql: str, params: Params) -> tuple[Any, ...] | None:
    """Execute one statement and return its first row (or None)."""
    raw = _sqlite(conn)
    if raw is not None:
        row = raw.execute(sql, params).fetchone()
        return tuple(row) if row is not None else None
    first = conn.execute(_text(sql), params).first()
    return tuple(first) if first is not None else None


def fetch_all(conn: Connection, sql: str, params: Params) -> list[tuple[Any, ...]]:
    """Execute one query and return every row."""
    raw = _sqlite(conn)
    if raw is not None:
        return raw.execute(sql, params).fetchall()
    return [tuple(r) for r in conn.execute(_text(sql), params)]


class SqliteWriter:
    """One connection on one thread; every unit of work runs there, one after another."""

    def __init__(self, url: str, configure: Callable[[Engine], None]) -> None:
        # One connection is ever opened, on the writer thread, and kept for the process.
        self._engine = create_engine(url, pool_size=1, max_overflow=0)
        configure(self._engine)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="piloto-writer")
        self._conn: Connection | None = None

    def _connection(self) -> Connection:
        if self._conn is None or self._conn.closed:
            self._conn = self._engine.connect().execution_options(piloto_begin="IMMEDIATE")
        return self._conn

    async def call(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` with the writer's connection on the writer thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, lambda: fn(self._connection()))

    async def close(self) -> None:
        """Close the connection on its own thread, then stop the thread."""

        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._engine.dispose()

        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, _close)
        self._thread.shutdown(wait=False)


class SqliteReaders:
    """A few reader threads over a pool of connections: a whole read snapshot per hop (WAL)."""

    def __init__(self, url: str, configure: Callable[[Engine], None], size: int = 4) -> None:
        # A connection is used by one thread at a time, but not always the one that opened it.
        self._engine = create_engine(
            url, pool_size=size, max_overflow=0, connect_args={"check_same_thread": False}
        )
        configure(self._engine)
        self._threads = ThreadPoolExecutor(max_workers=size, thread_name_prefix="piloto-reader")

    def _snapshot(self, fn: Callable[[Connection], T]) -> T:
        with self._engine.connect() as conn, conn.begin() as tx:
            try:
                return fn(conn)
            finally:
                tx.rollback()

    async def call(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in a read transaction on a reader thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, self._snapshot, fn)

    async def close(self) -> None:
        """Stop the threads and close the pooled connections."""
        await asyncio.to_thread(self._threads.shutdown, True)
        await asyncio.to_thread(self._engine.dispose)
